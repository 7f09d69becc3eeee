"""Reference DiT speed on this machine: training throughput (samples/s), sampling time per
clip, and model FLOP utilisation (MFU) against the measured fp32 matmul peak (the anchor,
measured in the same run with the same thread count).

    OMP_NUM_THREADS=1 .venv/bin/python perf/dit.py --repeats 5 [--config tiny] [--threads 1]
    OMP_NUM_THREADS=1 .venv/bin/python perf/dit.py --config tiny32 --train-only \
        --set 'patch=[1,2,2]'        # training clips/s alone, for a patch-size sweep

Reports medians over ``--repeats`` runs (the machine is shared and noisy):
- ``matmul_gflops``: torch.mm of two 1024x1024 fp32 matrices, 2 n^3 / time.
- ``train_model_sps``: optimiser steps on a fixed batch (model + loss + backward + AdamW),
  samples/s; ``train_e2e_sps``: the same including rendering the physics clips.
- ``sample_s_cfg1`` / ``sample_s_cfg2``: seconds per clip for 25 Euler steps, batch 1, at
  guidance scale 1 (one forward per step) and 2 (a batched pair per step).
- MFU = model FLOP/s / matmul peak, model FLOP/s = 3 x forward FLOPs x samples/s for training
  (forward + backward ~ 3 forwards) and forward FLOPs x forwards/s for sampling.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


def matmul_peak(n: int = 1024, reps: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    t = time.perf_counter()
    for _ in range(reps):
        torch.mm(a, b)
    return 2 * n ** 3 * reps / (time.perf_counter() - t) / 1e9


def main() -> None:
    from vidbench.models.dit.configs import forward_flops
    from vidbench.models.dit.data import PhysicsStream, training_vocab
    from vidbench.models.dit.model import VideoDiT
    from vidbench.models.dit.rectified_flow import flow_loss, sample
    from vidbench.models.dit.train import DistInfo, TrainArgs, make_optimizer, train_step

    p = argparse.ArgumentParser()
    p.add_argument("--config", default="tiny")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=4, help="train steps per timed run")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, as in `vidbench train --set`")
    p.add_argument("--train-only", action="store_true",
                   help="time only the fixed-batch training steps (for patch-size sweeps)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    from vidbench.models.dit.cli import build_config

    cfg = build_config(a.config, a.set)
    if cfg.text_encoder == "tokens" and not cfg.vocab:
        cfg = cfg.replace(vocab=training_vocab(cfg.langs, 20))
    torch.manual_seed(0)
    model = VideoDiT(cfg)
    args = TrainArgs(batch=a.batch, render_size=32)
    opt = make_optimizer(model, args)
    stream = PhysicsStream(num_frames=cfg.num_frames, height=cfg.height, width=cfg.width)
    dinfo = DistInfo()
    dev = torch.device("cpu")
    B = a.batch
    x0, prompts = stream.batch(range(B))
    eps = torch.randn_like(x0)
    t = torch.rand(B)
    cond = torch.full((B,), cfg.cond_frames)
    fwd = forward_flops(cfg)

    def fixed_steps() -> float:
        t0 = time.perf_counter()
        for _ in range(a.steps):
            ctx, mask = model.encode_text(prompts)
            loss = flow_loss(model, x0, ctx, mask, t, eps, cond)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return a.steps * B / (time.perf_counter() - t0)

    def e2e_steps(k: int) -> float:
        t0 = time.perf_counter()
        for s in range(a.steps):
            train_step(model, opt, stream, cfg, args, 1000 * k + s, dinfo, dev)
        return a.steps * B / (time.perf_counter() - t0)

    model.eval()
    cond_frames = x0[:1, :, : cfg.cond_frames]

    def sample_time(scale: float) -> float:
        t0 = time.perf_counter()
        sample(model, prompts[:1], seed=0, steps=25, cfg_scale=scale, cond_frames=cond_frames)
        return time.perf_counter() - t0

    fixed_steps()  # warm-up
    if a.train_only:
        runs = [fixed_steps() for _ in range(a.repeats)]
        print(json.dumps({"config": cfg.name, "patch": list(cfg.patch), "tokens": cfg.num_tokens,
                          "threads": a.threads, "batch": B, "repeats": a.repeats,
                          "forward_gflops_per_sample": fwd / 1e9,
                          "train_model_sps": round(statistics.median(runs), 3),
                          "all_runs": runs}))
        return
    rows = {"matmul_gflops": [], "train_model_sps": [], "train_e2e_sps": [],
            "sample_s_cfg1": [], "sample_s_cfg2": []}
    for k in range(a.repeats):
        rows["matmul_gflops"].append(matmul_peak())
        model.train()
        rows["train_model_sps"].append(fixed_steps())
        rows["train_e2e_sps"].append(e2e_steps(k))
        model.eval()
        rows["sample_s_cfg1"].append(sample_time(1.0))
        rows["sample_s_cfg2"].append(sample_time(2.0))
    med = {k: statistics.median(v) for k, v in rows.items()}
    peak = med["matmul_gflops"]
    out = {
        "config": cfg.name, "threads": a.threads, "batch": B, "repeats": a.repeats,
        "forward_gflops_per_sample": fwd / 1e9, **{k: round(v, 4) for k, v in med.items()},
        "mfu_train_model": 3 * fwd * med["train_model_sps"] / 1e9 / peak,
        "mfu_train_e2e": 3 * fwd * med["train_e2e_sps"] / 1e9 / peak,
        "mfu_sample_cfg1": fwd * 25 / med["sample_s_cfg1"] / 1e9 / peak,
        "all_runs": rows,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
