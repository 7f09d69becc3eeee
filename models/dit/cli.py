"""``vidbench train``: argument wiring for the reference DiT's training loop.

``vidbench train`` is :data:`TRAIN`, registered as a ``vidbench.commands`` entry point;
``python -m vidbench.models.dit.cli`` runs the same thing stand-alone (used by torchrun in the
tests)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from vidbench.errors import UserError
from vidbench.fileio import read_json
from vidbench.plugins import Command


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    from vidbench.models.dit.configs import CONFIGS

    parser.add_argument("--config", default="tiny", choices=sorted(CONFIGS),
                        help="model configuration (default: tiny)")
    parser.add_argument("--out", type=Path, help="output folder (checkpoints, log.csv, loss.png)")
    parser.add_argument("--init-from", default=None, metavar="CKPT",
                        help="warm-start a new run from a model checkpoint (path, training "
                             "folder or shipped name such as tiny) whose config differs only "
                             "in vocabulary, langs and text_len (models/dit/warmstart.py)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUT/state.safetensors if present")
    parser.add_argument("--dry-run", action="store_true",
                        help="print parameters and GFLOPs per sample, then exit")
    parser.add_argument("--steps", type=int, default=10_000, help="total optimiser steps")
    parser.add_argument("--batch", type=int, default=8, help="global batch size")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fg-weight", type=float, default=3.0, metavar="ALPHA",
                        help="weight moving-object pixels 1 + ALPHA in the loss (default 3, "
                             "the shipped tiny recipe; 0 = plain MSE)")
    parser.add_argument("--p-cond", type=float, default=0.9, metavar="P",
                        help="probability that a training clip gets the config's number of "
                             "conditioning frames (default 0.9; the rest: none or 1..T/2)")
    parser.add_argument("--cooldown", type=float, default=0.0, metavar="FRAC",
                        help="decay the learning rate linearly to 0 over the last FRAC of the "
                             "run (of --time-budget when given, else of --steps); default 0")
    parser.add_argument("--zh-frac", type=float, default=None, metavar="F",
                        help="share of training clips with the Chinese prompt (default 0.5 for "
                             "a config whose langs include zh, else 0)")
    parser.add_argument("--scenario-weight", action="append", default=[],
                        metavar="NAME=N",
                        help="show scenario NAME N times as often as the others in the "
                             "training mix (repeatable), e.g. collision=2")
    parser.add_argument("--time-budget", type=float, default=None, metavar="MINUTES",
                        help="stop (and save) once the run, resumed parts included, "
                             "has trained this long")
    parser.add_argument("--ckpt-every", type=float, default=4.0, metavar="MINUTES",
                        help="save a resumable checkpoint this often (default 4)")
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--eval-every", type=int, default=0, metavar="N",
                        help="every N steps keep OUT/checkpoints/step-N.safetensors and score "
                             "it on --eval-suite through the normal runner into "
                             "OUT/eval/step-N/, refreshing OUT/curves/ (default 0: never)")
    parser.add_argument("--eval-suite", default="physics-val",
                        help="suite for --eval-every (default physics-val: validation seeds; "
                             "e.g. physics-val@en,zh for the language gap)")
    parser.add_argument("--eval-options", default="", metavar="K=V&...",
                        help="dit adapter options for scoring, e.g. 'steps=25&cfg=2'")
    parser.add_argument("--eval-metrics", default=None,
                        help="comma-separated metrics for scoring (default: the suite's)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: OMP_NUM_THREADS or torch's choice)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field, e.g. --set depth=4 (JSON values)")


def parse_scenario_weights(specs: list[str]) -> dict[str, int] | None:
    """``["collision=2", ...]`` -> {"collision": 2}, checked (UserError names the entry)."""
    from vidbench.models.dit.train import scenario_mix

    if not specs:
        return None
    out: dict[str, int] = {}
    for s in specs:
        name, sep, n = s.partition("=")
        if not sep:
            raise UserError(f"--scenario-weight {s!r}: expected NAME=N")
        try:
            out[name.strip()] = int(n)
        except ValueError:
            raise UserError(f"--scenario-weight {s!r}: expected NAME=N with N a whole "
                            f"number") from None
    try:
        scenario_mix(out)
    except ValueError as e:
        raise UserError(f"--scenario-weight: {e}") from None
    return out


def resolve_zh_frac(zh_frac: float | None, langs: tuple[str, ...]) -> float:
    """``--zh-frac``: None -> 0.5 for a config that reads Chinese, else 0; checked."""
    if zh_frac is None:
        return 0.5 if "zh" in langs else 0.0
    if not 0.0 <= zh_frac <= 1.0:
        raise UserError(f"--zh-frac {zh_frac}: must be between 0 and 1")
    if zh_frac > 0 and "zh" not in langs:
        raise UserError(f"--zh-frac {zh_frac}: the config reads only {', '.join(langs)} "
                        f"(use a config with langs including zh, or --set 'langs=[\"en\",\"zh\"]')")
    if zh_frac < 1 and "en" not in langs:
        raise UserError(f"--zh-frac {zh_frac}: the config reads only Chinese; use --zh-frac 1")
    return float(zh_frac)


def eval_hook(args: argparse.Namespace, log):
    """``on_keep`` for ``--eval-every``: score the kept checkpoint (models/dit/scoring.py)."""
    from vidbench.models.dit.scoring import EvalPlan, score_checkpoint
    from vidbench.suites import get_suite

    if args.eval_every < 0:
        raise UserError("--eval-every must be >= 0")
    get_suite(args.eval_suite)  # an unknown suite fails now, not after the first N steps
    metrics = (tuple(m.strip() for m in args.eval_metrics.split(",") if m.strip())
               if args.eval_metrics else None)
    plan = EvalPlan(suite=args.eval_suite, options=args.eval_options, metrics=metrics)

    def on_keep(step: int, path: Path) -> None:
        score_checkpoint(args.out, step, path, plan, log=log)

    return on_keep


def build_config(name: str, overrides: list[str]):
    from vidbench.models.dit.configs import get_config

    kw = {}
    for s in overrides:
        if "=" not in s:
            raise UserError(f"--set {s!r}: expected KEY=VALUE")
        k, v = s.split("=", 1)
        try:
            kw[k] = json.loads(v)
        except json.JSONDecodeError:
            kw[k] = v
        if k in ("patch", "langs"):
            kw[k] = tuple(kw[k])
    try:
        cfg = get_config(name, **kw)
    except (TypeError, ValueError, KeyError) as e:
        raise UserError(f"bad config override: {e}") from None
    return cfg


def run_train(args: argparse.Namespace) -> int:
    import torch

    from vidbench.models.dit.configs import human
    from vidbench.models.dit.model import describe

    cfg = build_config(args.config, args.set)
    if args.dry_run:
        d = describe(cfg)
        print(f"config {cfg.name}: {human(d['params'])} params ({d['params']}), "
              f"{d['tokens']} tokens, {d['gflops_forward']:.3f} GFLOPs/sample forward, "
              f"{d['gflops_train_step']:.3f} GFLOPs/sample train step")
        print(json.dumps(d, indent=2))
        return 0
    if args.out is None:
        raise UserError("train: --out DIR is required (except with --dry-run)")
    if args.out.exists() and (args.out / "state.json").exists() and not args.resume:
        raise UserError(f"{args.out} already holds a training run; pass --resume to continue "
                        f"it or choose another --out")
    if args.threads:
        torch.set_num_threads(args.threads)
    if cfg.text_encoder == "tokens" and not cfg.vocab:
        from vidbench.models.dit.data import training_vocab

        vocab = training_vocab(cfg.langs)
        if args.init_from:  # keep every word the checkpoint learned
            from vidbench.models.dit.warmstart import merged_vocab, read_checkpoint

            vocab = merged_vocab(read_checkpoint(args.init_from)[1], vocab)
        cfg = cfg.replace(vocab=vocab)
    if args.resume and (args.out / "state.json").is_file():
        from vidbench.models.dit.configs import DiTConfig

        saved = DiTConfig.from_json(read_json(args.out / "state.json")["config"])
        cfg = saved  # the vocabulary and overrides of the original run
    from vidbench.models.dit.train import TrainArgs, train

    zh_frac = resolve_zh_frac(args.zh_frac, cfg.langs)
    ta = TrainArgs(steps=args.steps, batch=args.batch, lr=args.lr, warmup=args.warmup,
                   ema_decay=args.ema_decay, seed=args.seed, fg_weight=args.fg_weight,
                   p_cond_default=args.p_cond, p_cond_none=min(0.1, 1.0 - args.p_cond),
                   cooldown=args.cooldown, zh_frac=zh_frac, init_from=args.init_from,
                   scenario_weights=parse_scenario_weights(args.scenario_weight),
                   keep_every=max(0, args.eval_every),
                   ckpt_every_s=args.ckpt_every * 60,
                   log_every=args.log_every,
                   time_budget_s=None if args.time_budget is None else args.time_budget * 60)
    rank0 = int(os.environ.get("RANK", "0")) == 0
    log = (lambda m: print(m, flush=True)) if rank0 else (lambda m: None)
    on_keep = None
    if args.eval_every:
        on_keep = eval_hook(args, log)
        if rank0 and args.resume:
            from vidbench.models.dit.scoring import unscored_steps

            for s in unscored_steps(args.out):  # a run killed while scoring
                on_keep(s, args.out / "checkpoints" / f"step-{s}.safetensors")
    summary = train(cfg, args.out, ta, resume=args.resume, device=args.device, log=log,
                    on_keep=on_keep)
    if rank0:
        print(json.dumps(summary))
    return 0


#: ``vidbench train`` (a ``vidbench.commands`` entry point).
TRAIN = Command("train the reference video DiT", add_train_arguments, run_train)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vidbench train", description="train the reference DiT")
    add_train_arguments(p)
    args = p.parse_args(argv)
    try:
        return run_train(args)
    except UserError as e:
        print(f"vidbench: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
