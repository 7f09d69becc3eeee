"""I3D (Inception-v1 inflated to 3-D, Kinetics-400) returning the 400-d logits FVD uses.

Architecture as in Carreira & Zisserman, "Quo Vadis, Action Recognition?" (CVPR 2017) and
DeepMind's ``kinetics-i3d`` (Sonnet): TensorFlow "SAME" padding computed from the input
size, BatchNorm (eps 1e-3) without scale learning in Sonnet's sense (but stored as affine
weight/bias here), ReLU, Inception modules ``Mixed_3b`` ... ``Mixed_5c``, then a (2, 7, 7)
average pool (stride 1, VALID), a 1x1x1 logits convolution with bias, and the mean over the
remaining positions (DeepMind averages the logits over time). For the FVD input (16 frames
of 224x224) this is exactly the global average; smaller test inputs pool what is there.

Two official weight sources load into this module or run directly:

- ``i3d-torchscript``: StyleGAN-V's ``i3d_torchscript.pt`` (a TorchScript port of the TF-Hub
  FVD module, verified against it by universome/fvd-comparison), loaded with
  ``torch.jit.load`` and called as ``model(x, rescale=False, resize=False,
  return_features=True)`` on (B, 3, T, 224, 224) float input in [-1, 1];
- ``i3d-kinetics400-deepmind``: DeepMind's kinetics-i3d RGB weights converted to a PyTorch
  state dict in the pytorch-i3d layout (``Conv3d_1a_7x7.conv3d.weight``,
  ``Mixed_3b.b1b.bn.running_mean``, ``logits.conv3d.bias``, ...), as shipped by
  VideoGPT/TATS/cd-fvd as ``i3d_pretrained_400.pt``; loaded into :class:`InceptionI3d`
  with ``torch.load(weights_only=True)``.

:func:`export_torchscript` writes this module as TorchScript with StyleGAN-V's call signature
(used by the tests to check that both loading paths agree on the same weights).

Input protocol: uint8 (B, T, H, W, 3) frames, already resized to 224x224 by the metric's
view; scaled here to [-1, 1] as ``2 x / 255 - 1``.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidbench.errors import UserError

NUM_CLASSES = 400
BN_EPS = 1e-3  # Sonnet's BatchNorm default, as in DeepMind's kinetics-i3d


def _same_pad(size: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (before, after) for one axis."""
    if size % s == 0:
        p = max(k - s, 0)
    else:
        p = max(k - size % s, 0)
    return p // 2, p - p // 2


class Unit3D(nn.Module):
    """Conv3d (SAME padding, no bias unless ``use_bias``) -> BatchNorm -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int, int] = (1, 1, 1),
                 stride: tuple[int, int, int] = (1, 1, 1), use_bn: bool = True,
                 use_bias: bool = False, relu: bool = True, bn_eps: float = BN_EPS) -> None:
        super().__init__()
        self.kernel = (int(kernel[0]), int(kernel[1]), int(kernel[2]))
        self.stride = (int(stride[0]), int(stride[1]), int(stride[2]))
        self.relu = relu
        self.conv3d = nn.Conv3d(cin, cout, self.kernel, self.stride, padding=0, bias=use_bias)
        self.bn = nn.BatchNorm3d(cout, eps=bn_eps, momentum=0.01) if use_bn else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pt = _same_pad(x.shape[2], self.kernel[0], self.stride[0])
        ph = _same_pad(x.shape[3], self.kernel[1], self.stride[1])
        pw = _same_pad(x.shape[4], self.kernel[2], self.stride[2])
        x = F.pad(x, [pw[0], pw[1], ph[0], ph[1], pt[0], pt[1]])
        x = self.conv3d(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.relu:
            x = F.relu(x)
        return x


class MaxPool3dSame(nn.Module):
    """Max pool with TF 'SAME' padding. Inputs here are post-ReLU (>= 0), so zero padding
    gives the same maxima as TF's -inf padding."""

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> None:
        super().__init__()
        self.kernel = (int(kernel[0]), int(kernel[1]), int(kernel[2]))
        self.stride = (int(stride[0]), int(stride[1]), int(stride[2]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pt = _same_pad(x.shape[2], self.kernel[0], self.stride[0])
        ph = _same_pad(x.shape[3], self.kernel[1], self.stride[1])
        pw = _same_pad(x.shape[4], self.kernel[2], self.stride[2])
        x = F.pad(x, [pw[0], pw[1], ph[0], ph[1], pt[0], pt[1]])
        return F.max_pool3d(x, self.kernel, self.stride)


class InceptionModule(nn.Module):
    """Four branches: 1x1; 1x1 -> 3x3; 1x1 -> 3x3; 3x3 max pool -> 1x1; concatenated."""

    def __init__(self, cin: int, c: list[int], bn_eps: float = BN_EPS) -> None:
        super().__init__()
        self.b0 = Unit3D(cin, c[0], bn_eps=bn_eps)
        self.b1a = Unit3D(cin, c[1], bn_eps=bn_eps)
        self.b1b = Unit3D(c[1], c[2], (3, 3, 3), bn_eps=bn_eps)
        self.b2a = Unit3D(cin, c[3], bn_eps=bn_eps)
        self.b2b = Unit3D(c[3], c[4], (3, 3, 3), bn_eps=bn_eps)
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(cin, c[5], bn_eps=bn_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)),
                          self.b3b(self.b3a(x))], dim=1)


