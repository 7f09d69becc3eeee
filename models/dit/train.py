"""Training loop for the reference DiT: rectified flow on the procedural physics stream,
AdamW, EMA, time-based checkpoints (resumable), a CSV loss log and a loss plot, and
data parallelism under ``torchrun`` (gloo on CPU, NCCL on GPU).

Same numbers on 1 or N processes: sample ``g`` of the run (global index ``step * B + j``)
draws its clip, noise, timestep, text dropout and number of conditioning frames from
generators seeded by ``(seed, g)`` only; each process takes every N-th sample of the global
batch, the loss of a process is ``sum(per-sample losses) / B`` and gradients are summed
across processes, so the update is the one a single process makes on the whole batch (up to
the order of float additions).
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist

from vidbench.fileio import atomic_path
from vidbench.models.dit import checkpoint as ckpt
from vidbench.models.dit.configs import DiTConfig
from vidbench.models.dit.data import PhysicsStream, index_seed
from vidbench.models.dit.model import VideoDiT
from vidbench.models.dit.rectified_flow import (
    EMA,
    flow_loss,
    foreground_weight,
    prior_noise,
    sample_t,
)


@dataclass
class TrainArgs:
    steps: int = 10_000
    batch: int = 8  # global batch
    lr: float = 3e-4
    warmup: int = 100
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    seed: int = 0
    ckpt_every_s: float = 240.0
    log_every: int = 10
    time_budget_s: float | None = None
    render_size: int = 32
    # probabilities of the number of clean conditioning frames: the config's K, none, or
    # uniform in 1..T/2
    p_cond_default: float = 0.7
    p_cond_none: float = 0.1
    # foreground loss weight alpha (see flow.foreground_weight); 0 = plain MSE
    fg_weight: float = 0.0
    # fraction of the run (of the time budget when one is set, else of ``steps``) over which
    # the learning rate decays linearly to 0 at the end; 0 = constant after warm-up
    cooldown: float = 0.0
    # scenario -> how many times it appears in the training mix (default: each once)
    scenario_weights: dict[str, int] | None = None
    # share of clips whose prompt is Chinese (PhysicsStream.zh_frac)
    zh_frac: float = 0.0
    # warm start: a model checkpoint (path or shipped name) whose weights a new run starts
    # from (models/dit/warmstart.py); ignored when resuming a saved state
    init_from: str | None = None
    # keep the EMA weights as OUT/checkpoints/step-N.safetensors every this many steps and
    # call train()'s ``on_keep`` with them (0 = never)
    keep_every: int = 0
    extra: dict = field(default_factory=dict)


class DistInfo:
    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.enabled = self.world > 1

    def init(self, device: torch.device) -> None:
        if self.enabled and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    def all_reduce_(self, t: torch.Tensor, op: str = "sum") -> torch.Tensor:
        if self.enabled:
            dist.all_reduce(t, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
        return t


def sample_randomness(cfg: DiTConfig, args: TrainArgs, g: int
                      ) -> tuple[torch.Tensor, float, bool, int]:
    """Noise, t, text-dropout flag and number of conditioning frames of global sample g."""
    gen = torch.Generator().manual_seed(index_seed(args.seed + 7_777, g))
    eps = prior_noise(cfg, cfg.num_frames, gen)
    t = float(sample_t(1, cfg.t_mean, cfg.t_std, cfg.time_shift, generator=gen)[0])
    u = torch.rand(3, generator=gen)
    drop = bool(u[0] < cfg.cfg_drop)
    if u[1] < args.p_cond_default:
        k = cfg.cond_frames
    elif u[1] < args.p_cond_default + args.p_cond_none:
        k = 0
    else:
        k = 1 + int(u[2] * (cfg.num_frames // 2))
    return eps, t, drop, k


def lr_at(step: int, args: TrainArgs, progress: float | None = None) -> float:
    """Learning rate of ``step``: linear warm-up over ``warmup`` steps, then constant, then
    (with ``cooldown`` > 0) a linear decay to 0 over the last ``cooldown`` fraction of the
    run. ``progress`` in [0, 1] is how much of the run is done (the elapsed share of the time
    budget); None = ``step / steps``."""
    lr = args.lr * min(1.0, (step + 1) / max(1, args.warmup))
    if args.cooldown > 0:
        p = step / max(1, args.steps) if progress is None else progress
        lr *= min(1.0, max(0.0, 1.0 - p) / args.cooldown)
    return lr


def scenario_mix(weights: dict[str, int] | None) -> tuple[str, ...] | None:
    """The stream's scenario list for ``weights`` (scenario -> repeats; unnamed ones once);
    None = every scenario once. Raises ValueError for an unknown scenario or a bad count."""
    if not weights:
        return None
    from vidbench.scenarios import SCENARIOS

    unknown = sorted(set(weights) - set(SCENARIOS))
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}; known: "
                         f"{', '.join(SCENARIOS)}")
    bad = {k: v for k, v in weights.items() if int(v) != v or v < 0}
    if bad:
        raise ValueError(f"scenario weights must be whole numbers >= 0, got {bad}")
    names = tuple(n for n in SCENARIOS for _ in range(int(weights.get(n, 1))))
    if not names:
        raise ValueError("scenario weights leave no scenario to train on")
    return names


def train_step(model: VideoDiT, opt: torch.optim.Optimizer, stream: PhysicsStream,
               cfg: DiTConfig, args: TrainArgs, step: int, dinfo: DistInfo,
               device: torch.device, progress: float | None = None) -> dict:
    """One optimiser step on global batch ``step``; returns {"loss", "grad_norm", "lr"}."""
    B = args.batch
    if B % dinfo.world:
        raise ValueError(f"global batch {B} is not divisible by the world size {dinfo.world}")
    idx = [step * B + j for j in range(dinfo.rank, B, dinfo.world)]
    x0, prompts = stream.batch(idx)
    parts = [sample_randomness(cfg, args, g) for g in idx]
    eps = torch.stack([p[0] for p in parts]).to(device)
    t = torch.tensor([p[1] for p in parts], device=device)
    drop = torch.tensor([p[2] for p in parts], device=device)
    cond = torch.tensor([p[3] for p in parts], device=device)
    x0 = x0.to(device)
    lr = lr_at(step, args, progress)
    for gr in opt.param_groups:
        gr["lr"] = lr
    model.train()
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        ctx, mask = model.encode_text(prompts)
        ctx, mask = model.drop_context(ctx, mask, drop)
        weight = foreground_weight(x0, args.fg_weight) if args.fg_weight else None
        per = flow_loss(model, x0, ctx, mask, t, eps, cond, reduction="none", weight=weight)
    local_sum = per.float().sum()
    opt.zero_grad(set_to_none=False)
    (local_sum / B).backward()
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    if dinfo.enabled:
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dinfo.all_reduce_(flat)
        off = 0
        for p in params:
            n = p.numel()
            p.grad.copy_(flat[off: off + n].view_as(p))
            off += n
    gnorm = torch.nn.utils.clip_grad_norm_(params, args.grad_clip) if args.grad_clip else \
        torch.tensor(0.0)
    opt.step()
    loss = dinfo.all_reduce_(local_sum.detach().clone()) / B
    return {"loss": float(loss), "grad_norm": float(gnorm), "lr": lr}


def make_optimizer(model: VideoDiT, args: TrainArgs) -> torch.optim.Optimizer:
    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr,
                             weight_decay=args.weight_decay, betas=(0.9, 0.999))


def plot_loss(csv_path: Path, png_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps, loss, smooth = [], [], []
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            steps.append(int(row["step"]))
            loss.append(float(row["loss"]))
            smooth.append(float(row["loss_smooth"]))
    if not steps:
        return
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(steps, loss, lw=0.5, alpha=0.4, label="loss (per logged step)")
    ax.plot(steps, smooth, lw=1.5, label="smoothed (EMA 0.98)")
    ax.set_xlabel("step")
    ax.set_ylabel("rectified-flow MSE (generated frames)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(png_path, mode=0o644) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


LOG_FIELDS = ["step", "samples", "wall_s", "loss", "loss_smooth", "lr", "grad_norm",
              "samples_per_s"]


def train(cfg: DiTConfig, out: Path, args: TrainArgs, *, resume: bool = False,
          device: str | None = None, log=print,
          on_keep: Callable[[int, Path], None] | None = None) -> dict:
    """Train (or resume) into ``out``; returns a summary dict. Writes ``state.*`` (resume),
    ``ema.safetensors`` + ``ema.json`` (the model to sample from), ``log.csv``, ``loss.png``;
    with ``args.keep_every`` also ``checkpoints/step-N.safetensors``, each handed to
    ``on_keep(step, path)`` on the main process (e.g. scoring it); the time ``on_keep``
    takes is left out of ``wall_s`` and the time budget."""
    out = Path(out)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dinfo = DistInfo()
    if dev.type == "cuda" and dinfo.enabled:
        dev = torch.device("cuda", dinfo.local_rank)
        torch.cuda.set_device(dev)
    dinfo.init(dev)
    main = dinfo.rank == 0
    torch.manual_seed(args.seed)
    model = VideoDiT(cfg)
    resuming = resume and (out / "state.json").is_file()
    if args.init_from and not resuming:
        from vidbench.models.dit.warmstart import warm_start

        ws = warm_start(model, args.init_from)
        if main:
            log(f"warm start: {ws}")
    model = model.to(dev)
    ema = EMA(model, args.ema_decay)
    opt = make_optimizer(model, args)
    stream = PhysicsStream(seed=args.seed, num_frames=cfg.num_frames, height=cfg.height,
                           width=cfg.width, fps=cfg.fps, render_size=args.render_size,
                           scenarios=scenario_mix(args.scenario_weights), zh_frac=args.zh_frac)
    start = 0
    wall0 = 0.0
    if resuming:
        info = ckpt.load_state(out, model, ema.model, opt)
        start, ema.updates, wall0 = int(info["step"]), int(info["ema_updates"]), \
            float(info.get("wall_s", 0.0))
        if main:
            log(f"resumed from {out} at step {start}")
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "log.csv"
    if main:
        if start == 0 or not log_path.is_file():
            with open(log_path, "w", newline="") as f:
                csv.writer(f).writerow(LOG_FIELDS)
        else:  # drop log rows past the resumed step
            with open(log_path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start]
            with open(log_path, "w", newline="") as f:
                w = csv.DictWriter(f, LOG_FIELDS)
                w.writeheader()
                w.writerows(rows)
    smooth = None
    t_start = time.time()
    last_ckpt = time.time()
    last_log_t, last_log_step = time.time(), start
    summary: dict = {}

    def save(step: int) -> None:
        if not main:
            return
        info = {"step": step, "ema_updates": ema.updates, "wall_s": wall0 + time.time() - t_start,
                "world_size": dinfo.world, "args": {k: v for k, v in vars(args).items()}}
        ckpt.save_state(out, model, ema.model, opt, info)
        ckpt.save_model(ema.model, out / "ema.safetensors",
                        extra={"step": step, "ema_decay": args.ema_decay,
                               "train_wall_s": info["wall_s"], "seed": args.seed})
        try:
            plot_loss(log_path, out / "loss.png")
        except Exception as e:  # a plot must never stop training
            log(f"loss plot failed: {e}")

    step = start
    budget = args.time_budget_s
    progress = None if budget is None else min(1.0, wall0 / budget)
    for step in range(start, args.steps):
        r = train_step(model, opt, stream, cfg, args, step, dinfo, dev, progress)
        ema.update(model)
        smooth = r["loss"] if smooth is None else 0.98 * smooth + 0.02 * r["loss"]
        if main and (step % args.log_every == 0 or step == args.steps - 1):
            now = time.time()
            sps = (step + 1 - last_log_step) * args.batch / max(1e-9, now - last_log_t)
            last_log_t, last_log_step = now, step + 1
            with open(log_path, "a", newline="") as f:
                csv.writer(f).writerow([step + 1, (step + 1) * args.batch,
                                        f"{wall0 + now - t_start:.1f}", f"{r['loss']:.6f}",
                                        f"{smooth:.6f}", f"{r['lr']:.3g}",
                                        f"{r['grad_norm']:.4f}", f"{sps:.2f}"])
            log(f"step {step + 1} loss {r['loss']:.4f} smooth {smooth:.4f} "
                f"gnorm {r['grad_norm']:.3f} {sps:.1f} samples/s")
        done_time = False
        if budget is not None:  # total wall time, resumed parts too
            # the share of the budget spent; ranks take the largest, so they agree on the
            # learning rate and all stop together
            share = torch.tensor([(wall0 + time.time() - t_start) / budget])
            dinfo.all_reduce_(share, op="max")
            progress = min(1.0, float(share.item()))
            done_time = progress >= 1.0
        if args.keep_every and (step + 1) % args.keep_every == 0:
            save(step + 1)  # the resumable state too: a resumed run never redoes a kept step
            last_ckpt = time.time()
            if main:
                kept = out / "checkpoints" / f"step-{step + 1}.safetensors"
                ckpt.save_model(ema.model, kept, extra={"step": step + 1,
                                                        "ema_decay": args.ema_decay,
                                                        "seed": args.seed})
                if on_keep is not None:
                    t_hook = time.time()
                    on_keep(step + 1, kept)
                    spent = time.time() - t_hook
                    t_start += spent  # evaluation is not training time
                    last_ckpt += spent
                    last_log_t += spent
        elif time.time() - last_ckpt >= args.ckpt_every_s:
            save(step + 1)
            last_ckpt = time.time()
        if done_time:
            step += 1
            break
    else:
        step = args.steps
    save(step)
    summary = {"step": step, "loss_smooth": smooth, "wall_s": wall0 + time.time() - t_start,
               "out": str(out)}
    if dinfo.enabled:
        dist.barrier()
    return summary


