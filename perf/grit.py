"""CPU cost of vidbench's GRiT-B per frame, by stage, with seeded random weights.

    OMP_NUM_THREADS=1 .venv/bin/python perf/grit.py --repeats 3 --size 320x512

Stages, each the median over ``--repeats`` frames (random textured frames, one per repeat):
preprocess + ViT-B pyramid, CenterNet proposals, the 3-stage cascade (boxes kept), and the
whole ``Grit(frame, task)`` for ObjectDet and DenseCap (captioning included; with
``--stand-in-decoder``, or when ``grit_text`` is not in this build, the caption decoder is a
one-layer stand-in, so those two rows then time everything but GRiT's real decoder). The
model build is not timed. Anchor: the backbone stage (the part every GRiT frame pays).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch import nn


class StandIn(nn.Module):
    """One linear layer, three tokens: the cost of captioning removed."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(256, 64)

    def forward(self, feats: torch.Tensor, task: str) -> tuple[torch.Tensor, torch.Tensor]:
        begin = {"ObjectDet": 101, "DenseCap": 104}[task]
        lp, i = torch.log_softmax(self.proj(feats.mean(1)), -1).max(-1)
        ids = torch.stack([torch.full_like(i, begin), i + 1000, torch.full_like(i, 102)], 1)
        return ids, lp

    def decode(self, ids: torch.Tensor) -> list[str]:
        return [f"w{int(r[1]) - 1000}" for r in ids]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", default="320x512")
    ap.add_argument("--stand-in-decoder", action="store_true")
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.split("x"))

    from vidbench.metrics.backbones.grit import build_grit, load_grit_model
    from vidbench.metrics.backbones.grit_roi import OBJECT_POOL, pool

    decoder = "stand-in"
    if args.stand_in_decoder:
        model = build_grit("B", StandIn(), 0)
    else:
        try:
            model = load_grit_model(random_weights=True)
            decoder = "grit_text (random weights)"
        except ImportError:
            model = build_grit("B", StandIn(), 0)
    rng = np.random.default_rng(0)
    rows: dict[str, list[float]] = {}
    n_boxes = []

    def timed(name: str, fn):
        t = time.perf_counter()
        out = fn()
        rows.setdefault(name, []).append(time.perf_counter() - t)
        return out

    with torch.no_grad():
        for _ in range(args.repeats):
            base = rng.integers(0, 256, (h // 16 + 1, w // 16 + 1, 3)).astype(np.uint8)
            frame = np.ascontiguousarray(np.kron(base, np.ones((16, 16, 1), np.uint8))[:h, :w])
            feats = timed("preprocess + ViT-B + pyramid",
                          lambda: model.backbone(model.preprocess(frame)))  # noqa: B023
            props = timed("CenterNet proposals",
                          lambda: model.proposal_generator(feats))  # noqa: B023
            boxes, _ = timed("cascade (3 box stages)",
                             lambda: model.roi_heads(feats, *props, (h, w)))  # noqa: B023
            timed("14x14 caption features", lambda: pool(feats, boxes, OBJECT_POOL))  # noqa: B023
            n_boxes.append(len(boxes))
            timed("whole frame, ObjectDet", lambda: model(frame, "ObjectDet"))  # noqa: B023
            timed("whole frame, DenseCap", lambda: model(frame, "DenseCap"))  # noqa: B023
    anchor = statistics.median(rows["preprocess + ViT-B + pyramid"])
    print(f"GRiT-B, {h}x{w} frame, random weights, caption decoder: {decoder}; "
          f"boxes kept per frame: {n_boxes}")
    print("| stage | s per frame (median) | x backbone |\n|---|---:|---:|")
    for name, ts in rows.items():
        med = statistics.median(ts)
        print(f"| {name} | {med:.3f} | {med / anchor:.2f} |")


if __name__ == "__main__":
    main()
