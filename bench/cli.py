"""The ``vidbench`` command line (also ``python -m vidbench`` and ``torchrun -m vidbench``).

User errors print one line ``vidbench: <message>`` on stderr and exit 2 (``--debug`` shows
the traceback); a regression found by ``check`` exits 1.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidbench import __version__
from vidbench.errors import UserError
from vidbench.plugins import COMMANDS, Command

if TYPE_CHECKING:
    from vidbench.runner import ScoreConfig


class _VersionAction(argparse.Action):
    """``--version`` (one line) and ``--version --verbose`` (package versions vs the lock)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if "--verbose" in sys.argv[1:] or getattr(namespace, "verbose", False):
            from vidbench.environment import version_report

            print(version_report())
        else:
            print(f"vidbench {__version__}")
        parser.exit()


def _add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar or progress lines")


def _add_score_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metrics", help="comma-separated metric names (default: every metric "
                   "that can run here; missing weights or reference are skipped with a note)")
    p.add_argument("--mode", choices=("default", "vbench"), default="default",
                   help="default: corrected, resampled protocol; vbench: VBench's formulas")
    p.add_argument("--reference", help="reference set for FVD/KVD/cd-FVD: a NAME built with "
                   "`vidbench reference build`, a folder of videos, or a features .npz")
    p.add_argument("--random-weights", action="store_true",
                   help="build learned backbones from a fixed-seed random init (tests, dry "
                   "runs); results are marked not comparable")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument("--seed", type=_seed, default=0, help="bootstrap seed (0 to 2**32-1)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the "
                   "feature cache")
    p.add_argument("--follow-symlinks", action="store_true",
                   help="score videos that are symbolic links leading outside the manifest "
                   "folder (refused by default; see docs/security.md)")
    _add_quiet(p)


def _add_lang(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lang", help="prompt language(s) of the suite's paired twins: en, zh or "
                   "en,zh (default en; the same as --suite NAME@en,zh)")


def _suite_spec(suite: str | None, lang: str | None, default: str | None = None) -> str | None:
    """``--suite`` with ``--lang`` folded in as ``NAME@LANGS`` (vidbench.bilingual)."""
    if not lang:
        return suite
    if suite and suite.startswith("vbench:"):
        if lang.strip().lower() == "en":
            return suite
        raise UserError(f"--lang {lang}: VBench prompt files are English only (no twins)")
    if suite and "@" in suite:
        raise UserError(f"--suite {suite} already names its languages; drop --lang {lang}")
    return f"{suite or default}@{lang}"


