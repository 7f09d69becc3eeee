"""Files whose metadata asks for absurd memory: a 4-frame clip at 0.001 fps (a 4000 s
duration), many small frames. Every allocation they drive is checked first; the decode's
peak is one array, not a list plus its stacked copy. Measured in subprocesses, under
``resource.setrlimit(RLIMIT_AS)`` where an unbounded allocation would die."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from vidbench import video as video_io
from vidbench.errors import UserError

from .helpers import clip, manifest, one_line_error, vidbench

GIB = 2**30


@pytest.fixture(scope="module")
def slow_clip(tmp_path_factory) -> Path:
    """4 frames of 256x256 at 0.001 fps: a 4000 s video in a few hundred KB."""
    d = tmp_path_factory.mktemp("slow")
    f = np.random.default_rng(0).integers(0, 255, (4, 256, 256, 3), dtype=np.uint8)
    return video_io.write_video(d / "slow.mp4", f, 0.001)


def _child(code: str, as_limit_gb: float | None, env: dict | None = None
           ) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter, its address space capped at ``as_limit_gb``;
    it prints one JSON line."""
    pre = textwrap.dedent(f"""
        import json, resource, sys
        lim = {as_limit_gb!r}
        if lim:
            b = int(lim * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (b, b))
    """)
    import os

    return subprocess.run([sys.executable, "-c", pre + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})


def _result(proc: subprocess.CompletedProcess) -> dict:
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert proc.returncode == 0 and lines, (proc.returncode, proc.stderr[-3000:])
    return json.loads(lines[-1])


@pytest.mark.parametrize("spec", ["fps=15.0, size=128", "fps=8.0", "fps=30.0, size=(64, 64)"],
                         ids=["physics-view", "fps8", "fps30-64px"])
def test_view_of_a_4000_second_clip_is_refused_before_allocating(slow_clip: Path, spec: str
                                                                 ) -> None:
    proc = _child(f"""
        from vidbench.video import ViewSpec, ViewTooLargeError, decode, make_view
        c = decode({str(slow_clip)!r})
        try:
            v = make_view(c, ViewSpec({spec}))
            print(json.dumps({{"frames": v.num_frames}}))
        except ViewTooLargeError as e:
            print(json.dumps({{"refused": str(e)}}))
    """, as_limit_gb=1.5, env={"VIDBENCH_MAX_DECODE_GB": "0.25"})
    r = _result(proc)
    assert "refused" in r, r
    assert "over the limit" in r["refused"]


def test_view_frame_count_is_bounded_even_for_tiny_frames() -> None:
    ts = np.array([0.0, 1e12])
    with pytest.raises(video_io.ViewTooLargeError, match="frames"):
        video_io.sample_indices(ts, 2e12, video_io.ViewSpec(fps=30.0))


@pytest.mark.slow
def test_decode_peak_is_one_array_not_two(tmp_path: Path) -> None:
    import av

    p = tmp_path / "many.mkv"
    out = av.open(str(p), "w")
    s = out.add_stream("libx264", rate=30)
    s.width, s.height, s.pix_fmt = 256, 256, "yuv420p"
    s.options = {"preset": "ultrafast", "crf": "40"}
    frame = np.zeros((256, 256, 3), np.uint8)
    for _ in range(1200):
        for pkt in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            out.mux(pkt)
    for pkt in s.encode():
        out.mux(pkt)
    out.close()
    proc = _child(f"""
        from vidbench.video import decode
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        c = decode({str(p)!r})
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({{"nbytes": c.frames.nbytes, "delta": (peak - base) * 1024}}))
    """, as_limit_gb=None)
    r = _result(proc)
    assert r["nbytes"] == 1200 * 256 * 256 * 3
    # a frame list plus its np.stack copy peaked at ~2.2x; one array is ~1x
    assert r["delta"] < 1.4 * r["nbytes"], r


def test_decode_budget_is_checked_before_the_array(tmp_path: Path) -> None:
    p = clip(tmp_path / "a.mp4", n=16)
    with pytest.raises(video_io.VideoDecodeError, match="over the limit"):
        video_io.decode(p, max_bytes=16 * 32 * 32 * 3 - 1)
    assert video_io.decode(p, max_bytes=16 * 32 * 32 * 3).num_frames == 16


def test_frame_size_is_checked_before_the_first_frame_is_converted(tmp_path: Path,
                                                                   monkeypatch) -> None:
    import av

    p = clip(tmp_path / "a.mp4", n=2)
    calls = []
    real = av.VideoFrame.to_ndarray

    def spy(self, *a, **kw):
        calls.append(1)
        return real(self, *a, **kw)

    monkeypatch.setattr(av.VideoFrame, "to_ndarray", spy)
    with pytest.raises(video_io.VideoDecodeError, match="over the limit"):
        video_io.decode(p, max_bytes=32 * 32 * 3 - 1)
    assert not calls  # refused from the declared size, no frame materialised


@pytest.mark.parametrize("value", ["abc", "nan", "inf", "1e400", "", "-1", "0"])
def test_bad_max_decode_gb_is_a_user_error(monkeypatch: pytest.MonkeyPatch, value: str
                                           ) -> None:
    monkeypatch.setenv("VIDBENCH_MAX_DECODE_GB", value)
    with pytest.raises(UserError, match="VIDBENCH_MAX_DECODE_GB"):
        video_io.max_decode_bytes()


def test_bad_max_decode_gb_via_cli_is_one_line(tmp_path: Path) -> None:
    d = tmp_path / "d"
    clip(d / "a.mp4")
    manifest(d, ["a.mp4"])
    proc = vidbench(["score", str(d), "--out", str(tmp_path / "out"), "--metrics",
                     "test_mean_luma"], tmp_path, env_extra={"VIDBENCH_MAX_DECODE_GB": "nan"})
    assert "VIDBENCH_MAX_DECODE_GB" in one_line_error(proc)
    assert not (tmp_path / "out" / "videos.jsonl").exists()
