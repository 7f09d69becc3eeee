"""Streaming decode vs holding the video (issue 17): peak RSS and wall time per clip.

Synthetic H.264 clips made here (a smooth random texture drifting across the frame, x264
ultrafast, 30 fps): 5 / 20 / 60 s at 1920x1080 and 10 s at 3840x2160. Per clip, each in a
fresh process (peak RSS = that process's ``ru_maxrss``):

- ``plain``: PyAV decode + ``to_ndarray("rgb24")`` of every frame, nothing kept (anchor a);
- ``plain+resize``: the same, each frame also resized to 128 px (cv2 INTER_AREA, the views'
  resize): the least any route that builds these views can cost;
- ``full``: today's full decode, ``vidbench.video.decode`` (every frame in one array), then
  the views with ``make_view`` (anchor b; only where the frames fit ``--full-max-gb``);
- ``stream``: ``vidbench.stream.decode_views`` with the views of the weight-free battery
  (flicker / motion smoothness: 8 fps at 128 px; physics_consistency: 15 fps at 128 px;
  dynamic_degree: every source frame at 128 px; ``--views runner``: the 8 fps view alone,
  what the runner streams today), then temporal_flicker and motion_smoothness (default
  mode) scored on them.

    OMP_NUM_THREADS=1 .venv/bin/python perf/streaming.py [--clips 5,20,60,4k]
        [--views battery|runner] [--full-max-gb 1.5]

``--score`` measures the whole command instead, on a ``ball`` clip (a static textured
background with a ball bouncing across: every metric does its full work; the drifting
texture is NaN "camera motion" for physics_consistency): ``vidbench score`` of a folder
holding the clip with the weight-free battery (``--metrics``, default temporal_flicker,
motion_smoothness, dynamic_degree, physics_consistency), each run a fresh process (peak RSS:
the child's ``ru_maxrss``), medians of ``--repeats`` interleaved runs, against (a) ``plain``
and (b) ``resize+metrics``: PyAV decode + rgb24 of every frame, each resized to 128 px
(INTER_AREA) and kept, then the same metrics scored on those small frames in the same
process (decode + resize + the metrics on their views: what streaming cannot beat). It
records each run's decode count and decoder from videos.jsonl.

    OMP_NUM_THREADS=1 .venv/bin/python perf/streaming.py --score [--clips 5,20,60,4k]
        [--repeats 3] [--metrics a,b,...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

CLIPS = {"5": (5, 1920, 1080), "20": (20, 1920, 1080), "60": (60, 1920, 1080),
         "4k": (10, 3840, 2160)}


def make_clip(path: Path, seconds: int, w: int, h: int, fps: int = 30,
              scene: str = "drift") -> Path:
    """``drift``: a smooth random texture drifting 4 px per frame; ``ball``: the same texture
    held still (a static camera) with a red ball bouncing across it under gravity, so every
    metric, physics_consistency's segmentation and tracking included, does its full work.
    x264 ultrafast, crf 28."""
    import av
    import cv2

    rng = np.random.default_rng(0)
    drift = 4 if scene == "drift" else 0
    small = rng.integers(0, 255, (h // 16 + 1, (w + drift * seconds * fps) // 16 + 1, 3),
                         np.uint8)
    base = cv2.resize(small, (small.shape[1] * 16, small.shape[0] * 16),
                      interpolation=cv2.INTER_CUBIC)
    if scene == "ball":  # a muted background, so the ball stands out
        base = (base // 3 + 80).astype(np.uint8)
    r = max(4, h // 20)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": "ultrafast", "crf": "28"}
        for k in range(seconds * fps):
            frame = np.ascontiguousarray(base[:h, drift * k:drift * k + w])
            if scene == "ball":  # a 2 s bounce period, crossing the frame every 4 s
                t = k / fps
                ph = (t % 2.0) - 1.0  # -1..1: apex at 0
                y = int(r + (h - 2 * r) * (0.25 + 0.75 * ph * ph))
                u = (t % 8.0) / 4.0
                x = int(r + (w - 2 * r) * (u if u <= 1 else 2 - u))
                frame = frame.copy()
                cv2.circle(frame, (x, y), r, (220, 40, 30), -1, lineType=cv2.LINE_AA)
            for pk in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    return path


CHILD = {
    "plain": """
        import av
        n = 0
        with av.open(PATH) as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            for f in c.decode(s):
                f.to_ndarray(format="rgb24")
                n += 1
        out = {"frames": n}
    """,
    "plain+resize": """
        import av, cv2
        from vidbench.video import _target_size
        n = 0
        with av.open(PATH) as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            for f in c.decode(s):
                a = f.to_ndarray(format="rgb24")
                th, tw = _target_size(a.shape[0], a.shape[1], 128)
                cv2.resize(a, (tw, th), interpolation=cv2.INTER_AREA)
                n += 1
        out = {"frames": n}
    """,
    "full": """
        from vidbench.video import decode, make_view
        clip = decode(PATH, max_bytes=2**40)
        t_dec = time.perf_counter() - t0
        views = [make_view(clip, s, max_bytes=2**40) for s in SPECS]
        out = {"frames": clip.num_frames, "decode_s": t_dec,
               "views_mb": sum(v.frames.nbytes for v in views) / 1e6}
    """,
    "stream": """
        from vidbench.registry import VideoContext, get_metric
        from vidbench.stream import decode_views
        sc = decode_views(PATH, SPECS)
        t_dec = time.perf_counter() - t0
        ctx = VideoContext(sc)
        scores = {m: get_metric(m).score(ctx).value
                  for m in ("temporal_flicker", "motion_smoothness")}
        out = {"frames": sc.num_frames, "decode_s": t_dec,
               "metrics_s": time.perf_counter() - t0 - t_dec,
               "views_mb": sum(sc.view(s).frames.nbytes for s in SPECS) / 1e6,
               "extra_decodes": sc.meta.get("extra_decodes", 0), "scores": scores}
    """,
}

CHILD["resize+metrics"] = """
    import av, cv2
    from vidbench.registry import VideoContext, get_metric
    from vidbench.video import Clip, _target_size
    small = []
    with av.open(PATH) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for f in c.decode(s):
            a = f.to_ndarray(format="rgb24")
            th, tw = _target_size(a.shape[0], a.shape[1], 128)
            small.append(cv2.resize(a, (tw, th), interpolation=cv2.INTER_AREA))
    clip = Clip.from_array(np.stack(small), 30.0, PATH)
    del small
    t_dec = time.perf_counter() - t0
    ctx = VideoContext(clip)
    scores = {m: get_metric(m).score(ctx).value for m in METRICS}
    out = {"frames": clip.num_frames, "decode_s": t_dec,
           "metrics_s": time.perf_counter() - t0 - t_dec, "scores": scores}