def _seed(text: str) -> int:
    """A seed numpy accepts, checked before any video is scored."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text[:40]!r}") from None
    if not 0 <= v < 2**32:
        raise argparse.ArgumentTypeError(f"{v} is out of range; use 0 to 2**32-1")
    return v


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every registered command (:data:`vidbench.plugins.COMMANDS`). Only
    ``command``'s module is imported to add its arguments; with no command (top-level
    ``--help``) every command is loaded for its one-line help."""
    parser = argparse.ArgumentParser(prog="vidbench", description="Evaluate video generators.")
    parser.add_argument("--version", action=_VersionAction,
                        help="print the version and exit (with --verbose: the versions of "
                        "the packages that decide the numbers, checked against the lock)")
    parser.add_argument("--verbose", action="store_true",
                        help="also print informational lines (and, with --version, the "
                        "package versions)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS.names():
        if command is None or command == name:
            cmd = COMMANDS.load(name)
            cmd.add_arguments(sub.add_parser(name, help=cmd.help))
        else:
            sub.add_parser(name)
    return parser


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model spec (default: the shipped reference DiT, or the "
                   "synthetic renderer if no checkpoint is installed)")
    p.add_argument("--suite", help="suite name (default: physics-mini)")
    p.add_argument("--out", help="output folder (default: runs/<name>)")
    p.add_argument("--name", help="run name (default: derived from model and suite)")
    _add_lang(p)
    p.add_argument("--allow-missing", action="store_true",
                   help="folder adapter: suite items without a video are not an error")
    _add_score_options(p)


def _add_generate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model spec, e.g. dit:ckpt.safetensors")
    p.add_argument("--suite", required=True, help="suite name")
    p.add_argument("--out", required=True, help="output folder (videos + manifest.jsonl)")
    _add_lang(p)
    p.add_argument("--allow-missing", action="store_true",
                   help="folder adapter: suite items without a video are not an error")
    p.add_argument("--no-resume", action="store_true", help="regenerate every item")
    p.add_argument("--overwrite", action="store_true",
                   help="write into a non-empty folder that is not a vidbench run of this "
                   "suite (refused by default)")
    _add_quiet(p)


def _add_score_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("manifest", help="manifest.jsonl, or a folder of videos")
    p.add_argument("--out", required=True, help="output folder (videos.jsonl, result.json)")
    p.add_argument("--model", help="model name recorded in result.json")
    p.add_argument("--suite", help="suite name recorded in result.json")
    _add_score_options(p)


def _add_weights_arguments(p: argparse.ArgumentParser) -> None:
    wsub = p.add_subparsers(dest="weights_cmd", metavar="ACTION", required=True)
    wsub.add_parser("list", help="known weights and whether they are present")
    q = wsub.add_parser("fetch", help="download and verify weights")
    q.add_argument("name", nargs="+")
    q.add_argument("--url", help="download from this URL instead of the manifest's")
    q = wsub.add_parser("verify", help="check sha256 of present weights")
    q.add_argument("name", nargs="?")
    q = wsub.add_parser("path", help="print where weights NAME live")
    q.add_argument("name")


def _add_suites_arguments(p: argparse.ArgumentParser) -> None:
    ssub = p.add_subparsers(dest="suites_cmd", metavar="ACTION", required=True)
    ssub.add_parser("list", help="known suites")
    q = ssub.add_parser("show", help="items of a suite")
    q.add_argument("name")
    _add_lang(q)


def _add_metrics_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", default="list", choices=("list",))


def _metric_list(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [m.strip() for m in value.split(",") if m.strip()]


def _score_config(args: argparse.Namespace, **extra: Any) -> ScoreConfig:
    from vidbench.environment import check_device
    from vidbench.runner import ScoreConfig

    check_device(args.device)
    return ScoreConfig(metrics=_metric_list(args.metrics), mode=args.mode,
                       reference=args.reference, random_weights=args.random_weights,
                       device=args.device, seed=args.seed, feature_cache=not args.no_cache,
                       follow_symlinks=getattr(args, "follow_symlinks", False), **extra)


def cmd_score(args: argparse.Namespace) -> int:
    from vidbench.pipeline import print_summary
    from vidbench.runner import score

    cfg = _score_config(args, model=args.model, suite=args.suite)
    result = score(args.manifest, args.out, cfg)
    if result is not None:
        from vidbench.results import add_language_results

        result = add_language_results(args.out, args.manifest, seed=cfg.seed,
                                      follow_symlinks=cfg.follow_symlinks) or result
        print_summary(result)
        print(f"wrote {Path(args.out) / 'result.json'}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from vidbench.adapters import get_model
    from vidbench.generate import generate
    from vidbench.suites import get_suite

    report = generate(get_model(args.model),
                      get_suite(_suite_spec(args.suite, args.lang) or args.suite),
                      Path(args.out),
                      resume=not args.no_resume, allow_missing=args.allow_missing,
                      overwrite=args.overwrite)
    print(f"generated {report.n_ok}, skipped {report.n_skipped}, failed {report.n_failed}: "
          f"{report.manifest}")
    for err in report.errors:
        print(f"vidbench: {err.get('item')}: {err.get('error')}", file=sys.stderr)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from vidbench.pipeline import DEFAULT_SUITE, run_pipeline

    run_pipeline(model=args.model, suite=_suite_spec(args.suite, args.lang, DEFAULT_SUITE),
                 out=args.out, name=args.name,
                 cfg=_score_config(args), allow_missing=args.allow_missing)
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    from vidbench import weights as w

    if args.weights_cmd == "list":
        print(f"VIDBENCH_HOME={w.home()}")
        for row in w.status():
            state = "present" if row["present"] else "missing"
            print(f"{row['name']:32s} {state:8s} {', '.join(row['used_by'])}\n"
                  f"    {row['url']}\n    -> {row['path']}")
        return 0
    if args.weights_cmd == "fetch":
        if args.url and len(args.name) > 1:
            raise UserError("--url applies to one weights name at a time")
        for name in args.name:
            print(w.fetch(name, url=args.url))
        return 0
    if args.weights_cmd == "path":
        print(w.path(args.name))
        return 0
    names = [args.name] if args.name else [r["name"] for r in w.status() if r["present"]]
    for n in names:
        p = w.check_loadable(n)
        prov = w.provenance(n)
        state = "ok" if prov["trust"] != "unpinned" else (
            "unpinned: no publisher hash; pinned when a metric first loads it into its model")
        print(f"{n}: {state} (sha256 {prov['sha256']}, trust {prov['trust']}; {p})")
    if not names:
        print("no weights present")
    return 0


def cmd_suites(args: argparse.Namespace) -> int:
    from vidbench.bilingual import suite_languages
    from vidbench.suites import get_suite, suite_names

    if args.suites_cmd == "list":
        for n in suite_names():
            try:
                s = get_suite(n)
                langs = ",".join(suite_languages(n))
                print(f"{n:16s} {len(s.items):4d} items  [{langs}]  {s.description}")
            except UserError as e:
                print(f"{n:16s}    - ({e})")
        return 0
    s = get_suite(_suite_spec(args.name, args.lang) or args.name)
    print(f"# {s.name} (version {s.version}, digest {s.digest()}): {s.description}")
    for it in s.items:
        print(json.dumps(it.to_json(), ensure_ascii=False))
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from vidbench.registry import metric_info, metric_names

    for n in metric_names():
        try:
            kind, summary = metric_info(n)
            print(f"{n:24s} {kind:9s} {summary}")
        except (UserError, ImportError, AttributeError) as e:
            print(f"{n:24s} (not available: {e})")
    return 0


# The core's commands; each is a ``vidbench.commands`` entry point in pyproject.toml, like
# the commands of the leaderboard, the reference DiT and any plugin package.
RUN = Command("generate a suite with a model, score it, and report", _add_run_arguments,
              cmd_run)
GENERATE = Command("generate a suite's videos with a model", _add_generate_arguments,
                   cmd_generate)
SCORE = Command("score a manifest or folder of videos", _add_score_arguments, cmd_score)
WEIGHTS = Command("list, fetch, verify or locate pretrained weights", _add_weights_arguments,
                  cmd_weights)
SUITES = Command("list suites or show one", _add_suites_arguments, cmd_suites)
METRICS = Command("list metrics", _add_metrics_arguments, cmd_metrics)


_USER_OS_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.ENAMETOOLONG, errno.EACCES,
                   errno.EFBIG}


def _command_of(argv: list[str]) -> str | None:
    for a in argv:
        if not a.startswith("-"):
            return a
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("VIDBENCH_DEBUG") == "1"
    try:
        command = _command_of(argv)
        args = build_parser(command).parse_args(argv)
        if not args.command:
            build_parser().print_help()
            return 2
        from vidbench.progress import set_quiet, set_verbose

        if getattr(args, "quiet", False):
            set_quiet(True)
        if getattr(args, "verbose", False):
            set_verbose(True)
        return int(COMMANDS.load(args.command).run(args) or 0)
    except UserError as e:
        if debug:
            raise
        print(f"vidbench: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        # the disk or the file system refused (disk full, quota, read-only, name too long):
        # the user's to fix; writers are atomic, so nothing half-written was left
        if debug or e.errno not in _USER_OS_ERRORS:
            raise
        where = f" ({e.filename})" if e.filename else ""
        print(f"vidbench: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vidbench: interrupted", file=sys.stderr)
        return 130
    finally:
        _shutdown_dist()


def _shutdown_dist() -> None:
    """Tear down a process group the runner opened; commands that never imported torch
    (``check``, ``leaderboard``) do not pay for importing it here."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
