"""The decoder's cost at K = 1 (issue 21, fix 6): one demux pass, thread settings that do not
oversubscribe, views that share the decoded frames instead of copying them."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np
import pytest

from vidbench import video as video_io
from vidbench.errors import UserError
from vidbench.synthetic import moving_disc
from vidbench.video import ViewSpec, decode, make_view


class _Stream:
    """What decode_threads reads of a PyAV stream."""

    def __init__(self, frames: int, w: int, h: int, duration=None) -> None:
        self.frames = frames
        self.duration, self.time_base, self.average_rate = duration, Fraction(1, 1000), 30

        class _CC:
            width, height = w, h

        self.codec_context = _CC()


def test_threads_one_for_short_clips_or_one_core(monkeypatch):
    monkeypatch.delenv("VIDBENCH_DECODE_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7})
    assert video_io.decode_threads(_Stream(48, 512, 320)) == 1  # 2 s at 320p
    assert video_io.decode_threads(_Stream(600, 1920, 1080)) == 4  # 20 s 1080p, capped
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})  # taskset -c 3
    assert video_io.decode_threads(_Stream(600, 1920, 1080)) == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert video_io.decode_threads(_Stream(600, 1920, 1080)) == 2
    # no declared frame count (mkv): the declared duration x rate stands in
    assert video_io.decode_threads(_Stream(0, 1920, 1080, duration=20_000)) == 2
    assert video_io.decode_threads(_Stream(0, 1920, 1080, duration=None)) == 1


@pytest.mark.parametrize("raw,want", [("0", 0), ("3", 3), ("x", None), ("-1", None),
                                      ("65", None)])
def test_decode_threads_override(monkeypatch, raw, want):
    monkeypatch.setenv("VIDBENCH_DECODE_THREADS", raw)
    if want is None:
        with pytest.raises(UserError, match="VIDBENCH_DECODE_THREADS"):
            video_io.decode_threads(_Stream(1, 2, 2))
    else:
        assert video_io.decode_threads(_Stream(1, 2, 2)) == want


def test_threaded_and_single_threaded_decodes_are_identical(write_clip, monkeypatch):
    p = write_clip("t.mp4", moving_disc(24, 64, 8.0, texture=1.0), 8.0)
    monkeypatch.setenv("VIDBENCH_DECODE_THREADS", "1")
    a = decode(p)
    monkeypatch.setenv("VIDBENCH_DECODE_THREADS", "2")
    b = decode(p)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.timestamps, b.timestamps)


def test_mp4_is_demuxed_once_mkv_counts_its_packets(write_clip, tmp_path, monkeypatch):
    """mp4 declares its frame count: no counting pass. mkv declares none: packets are
    counted first (demux only) and the frames are the same."""
    frames = moving_disc(10, 64, 8.0, texture=1.0)
    mp4 = write_clip("a.mp4", frames, 8.0)
    calls = []
    real = video_io._count_packets
    monkeypatch.setattr(video_io, "_count_packets", lambda *a: calls.append(a) or real(*a))
    a = decode(mp4)
    assert calls == []
    mkv = tmp_path / "a.mkv"
    with av.open(str(mp4)) as src, av.open(str(mkv), "w") as dst:
        s = dst.add_stream_from_template(src.streams.video[0])
        for pkt in src.demux(src.streams.video[0]):
            if pkt.dts is not None:
                pkt.stream = s
                dst.mux(pkt)
    b = decode(mkv)
    assert len(calls) == 1
    np.testing.assert_array_equal(a.frames, b.frames)


def test_more_frames_than_declared_grow_the_array(write_clip, monkeypatch):
    """A container that under-declares its frames still decodes them all (the array
    grows, within the budget)."""
    frames = moving_disc(40, 32, 8.0, texture=1.0)
    p = write_clip("g.mp4", frames, 8.0)
    full = decode(p)
    monkeypatch.setattr(video_io, "_frame_hint", lambda s, path: 3)
    grown = decode(p)
    np.testing.assert_array_equal(grown.frames, full.frames)
    with pytest.raises(video_io.VideoDecodeError, match="over the limit"):
        decode(p, max_bytes=20 * 32 * 32 * 3)


def test_every_frame_view_shares_memory_and_others_copy():
    clip = video_io.Clip.from_array(
        np.random.default_rng(0).integers(0, 255, (12, 16, 24, 3), np.uint8), 8.0)
    v = make_view(clip, ViewSpec())
    assert np.shares_memory(v.frames, clip.frames) and v.frames.shape == clip.frames.shape
    np.testing.assert_array_equal(v.frames, clip.frames)
    head = make_view(clip, ViewSpec(num_frames=12))
    assert np.shares_memory(head.frames, clip.frames)
    strided = make_view(clip, ViewSpec(fps=4.0))  # every other frame: gathered
    assert not np.shares_memory(strided.frames, clip.frames)
    np.testing.assert_array_equal(strided.frames, clip.frames[::2])
    small = make_view(clip, ViewSpec(size=8))
    assert not np.shares_memory(small.frames, clip.frames)


def test_timestamps_equal_pyavs_frame_time(tmp_path):
    """Start times computed without Fractions equal PyAV's own ``frame.time`` and end times
    ``float(duration * time_base)``, on a variable-frame-rate file with a 1/90000 base."""
    p = tmp_path / "vfr.mp4"
    ts = [0, 3003, 6006, 12012, 13013, 30030, 31031]
    with av.open(str(p), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        s.codec_context.time_base = Fraction(1, 90000)
        for i, t in enumerate(ts):
            f = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 20 * i, np.uint8), "rgb24")
            f.pts, f.time_base = t, Fraction(1, 90000)
            for pk in s.encode(f):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    with av.open(str(p)) as c:
        ref = [(f.time, float(f.duration * f.time_base)) for f in c.decode(video=0)]
    clip = decode(p)
    assert list(clip.timestamps) == [r[0] for r in ref]
    assert clip.end_time == ref[-1][0] + ref[-1][1]
