"""RAFT optical flow (Teed & Deng, 2020) through torchvision's ``raft_large``.

Weights: ``raft-things`` in the weights manifest, torchvision's ``Raft_Large_Weights.C_T_V1``
file (``raft_large_C_T_V1-22a6c225.pth``), which torchvision ported from the original
``raft-things.pth`` (FlyingChairs + FlyingThings3D) that VBench's dynamic_degree and static
filter use. Loaded through :func:`vidbench.weights.resolve` (verified, never downloaded
implicitly) with ``load_state_dict(strict=True)``.

Inputs follow VBench / the original RAFT: RGB frames in [0, 255], replicate-padded on both
sides to a multiple of 8 (``InputPadder`` in "sintel" mode), normalised to ``2 x / 255 - 1``
inside, ``iters`` refinement steps (20 in VBench), the final upsampled flow returned.

``random_weights=True`` builds the same architecture from a fixed seed (tests; not
comparable).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vidbench.errors import UserError

WEIGHTS_NAME = "raft-things"
#: torchvision's RAFT needs 1/8-resolution features of at least 16 px for its 4-level pyramid.
MIN_SIZE = 128
_MODELS: dict[tuple[str, bool, int], Any] = {}


def sintel_padding(h: int, w: int, divisor: int = 8) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) padding of RAFT's ``InputPadder`` (mode "sintel")."""
    pad_ht = (((h // divisor) + 1) * divisor - h) % divisor
    pad_wd = (((w // divisor) + 1) * divisor - w) % divisor
    return pad_wd // 2, pad_wd - pad_wd // 2, pad_ht // 2, pad_ht - pad_ht // 2


def build_raft(*, random_weights: bool = False, device: str = "cpu", seed: int = 0):
    """torchvision ``raft_large`` in eval mode, with the raft-things weights or a seeded random
    initialisation. Cached per (device, random_weights, seed)."""
    key = (str(device), bool(random_weights), int(seed))
    if key in _MODELS:
        return _MODELS[key]
    import torch
    from torchvision.models.optical_flow import raft_large

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = raft_large(weights=None, progress=False)
    if not random_weights:
        from vidbench import weights

        path = weights.resolve(WEIGHTS_NAME)
        sd = weights.load_state_dict(path)
        if any(k.startswith("module.") or k.startswith("fnet.") for k in sd):
            raise UserError(
                f"{path}: this is the original RAFT checkpoint layout (raft-things.pth); "
                f"vidbench loads torchvision's port of it, raft_large_C_T_V1-22a6c225.pth "
                f"(`vidbench weights fetch {WEIGHTS_NAME}`)")
        problem = weights.state_dict_mismatch(model.state_dict(), sd)
        if problem:
            raise UserError(f"{path}: does not match torchvision raft_large: {problem}")
        model.load_state_dict(sd, strict=True)
    model = model.eval().to(device)
    _MODELS[key] = model
    return model


class RaftFlow:
    """Flow estimator (see :mod:`vidbench.metrics.flow`) backed by RAFT.

    ``flows(frames, pairs)`` returns (P, H, W, 2) float32 flows; ``padded_flows`` returns them
    on the padded grid (as VBench computes its statistics)."""

    def __init__(self, *, device: str = "cpu", random_weights: bool = False, iters: int = 20,
                 batch_size: int = 4, seed: int = 0) -> None:
        self.device = device
        self.random_weights = random_weights
        self.iters = int(iters)
        self.batch_size = max(1, int(batch_size))
        self.seed = seed
        self.key = f"raft-large-{'random' if random_weights else 'things'}-{self.iters}"

    @property
    def model(self):
        return build_raft(random_weights=self.random_weights, device=self.device,
                          seed=self.seed)

    def padded_flows(self, frames: np.ndarray, pairs: Sequence[tuple[int, int]]
                     ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """Flows on the replicate-padded grid, (P, Hp, Wp, 2), and the padding used."""
        import torch
        import torch.nn.functional as F

        frames = np.asarray(frames)
        h, w = frames.shape[1:3]
        pad = sintel_padding(h, w)
        if h + pad[2] + pad[3] < MIN_SIZE or w + pad[0] + pad[1] < MIN_SIZE:
            raise UserError(f"RAFT needs frames of at least {MIN_SIZE} px a side, got {w}x{h}")
        model = self.model
        out = []
        with torch.inference_mode():
            for s in range(0, len(pairs), self.batch_size):
                chunk = pairs[s:s + self.batch_size]
                a = np.stack([frames[i] for i, _ in chunk])
                b = np.stack([frames[j] for _, j in chunk])
                ta = torch.from_numpy(a).permute(0, 3, 1, 2).float().to(self.device)
                tb = torch.from_numpy(b).permute(0, 3, 1, 2).float().to(self.device)
                ta = F.pad(ta, list(pad), mode="replicate")
                tb = F.pad(tb, list(pad), mode="replicate")
                ta = 2 * (ta / 255.0) - 1.0
                tb = 2 * (tb / 255.0) - 1.0
                flow = model(ta, tb, num_flow_updates=self.iters)[-1]
                out.append(flow.permute(0, 2, 3, 1).float().cpu().numpy())
        hp, wp = h + pad[2] + pad[3], w + pad[0] + pad[1]
        flows = np.concatenate(out) if out else np.zeros((0, hp, wp, 2), np.float32)
        return flows, pad

    def flows(self, frames: np.ndarray, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
        flows, (left, right, top, bottom) = self.padded_flows(frames, pairs)
        hp, wp = flows.shape[1:3]
        return np.ascontiguousarray(flows[:, top:hp - bottom, left:wp - right])
