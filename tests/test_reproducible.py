"""Same bytes, same numbers: encoding and generation do not depend on heap history, thread
count or process; the install reports what it runs on; a newcomer's first commands behave."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from vidbench.progress import Progress
from vidbench.video import write_video

VIDBENCH = [sys.executable, "-m", "vidbench"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def _cli(*args: str, env: dict | None = None, cwd: Path | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("CI", None)
    return subprocess.run([*VIDBENCH, *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=timeout)


# ----------------------------------------------------------------------------- encoding


def _physics_clips() -> list[np.ndarray]:
    """physics-mini's ground truth and its constant-velocity extrapolation: 24 small clips
    on which libx264's defaults (mbtree) gave 2-4 different files for 3-6 clips in every one
    of 3 processes that encoded each 6 times."""
    from vidbench.adapters import get_model
    from vidbench.suites import get_suite

    items = get_suite("physics-mini").items
    return [get_model(spec).generate_one(it).frames
            for spec in ("physics-gt", "baseline:constant-velocity") for it in items]


def test_write_video_bytes_are_a_function_of_the_frames(tmp_path):
    clips = _physics_clips()
    seen: list[set[str]] = [set() for _ in clips]
    for rep in range(6):
        for i, frames in enumerate(clips):
            p = write_video(tmp_path / f"v{i}.mp4", frames, 8.0)
            seen[i].add(_sha(p))
            if rep == 0:
                _decode(p)  # a decode between encodes, as in `vidbench run`
    assert [len(s) for s in seen] == [1] * len(clips)


@pytest.mark.parametrize("size,pix_fmt", [(32, "yuv420p"), (33, "yuv444p")])
def test_write_video_bytes_do_not_depend_on_what_ran_before(tmp_path, size, pix_fmt):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (16, size, size, 3), dtype=np.uint8)
    frames[:, 8:16, 8:16] = 200
    hashes, pixels = set(), set()
    for i in range(8):
        p = write_video(tmp_path / f"v{i}.mp4", frames, 8.0, pix_fmt=pix_fmt)
        hashes.add(_sha(p))
        decoded = _decode(p)
        pixels.add(hashlib.sha256(decoded.tobytes()).hexdigest())
        junk = [np.empty(rng.integers(1, 1 << 16), np.uint8) for _ in range(8)]
        del junk
    assert len(hashes) == 1 and len(pixels) == 1


def test_write_video_stays_faithful(tmp_path):
    """The explicit RGB -> YUV step keeps the encoder's fidelity (CRF 18 on a smooth clip)."""
    y, x = np.mgrid[0:48, 0:64]
    frames = np.stack([np.stack([(x * 4 + k) % 256, (y * 5) % 256, (x + y + 3 * k) % 256],
                                axis=-1).astype(np.uint8) for k in range(12)])
    decoded = _decode(write_video(tmp_path / "g.mp4", frames, 12.0))
    assert decoded.shape == frames.shape
    assert np.abs(decoded.astype(int) - frames).mean() < 3.0


# ----------------------------------------------------------------------------- generation


