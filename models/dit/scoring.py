"""Scoring checkpoints during training (``vidbench train --eval-every N --eval-suite S``).

Every ``N`` steps the training loop keeps the EMA weights as
``OUT/checkpoints/step-N.safetensors`` and calls :func:`score_checkpoint`, which runs
``vidbench run`` in a child process (the ``dit`` adapter generates the suite, the runner
scores it, ``result.json`` with 95% CIs and provenance) into ``OUT/eval/step-N/``, then
``vidbench curves OUT --gate``: ``OUT/curves/`` refreshed and the new checkpoint gated against
the best earlier one (:mod:`vidbench.leaderboard.curves`). The protocols are the suite's
own; the metrics are the suite's declared ones unless ``metrics`` names others.
Evaluation time is not training time: the loop leaves it out of ``wall_s`` and the time
budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EvalPlan:
    """What to score each kept checkpoint on."""

    suite: str = "physics-val"
    #: adapter options appended to ``dit:PATH`` (e.g. ``"steps=25&cfg=2"``); "" = defaults
    options: str = ""
    #: metric names; None = the suite's declared metrics (every available one if it has none)
    metrics: tuple[str, ...] | None = None
    gate_metric: str | None = None


def eval_dir(out: Path, step: int) -> Path:
    return Path(out) / "eval" / f"step-{step}"


def model_spec(ckpt: Path, options: str = "") -> str:
    return f"dit:{ckpt}" + (f"?{options}" if options else "")


def vidbench_command(argv: list[str], log_path: Path) -> int:
    """Run ``vidbench ARGV`` in a child process (the CLI exactly as a user runs it; the
    reference model reaches the runner and the leaderboard only through their commands),
    appending its output to ``log_path``; returns the exit code."""
    import subprocess
    import sys

    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as f:
        f.write("$ vidbench " + " ".join(argv) + "\n")
        f.flush()
        return subprocess.call([sys.executable, "-m", "vidbench", *argv], stdout=f,
                               stderr=subprocess.STDOUT)


def score_checkpoint(out: Path, step: int, ckpt: Path, plan: EvalPlan,
                     log: Callable[[str], None] = print) -> dict:
    """Score ``ckpt`` on ``plan.suite`` into ``OUT/eval/step-N`` (``vidbench run``), refresh
    the curves and the gate (``vidbench curves --gate``); returns ``{"step", "result",
    "gate", "metrics": {name: value}}``. Output goes to ``OUT/eval/step-N.log``."""
    from vidbench.errors import UserError
    from vidbench.fileio import read_json
    from vidbench.suites import get_suite

    out = Path(out)
    metrics = list(plan.metrics) if plan.metrics else list(get_suite(plan.suite).metrics)
    d = eval_dir(out, step)
    logfile = d.with_name(d.name + ".log")
    argv = ["run", "--model", model_spec(ckpt, plan.options), "--suite", plan.suite,
            "--out", str(d), "--quiet"] + (["--metrics", ",".join(metrics)] if metrics else [])
    rc = vidbench_command(argv, logfile)
    if rc != 0 or not (d / "result.json").is_file():
        raise UserError(f"scoring step {step} failed (exit {rc}); see {logfile}")
    res = read_json(d / "result.json")
    vals = {k: (v.get("value") if isinstance(v, dict) else None)
            for k, v in (res.get("metrics") or {}).items()}
    gate_argv = ["curves", str(out), "--gate"] + (
        ["--metric", plan.gate_metric] if plan.gate_metric else [])
    grc = vidbench_command(gate_argv, logfile)
    gate_file = out / "curves" / "gate.json"
    gate = read_json(gate_file) if gate_file.is_file() else {"verdict": f"error (exit {grc})"}
    log(f"eval step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in vals.items()
                                          if isinstance(v, float))
        + f"; gate vs best earlier: {gate.get('verdict')}")
    return {"step": step, "result": str(d / "result.json"), "gate": gate, "metrics": vals}


def checkpoint_path(out: Path, step: int) -> Path:
    """Where the training loop keeps the checkpoint of ``step`` (the layout
    ``vidbench curves`` reads)."""
    return Path(out) / "checkpoints" / f"step-{step}.safetensors"


def unscored_steps(out: Path) -> list[int]:
    """Kept checkpoints without a ``result.json`` (a run killed while scoring)."""
    ck = Path(out) / "checkpoints"
    steps = sorted(int(p.stem.split("-", 1)[1]) for p in ck.glob("step-*.safetensors")
                   if p.stem.split("-", 1)[1].isdigit()) if ck.is_dir() else []
    return [s for s in steps if checkpoint_path(out, s).is_file()
            and not (eval_dir(out, s) / "result.json").is_file()]