"""

SCORE = """
import json, os, resource, subprocess, sys, time
t0 = time.perf_counter()
r = subprocess.run([sys.executable, "-m", "vidbench", "score", FOLDER, "--out", OUT,
                    "--metrics", ",".join(METRICS), "--quiet"], capture_output=True, text=True)
out = {"wall_s": time.perf_counter() - t0, "rc": r.returncode,
       "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}
if r.returncode:
    out["error"] = (r.stderr.strip().splitlines() or ["?"])[-1][:300]
else:
    rec = [json.loads(x) for x in open(os.path.join(OUT, "videos.jsonl")) if x.strip()][0]
    out.update({"decoder": rec["source"].get("decoder"), "decodes": rec["source"].get("decodes"),
                "scores": rec["scores"], "error": rec.get("error"),
                "timings": json.load(open(os.path.join(OUT, "result.json")))["provenance"]
                ["timings_s"]})
print(json.dumps(out))
"""

PRE = """
import json, resource, time
import numpy as np
from vidbench.video import ViewSpec
METRICS = {metrics!r}
SPECS = [ViewSpec(fps=8.0, size=128, resize="area"), ViewSpec(fps=15.0, size=128,
         resize="area"), ViewSpec(size=128, resize="area")][:{n_views}]
PATH = {path!r}
t0 = time.perf_counter()
"""
POST = """
out["wall_s"] = time.perf_counter() - t0
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


BATTERY = ("temporal_flicker", "motion_smoothness", "dynamic_degree", "physics_consistency")


def measure(kind: str, path: Path, n_views: int = 3, metrics: tuple[str, ...] = BATTERY
            ) -> dict:
    code = (PRE.format(path=str(path), n_views=n_views, metrics=list(metrics))
            + textwrap.dedent(CHILD[kind]) + POST)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    if r.returncode:
        return {"error": r.stderr.strip().splitlines()[-1][:200]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def measure_score(path: Path, out: Path, metrics: tuple[str, ...]) -> dict:
    """``vidbench score`` of ``path``'s folder in a fresh process (see the module doc)."""
    code = (f"FOLDER = {str(path.parent)!r}\nOUT = {str(out)!r}\nMETRICS = {list(metrics)!r}\n"
            + SCORE)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    if r.returncode:
        return {"error": r.stderr.strip().splitlines()[-1][:200]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def _median(runs: list[dict], key: str) -> float:
    vals = [r[key] for r in runs if key in r and r.get("error") is None]
    return float(np.median(vals)) if vals else float("nan")


def main_score(clips: list[str], repeats: int, metrics: tuple[str, ...]) -> None:
    import shutil

    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name in clips:
            secs, w, h = CLIPS[name]
            folder = Path(d) / name
            folder.mkdir()
            p = make_clip(folder / f"clip{name}.mp4", secs, w, h, scene="ball")
            runs: dict[str, list[dict]] = {"plain": [], "resize+metrics": [], "score": []}
            for i in range(repeats):  # interleaved
                runs["plain"].append(measure("plain", p, 3, metrics))
                runs["resize+metrics"].append(measure("resize+metrics", p, 3, metrics))
                o = Path(d) / f"out-{name}-{i}"
                runs["score"].append(measure_score(p, o, metrics))
                shutil.rmtree(o, ignore_errors=True)
                print(json.dumps({"clip": name, "repeat": i,
                                  **{k: v[-1] for k, v in runs.items()}}), file=sys.stderr,
                      flush=True)
            rows.append((name, secs, w, h, runs))
            p.unlink()
    print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, "
          f"metrics: {','.join(metrics)}, medians of {repeats}")
    print("| clip | RGB frames | (a) plain decode+rgb24: wall / peak RSS | (b) decode + resize "
          "+ metrics on views: decode / metrics / wall / peak RSS | `vidbench score`: wall / "
          "peak RSS | decoder, decodes | score / (a) | score / (b) |")
    print("|---|---|---|---|---|---|---|---|")
    for _name, secs, w, h, runs in rows:
        gb = secs * 30 * w * h * 3 / 1e9
        pl, rm, sc = runs["plain"], runs["resize+metrics"], runs["score"]
        errs = [r.get("error") for r in sc if r.get("error")]
        if errs:
            print(f"| {secs} s {w}x{h} | {gb:.1f} GB | {_median(pl, 'wall_s'):.1f} s / "
                  f"{_median(pl, 'peak_rss_mb'):.0f} MB | {_median(rm, 'decode_s'):.1f} / "
                  f"{_median(rm, 'metrics_s'):.1f} / {_median(rm, 'wall_s'):.1f} s / "
                  f"{_median(rm, 'peak_rss_mb'):.0f} MB | refused: {errs[0]} | | | |")
            continue
        print(f"| {secs} s {w}x{h} | {gb:.1f} GB | {_median(pl, 'wall_s'):.1f} s / "
              f"{_median(pl, 'peak_rss_mb'):.0f} MB | {_median(rm, 'decode_s'):.1f} / "
              f"{_median(rm, 'metrics_s'):.1f} / {_median(rm, 'wall_s'):.1f} s / "
              f"{_median(rm, 'peak_rss_mb'):.0f} MB | {_median(sc, 'wall_s'):.1f} s / "
              f"**{_median(sc, 'peak_rss_mb'):.0f} MB** | {sc[0].get('decoder')}, "
              f"{sorted({r.get('decodes') for r in sc})} | "
              f"{_median(sc, 'wall_s') / _median(pl, 'wall_s'):.2f} | "
              f"{_median(sc, 'wall_s') / _median(rm, 'wall_s'):.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", default="5,20,60,4k")
    ap.add_argument("--score", action="store_true",
                    help="time `vidbench score` with --metrics against (a) and (b)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--metrics", default=",".join(BATTERY))
    ap.add_argument("--views", choices=("battery", "runner"), default="battery",
                    help="battery: the 3 views of the weight-free battery; runner: only the "
                         "8 fps view of the two metrics the runner streams today")
    ap.add_argument("--full-max-gb", type=float, default=1.5,
                    help="run the full decode only where the frames fit in this many GB")
    args = ap.parse_args()
    if args.score:
        main_score(args.clips.split(","), args.repeats, tuple(args.metrics.split(",")))
        return
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name in args.clips.split(","):
            secs, w, h = CLIPS[name]
            t0 = time.perf_counter()
            p = make_clip(Path(d) / f"{name}.mp4", secs, w, h)
            made = time.perf_counter() - t0
            frames_gb = secs * 30 * w * h * 3 / 1e9
            nv = 3 if args.views == "battery" else 1
            res = {k: measure(k, p, nv) for k in ("plain", "plain+resize", "stream")}
            if frames_gb <= args.full_max_gb:
                res["full"] = measure("full", p, nv)
            rows.append((name, secs, w, h, frames_gb, made, res))
            print(json.dumps({"clip": name, **res}), file=sys.stderr)
    print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, views: {args.views}")
    print("| clip | RGB frames | plain PyAV decode+rgb24: wall / peak RSS | + resize to "
          "128 px: wall | full decode + views: wall / peak RSS | stream (views) + flicker, "
          "motion: decode / metrics / wall / peak RSS | views | stream wall / plain / "
          "plain+resize |")
    print("|---|---|---|---|---|---|---|---|")
    for _name, secs, w, h, gb, _, res in rows:
        pl, pr, st, fu = res["plain"], res["plain+resize"], res["stream"], res.get("full")
        full = (f"{fu['wall_s']:.1f} s / {fu['peak_rss_mb']:.0f} MB" if fu and "wall_s" in fu
                else (fu or {}).get("error", "not run (frames over --full-max-gb)"))
        if "error" in st:
            print(f"| {secs} s {w}x{h} | {gb:.1f} GB | ... | | {full} | {st['error']} | | |")
            continue
        print(f"| {secs} s {w}x{h} | {gb:.1f} GB | {pl['wall_s']:.1f} s / "
              f"{pl['peak_rss_mb']:.0f} MB | {pr['wall_s']:.1f} s | {full} | "
              f"{st['decode_s']:.1f} / {st['metrics_s']:.1f} / {st['wall_s']:.1f} s / "
              f"{st['peak_rss_mb']:.0f} MB | {st['views_mb']:.0f} MB | "
              f"{st['wall_s'] / pl['wall_s']:.2f} / {st['wall_s'] / pr['wall_s']:.2f} |")


if __name__ == "__main__":
    main()