class InceptionI3d(nn.Module):
    """I3D up to the Kinetics-400 logits. ``forward(x)``: (B, 3, T, H, W) float in [-1, 1]
    -> (B, num_classes) logits averaged over the remaining positions."""

    def __init__(self, num_classes: int = NUM_CLASSES, in_channels: int = 3,
                 bn_eps: float = BN_EPS) -> None:
        super().__init__()
        e = bn_eps
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2), bn_eps=e)
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64, bn_eps=e)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3), bn_eps=e)
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Mixed_3b = InceptionModule(192, [64, 96, 128, 16, 32, 32], e)
        self.Mixed_3c = InceptionModule(256, [128, 128, 192, 32, 96, 64], e)
        self.MaxPool3d_4a_3x3 = MaxPool3dSame((3, 3, 3), (2, 2, 2))
        self.Mixed_4b = InceptionModule(480, [192, 96, 208, 16, 48, 64], e)
        self.Mixed_4c = InceptionModule(512, [160, 112, 224, 24, 64, 64], e)
        self.Mixed_4d = InceptionModule(512, [128, 128, 256, 24, 64, 64], e)
        self.Mixed_4e = InceptionModule(512, [112, 144, 288, 32, 64, 64], e)
        self.Mixed_4f = InceptionModule(528, [256, 160, 320, 32, 128, 128], e)
        self.MaxPool3d_5a_2x2 = MaxPool3dSame((2, 2, 2), (2, 2, 2))
        self.Mixed_5b = InceptionModule(832, [256, 160, 320, 32, 128, 128], e)
        self.Mixed_5c = InceptionModule(832, [384, 192, 384, 48, 128, 128], e)
        self.logits = Unit3D(1024, num_classes, use_bn=False, use_bias=True, relu=False)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        x = self.MaxPool3d_2a_3x3(self.Conv3d_1a_7x7(x))
        x = self.MaxPool3d_3a_3x3(self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x)))
        x = self.MaxPool3d_4a_3x3(self.Mixed_3c(self.Mixed_3b(x)))
        x = self.Mixed_4f(self.Mixed_4e(self.Mixed_4d(self.Mixed_4c(self.Mixed_4b(x)))))
        x = self.MaxPool3d_5a_2x2(x)
        return self.Mixed_5c(self.Mixed_5b(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.trunk(x)
        k = [min(2, x.shape[2]), min(7, x.shape[3]), min(7, x.shape[4])]
        x = F.avg_pool3d(x, k, [1, 1, 1])
        x = self.logits(x)
        return x.mean(dim=[2, 3, 4])


class StyleGANVSignature(nn.Module):
    """Wraps :class:`InceptionI3d` with StyleGAN-V's TorchScript call signature
    ``forward(x, rescale, resize, return_features)``: ``rescale`` maps [0, 255] to [-1, 1],
    ``resize`` resizes each frame to 224x224 (bilinear), ``return_features`` returns the
    logits (else softmax probabilities)."""

    def __init__(self, model: InceptionI3d) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = False) -> torch.Tensor:
        if rescale:
            x = x * (2.0 / 255.0) - 1.0
        if resize:
            b, c, t, h, w = x.shape
            f = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
            f = F.interpolate(f, size=[224, 224], mode="bilinear", align_corners=False)
            x = f.reshape(b, t, c, 224, 224).permute(0, 2, 1, 3, 4)
        logits = self.model(x)
        if return_features:
            return logits
        return F.softmax(logits, dim=1)


def export_torchscript(model: InceptionI3d, path: str | os.PathLike) -> Path:
    """Script ``model`` with StyleGAN-V's signature and save it to ``path``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.script(StyleGANVSignature(model.eval()))
    p = Path(path)
    scripted.save(str(p))
    return p


# ----------------------------------------------------------------------------- weights


def random_init(model: nn.Module, seed: int = 0) -> nn.Module:
    """Deterministic random weights (He-normal convs, unit BatchNorm) from ``seed``, so
    activations keep their scale through the depth. Results are not comparable."""
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv3d):
                fan_in = m.in_channels * int(np.prod(m.kernel_size))
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm3d):
                m.weight.fill_(1.0)
                m.bias.zero_()
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
    return model


def is_torchscript_file(p: str | os.PathLike) -> bool:
    """True for a TorchScript archive (a zip with ``code/`` and ``constants.pkl``)."""
    try:
        with zipfile.ZipFile(p) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names)


def convert_state_dict(sd: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Normalise a pytorch-i3d-layout state dict: strip ``module.``/``i3d.`` prefixes and
    drop ``num_batches_tracked`` counters."""
    out = {}
    for k, v in sd.items():
        for pre in ("module.", "i3d.", "model."):
            if k.startswith(pre):
                k = k[len(pre):]
        if k.endswith("num_batches_tracked"):
            continue
        out[k] = v
    return out


def load_native(path: str | os.PathLike, bn_eps: float = BN_EPS) -> InceptionI3d:
    """:class:`InceptionI3d` with the converted DeepMind weights at ``path``; every
    parameter and buffer must be present with the right shape."""
    from vidbench.weights import load_state_dict, state_dict_mismatch

    sd = convert_state_dict(load_state_dict(path))
    model = InceptionI3d(bn_eps=bn_eps)
    own = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    problem = state_dict_mismatch(own, sd)
    if problem:
        raise UserError(f"{path}: not an I3D Kinetics-400 state dict in the pytorch-i3d "
                        f"layout ({problem})")
    model.load_state_dict(sd, strict=False)
    return model.eval()


class I3DExtractor:
    """Callable: uint8 frames (B, T, H, W, 3) -> (B, 400) float64 logits.

    ``model`` is a native :class:`InceptionI3d` or a TorchScript module with StyleGAN-V's
    signature; ``scale`` "[-1,1]" (FVD) or "[0,1]"; ``source`` names the weights."""

    def __init__(self, model: Any, *, torchscript: bool, device: str = "cpu",
                 scale: str = "[-1,1]", source: str = "") -> None:
        self.model = model.eval().to(device)
        self.torchscript = torchscript
        self.device = device
        self.scale = scale
        self.source = source

    def preprocess(self, frames: np.ndarray) -> torch.Tensor:
        if frames.dtype != np.uint8 or frames.ndim != 5 or frames.shape[-1] != 3:
            raise ValueError(f"I3D input must be uint8 (B, T, H, W, 3), got {frames.shape} "
                             f"{frames.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)
        x = x.permute(0, 4, 1, 2, 3).float()
        return x * (2.0 / 255.0) - 1.0 if self.scale == "[-1,1]" else x / 255.0

    @torch.no_grad()
    def __call__(self, frames: np.ndarray) -> np.ndarray:
        x = self.preprocess(frames)
        if self.torchscript:
            # the profiling executor's first calls re-optimise the graph (seconds on CPU)
            with torch.jit.optimized_execution(False):
                y = self.model(x, rescale=False, resize=False, return_features=True)
        else:
            y = self.model(x)
        return y.double().cpu().numpy()


def load_i3d(path: str | os.PathLike, *, device: str = "cpu", scale: str = "[-1,1]"
             ) -> I3DExtractor:
    """An extractor from a weights file: TorchScript (``torch.jit.load``) when the file is
    a TorchScript archive, else a converted state dict for :class:`InceptionI3d`."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: I3D weights file not found")
    if is_torchscript_file(p):
        try:
            with warnings.catch_warnings():  # TorchScript is deprecated but is the format
                warnings.simplefilter("ignore", FutureWarning)
                model = torch.jit.load(str(p), map_location=device)
        except Exception as e:
            raise UserError(f"{p}: cannot load as TorchScript: {str(e).splitlines()[0][:200]}"
                            ) from None
        return I3DExtractor(model, torchscript=True, device=device, scale=scale, source=str(p))
    return I3DExtractor(load_native(p), torchscript=False, device=device, scale=scale,
                        source=str(p))


def load_i3d_extractor(weights_name: str | None, *, device: str = "cpu",
                       scale: str = "[-1,1]", seed: int = 0) -> I3DExtractor:
    """The extractor for weights ``weights_name`` (resolved and verified through the
    weights manager; never downloads), or a fixed-seed random-init I3D when None."""
    if weights_name is None:
        model = random_init(InceptionI3d(), seed)
        return I3DExtractor(model, torchscript=False, device=device, scale=scale,
                            source=f"random-init(seed={seed})")
    from vidbench.weights import resolve

    return load_i3d(resolve(weights_name), device=device, scale=scale)