@pytest.mark.slow
def test_run_is_byte_identical_across_processes_and_thread_counts(tmp_path):
    """`vidbench run` of the reference DiT in two processes, OMP_NUM_THREADS=1 and 2: every
    video has the same sha256 and every score is the same number."""
    outs = {}
    for threads in ("1", "2"):
        out = tmp_path / f"t{threads}"
        r = _cli("run", "--out", str(out), "--quiet",
                 env={"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        outs[threads] = out
    a, b = outs["1"], outs["2"]
    videos_a = sorted(p.relative_to(a) for p in (a / "videos").iterdir())
    assert len(videos_a) == 12
    assert videos_a == sorted(p.relative_to(b) for p in (b / "videos").iterdir())
    assert [_sha(a / v) for v in videos_a] == [_sha(b / v) for v in videos_a]

    def scores(out: Path) -> dict:
        recs = [json.loads(line) for line in (out / "videos.jsonl").read_text().splitlines()]
        return {r["item"]: r["scores"] for r in recs}

    assert scores(a) == scores(b)
    ra, rb = (json.loads((o / "result.json").read_text()) for o in (a, b))
    assert {k: (m["value"], m["ci95"]) for k, m in ra["metrics"].items()} == \
        {k: (m["value"], m["ci95"]) for k, m in rb["metrics"].items()}
    assert ra["metrics"]["physics_scenario"]["n"] == 12
    packages = ra["provenance"]["packages"]
    assert packages["torch"] and packages["av"] and packages["numpy"]


def test_dit_adapter_samples_with_its_own_thread_count_and_restores_it():
    import torch

    from vidbench.adapters import get_model
    from vidbench.suites import get_suite

    item = get_suite("physics-mini").items[0]
    before = torch.get_num_threads()
    seen = []
    adapter = get_model("dit?steps=2")
    real = adapter._generate_one

    def spy(it):
        seen.append(torch.get_num_threads())
        return real(it)

    adapter._generate_one = spy
    g1 = adapter.generate_one(item)
    assert seen == [1] and torch.get_num_threads() == before
    assert g1.params["threads"] == 1
    torch.set_num_threads(max(2, before))
    try:
        g2 = adapter.generate_one(item)
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(g1.frames, g2.frames)


# ----------------------------------------------------------------------------- progress


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_progress_lines_when_not_a_terminal():
    clock, buf = _Clock(), io.StringIO()
    with Progress(30, "score", stream=buf, clock=clock, every_s=10.0) as bar:
        assert bar.mode == "lines"  # a StringIO is not a terminal
        for _ in range(30):
            clock.t += 0.5
            bar.update()
    lines = buf.getvalue().splitlines()
    # the first item, every 3rd (a tenth of 30) and the last: 1 + 10 lines
    assert lines[0].startswith("vidbench: progress: score 1/30 videos (3%)")
    assert lines[-1].startswith("vidbench: progress: score 30/30 videos (100%)")
    assert "2 videos/s" in lines[-1] and "ETA" not in lines[-1]
    assert "ETA" in lines[1]
    assert len(lines) == 11


def test_progress_lines_every_ten_seconds_on_a_slow_loop():
    clock, buf = _Clock(), io.StringIO()
    bar = Progress(1000, "generate", stream=buf, clock=clock)
    for _ in range(5):
        clock.t += 12.0
        bar.update()
    assert len(buf.getvalue().splitlines()) == 5  # 100 items per tenth, but 12 s apart
    bar.close()


def test_progress_quiet_prints_nothing(monkeypatch):
    from vidbench import progress

    buf = io.StringIO()
    monkeypatch.setattr(progress, "_QUIET", True)
    with Progress(5, "score", stream=buf) as bar:
        for _ in range(5):
            bar.update()
    assert buf.getvalue() == ""


def test_generate_prints_progress_to_a_pipe_and_quiet_silences_it(tmp_path):
    r = _cli("generate", "--model", "synthetic", "--suite", "synthetic-mini",
             "--out", str(tmp_path / "a"))
    assert r.returncode == 0, r.stderr
    assert "vidbench: progress: generate 8/8 videos (100%)" in r.stderr
    r = _cli("generate", "--model", "synthetic", "--suite", "synthetic-mini",
             "--out", str(tmp_path / "b"), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "vidbench: progress:" not in r.stderr


# ----------------------------------------------------------------------------- papercuts


def test_device_cuda_without_cuda_is_a_user_error(tmp_path, write_clip):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    write_clip("a-0.mp4", np.zeros((8, 32, 32, 3), np.uint8))
    out = tmp_path / "out"
    r = _cli("score", str(tmp_path), "--out", str(out), "--metrics", "temporal_flicker",
             "--device", "cuda")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "no CUDA device" in r.stderr
    assert not (out / "result.json").exists()
    r = _cli("generate", "--model", "dit?device=cuda", "--suite", "physics-mini",
             "--out", str(tmp_path / "g"))
    assert r.returncode == 2 and "no CUDA device" in r.stderr
    r = _cli("score", str(tmp_path), "--out", str(out), "--device", "tpu")
    assert r.returncode == 2 and "--device" in r.stderr


def test_run_accepts_allow_missing(tmp_path):
    src = tmp_path / "gen"
    r = _cli("generate", "--model", "synthetic", "--suite", "synthetic-mini", "--out", str(src))
    assert r.returncode == 0, r.stderr
    manifest = [json.loads(x) for x in (src / "manifest.jsonl").read_text().splitlines()]
    (src / manifest[0]["video"]).unlink()
    (src / "manifest.jsonl").write_text(
        "".join(json.dumps(m) + "\n" for m in manifest[1:]))
    args = ("run", "--model", f"folder:{src}", "--suite", "synthetic-mini",
            "--metrics", "temporal_flicker", "--quiet")
    r = _cli(*args, "--out", str(tmp_path / "strict"))
    assert r.returncode == 2 and "--allow-missing" in r.stderr
    r = _cli(*args, "--out", str(tmp_path / "lenient"), "--allow-missing")
    assert r.returncode == 0, r.stderr
    result = json.loads((tmp_path / "lenient" / "result.json").read_text())
    assert result["metrics"]["temporal_flicker"]["n"] + \
        result["metrics"]["temporal_flicker"].get("n_failed", 0) <= 7


def _write_mpeg(path: Path, frames: np.ndarray, container: str, codec: str) -> None:
    with av.open(str(path), "w", format=container) as c:
        s = c.add_stream(codec, rate=25)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def test_folder_scan_takes_every_container_and_names_what_it_skipped(tmp_path):
    frames = np.zeros((10, 32, 32, 3), np.uint8)
    frames[:, 8:20, 4:12] = 180
    _write_mpeg(tmp_path / "clip-0.mpg", frames, "mpeg", "mpeg1video")
    _write_mpeg(tmp_path / "clip-1.ts", frames, "mpegts", "mpeg2video")
    (tmp_path / "notes.txt").write_text("not a video")
    out = tmp_path / "out"
    r = _cli("score", str(tmp_path), "--out", str(out), "--metrics", "temporal_flicker",
             "--quiet")
    assert r.returncode == 0, r.stderr
    videos = sorted(json.loads(x)["video"] for x in (out / "videos.jsonl").read_text()
                    .splitlines())
    assert videos == ["clip-0.mpg", "clip-1.ts"]
    assert "skipped 1 file(s) that are not videos" in r.stderr and "notes.txt" in r.stderr
    errors = [json.loads(x)["error"] for x in (out / "videos.jsonl").read_text().splitlines()]
    assert errors == [None, None]


def test_metrics_list_imports_no_torch_and_summarises_every_metric():
    code = ("import sys, contextlib, io; from vidbench.cli import main\n"
            "buf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf): rc = main(['metrics', 'list'])\n"
            "print(buf.getvalue()); print('TORCH', 'torch' in sys.modules, rc)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "TORCH False 0" in r.stdout
    from importlib.metadata import distribution

    from vidbench.plugins import METRICS

    shipped = {ep.name for ep in distribution("vidbench").entry_points
               if ep.group == "vidbench.metrics"}
    rows = [line for line in r.stdout.splitlines() if line and not line.startswith("TORCH")]
    assert [row.split()[0] for row in rows] == list(METRICS.order)
    assert set(METRICS.order) == shipped
    for row in rows:
        name, kind, summary = row.split(maxsplit=2)
        assert kind in ("per_video", "set")
        assert len(summary) >= 15 and len(row) <= 130, row
        assert not summary.endswith((",", "(", ":")), row
    kinds = {row.split()[0]: row.split()[1] for row in rows}
    assert kinds["fvd"] == kinds["kvd"] == kinds["cd_fvd"] == "set"
    assert kinds["dynamic_degree"] == "per_video"


def test_missing_dit_checkpoint_fails_before_torch_is_imported(tmp_path):
    code = ("import sys; from vidbench.cli import main\n"
            "rc = main(['generate', '--model', 'dit:/nonexistent/x.safetensors', '--suite', "
            "'physics-mini', '--out', sys.argv[1]])\n"
            "print('RC', rc, 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "o")], capture_output=True,
                       text=True, timeout=60)
    assert "RC 2 False" in r.stdout, r.stdout + r.stderr
    assert "/nonexistent/x.safetensors: no such DiT checkpoint" in r.stderr


def test_version_verbose_names_the_numeric_packages_and_the_lock():
    r = _cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("vidbench ")
    assert r.stdout.count("\n") == 1
    r = _cli("--version", "--verbose")
    assert r.returncode == 0
    import torch

    assert f"torch {torch.__version__.split('+')[0]}" in r.stdout
    for name in ("numpy", "av", "torchvision"):
        assert f"\n{name} " in r.stdout
    assert "lock:" in r.stdout


def test_lock_pins_every_dependency_exactly_and_matches_this_install():
    """The lock is complete (every requirement of pyproject, extras included, pinned with ==)
    and, in this checkout, the numeric packages are installed at their locked versions."""
    from vidbench.environment import LOCK_FILE, lock_drift, locked_versions

    if not LOCK_FILE.is_file():
        pytest.skip("not a source checkout")
    pins = locked_versions()
    lines = [x.strip() for x in LOCK_FILE.read_text().splitlines()
             if x.strip() and not x.lstrip().startswith("#")]
    assert all("==" in x for x in lines), [x for x in lines if "==" not in x]
    import tomllib

    project = tomllib.loads((LOCK_FILE.parent / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in ("dev", "diffusers"):
        wanted += project["optional-dependencies"][extra]
    import re

    for req in wanted:
        name = re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0]
        assert re.sub(r"[-_.]+", "-", name).lower() in pins, f"{name} is not in the lock"
    pinned_torch = [x for x in (LOCK_FILE.parent / "requirements" / "pins.txt").read_text()
                    .splitlines()
                    if x.startswith("torch==")]
    assert pinned_torch and pins["torch"] == pinned_torch[0].split("==")[1]
    assert lock_drift() == {}
