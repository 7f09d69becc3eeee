"""Streaming decode (issue 17): views built in one pass equal the full decode's, bit for bit;
memory is bounded by the views, not the video."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from vidbench import video as video_io
from vidbench.stream import StreamedClip, decode_views
from vidbench.synthetic import moving_disc
from vidbench.video import ViewSpec, decode, make_view

SPECS = [
    ViewSpec(),                                                       # VBench: every frame
    ViewSpec(fps=8.0, size=32, resize="area"),                        # flow metrics
    ViewSpec(fps=15.0, size=24, resize="area"),                       # physics
    ViewSpec(fps=8.0, num_frames=6, pad=False, size=40, resize="bicubic_aa", crop="center"),
    ViewSpec(fps=8.0, num_frames=16, pad=True, size=(28, 28), resize="bilinear_aa"),
    ViewSpec(fps=24.0, size=20, resize="bilinear"),                   # faster than the source
    ViewSpec(fps=5.0, start=0.4, duration=0.9, size=16, resize="nearest"),
    ViewSpec(num_frames=5, size=20, resize="bicubic"),                # spread over the clip
    ViewSpec(start=0.5, size=18),                                     # every frame after 0.5 s
]


def same_view(a, b) -> None:
    assert a.frames.shape == b.frames.shape, (a.spec, a.frames.shape, b.frames.shape)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    assert (a.fps, a.source_fps, a.source_size) == (b.fps, b.source_fps, b.source_size)


def clips(write_clip):
    disc = moving_disc(30, 48, 12.0, velocity=(40.0, 15.0), texture=1.0, seed=3)
    wide = np.ascontiguousarray(np.concatenate([disc, disc[:, :, :16]], axis=2))  # 48 x 64
    vfr_t = np.array([0.0, 0.1, 0.15, 0.4, 0.5, 0.9, 1.0, 1.3, 1.31, 1.7])
    return [write_clip("a.mp4", wide, 12.0),
            write_clip("vfr.mp4", wide[:10], 10.0, timestamps=vfr_t),
            write_clip("rot.mp4", wide[:12], 24.0, rotation=90),
            write_clip("one.mp4", wide[:1], 8.0)]


def test_streamed_views_equal_full_decode_views(write_clip):
    for p in clips(write_clip):
        before = video_io.DECODE_COUNT
        sc = decode_views(p, SPECS)
        assert video_io.DECODE_COUNT - before == 1
        full = decode(p)
        np.testing.assert_array_equal(sc.timestamps, full.timestamps)
        assert (sc.fps, sc.end_time, sc.size, sc.num_frames) == \
            (full.fps, full.end_time, full.size, full.num_frames)
        for spec in SPECS:
            same_view(sc.view(spec), make_view(full, spec))
        assert "extra_decodes" not in sc.meta  # every view came from the one pass


def test_ten_bit_and_opencv_colour_stream_the_same(tmp_path):
    from test_video_colour import planes, write_yuv

    p = write_yuv(tmp_path / "ten.mp4", planes(6, 32, 48, 10, seed=9), 10, 1)
    for colour in ("vidbench", "opencv"):
        sc = decode_views(p, SPECS[:3], colour=colour)
        full = decode(p, colour=colour)
        for spec in SPECS[:3]:
            same_view(sc.view(spec), make_view(full, spec))


def test_broken_timestamps_fall_back_like_decode(write_clip, monkeypatch):
    """Timestamps that go backwards: both read the clip at k / fps."""
    p = write_clip("b.mp4", moving_disc(8, 32, 8.0, texture=1.0), 8.0)
    real = video_io.iter_frames

    def backwards(*a, **kw):
        for k, (arr, t0, t1) in enumerate(real(*a, **kw)):
            yield arr, (t0 if k != 5 else 0.1), t1

    monkeypatch.setattr(video_io, "iter_frames", backwards)
    sc = decode_views(p, SPECS[:3])
    full = decode(p)  # not patched: its own path (stamps are fine there)
    assert sc.meta["decode_passes"] == 2
    np.testing.assert_allclose(sc.timestamps, np.arange(8) / 8.0)
    for spec in SPECS[:3]:
        same_view(sc.view(spec), make_view(full, spec))


def test_undeclared_view_or_frames_decode_again(write_clip):
    p = write_clip("u.mp4", moving_disc(8, 32, 8.0), 8.0)
    sc = decode_views(p, [SPECS[1]])
    assert isinstance(sc, StreamedClip)
    v = sc.view(SPECS[2])  # a second streamed pass (bounded), not a full decode
    assert sc.meta["extra_decodes"] == 1 and sc._full is None
    same_view(v, make_view(decode(p), SPECS[2]))
    assert sc.view(SPECS[2]) is v and sc.meta["extra_decodes"] == 1  # kept
    assert sc.frames.shape == (8, 32, 32, 3)
    assert sc.meta["extra_decodes"] == 2


def test_a_view_over_the_budget_is_refused_naming_it(write_clip):
    """The budget bounds the views (one decoded frame must fit too), not the video: 16
    frames of 64x64 (196 KB decoded) stream into a 16-frame 16x16 view under a budget of
    that view's 12 KB plus one frame; one byte less and the view is refused by name."""
    p = write_clip("big.mp4", moving_disc(16, 64, 8.0), 8.0)
    small = ViewSpec(fps=8.0, size=16)
    need = 16 * 16 * 16 * 3
    sc = decode_views(p, [small], max_bytes=max(need, 64 * 64 * 3))
    assert sc.view(small).frames.shape == (16, 16, 16, 3)
    with pytest.raises(video_io.VideoDecodeError, match="over the limit"):
        decode(p, max_bytes=max(need, 64 * 64 * 3))  # the full decode does not fit
    big = ViewSpec(fps=8.0, size=40)
    with pytest.raises(video_io.ViewTooLargeError, match="size=40"):
        decode_views(p, [small, big], max_bytes=64 * 64 * 3 * 4)


def _peak_of(path, as_limit_gb: float) -> dict:
    code = textwrap.dedent(f"""
        import json, resource
        b = int({as_limit_gb} * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (b, b))
        from vidbench.stream import decode_views
        from vidbench.video import ViewSpec
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        sc = decode_views({str(path)!r}, [ViewSpec(fps=8.0, size=32, resize="area"),
                                          ViewSpec(fps=8.0, num_frames=8, size=24)])
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({{"frames": sc.num_frames, "delta_kb": peak - base,
                          "view": sc.view(ViewSpec(fps=8.0, size=32, resize="area"))
                          .frames.nbytes}}))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1",
                                            "VIDBENCH_MAX_DECODE_GB": "0.05"})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert proc.returncode == 0 and lines, proc.stderr[-2000:]
    return json.loads(lines[-1])


def _write_fast(path, n: int, h: int = 360, w: int = 640):
    """``n`` frames of a scrolling random texture, x264 ultrafast (quick to write)."""
    import av

    base = np.random.default_rng(0).integers(0, 255, (h, w, 3), np.uint8)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": "ultrafast", "crf": "40"}
        for k in range(n):
            f = av.VideoFrame.from_ndarray(np.roll(base, 3 * k, axis=1), format="rgb24")
            for pk in s.encode(f):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    return path


@pytest.mark.slow
def test_memory_does_not_grow_with_duration(tmp_path):
    """A 640x360 clip of 40 and of 400 frames, each streamed in a fresh process under a
    1.5 GiB address-space limit and a 0.05 GiB budget (the long clip's full decode, 276 MB,
    is refused by it): peak RSS grows by less than the long clip's extra view bytes plus
    16 MB, not by its 249 MB of extra frames."""
    paths = [_write_fast(tmp_path / f"d{n}.mp4", n) for n in (40, 400)]
    with pytest.raises(video_io.VideoDecodeError, match="over the limit"):
        decode(paths[1], max_bytes=int(0.05 * 2**30))
    short, long_ = (_peak_of(p, 1.5) for p in paths)
    assert (short["frames"], long_["frames"]) == (40, 400)
    growth = (long_["delta_kb"] - short["delta_kb"]) * 1024
    assert growth < long_["view"] - short["view"] + 16 * 2**20, (short, long_)


def test_runner_streams_with_the_same_scores_and_one_decode(tmp_path, monkeypatch):
    """`score` with streamable metrics: one streamed decode per video, and videos.jsonl
    scores equal to a run on the full decode (VIDBENCH_STREAM=0)."""
    from vidbench.manifest import write_manifest
    from vidbench.registry import get_metric
    from vidbench.results import read_video_records
    from vidbench.runner import ScoreConfig, score, stream_specs
    from vidbench.video import write_video

    root = tmp_path / "v"
    root.mkdir()
    entries = []
    for i in range(3):
        fr = moving_disc(10 + 4 * i, 64, 8.0 + 4 * i, velocity=(6.0 * i, 2.0), texture=1.0,
                         seed=i)
        write_video(root / f"v{i}.mp4", fr, 8.0 + 4 * i)
        entries.append({"video": f"v{i}.mp4", "prompt": "p", "item": f"i{i}", "meta": {}})
    manifest = write_manifest(root / "manifest.jsonl", entries)
    metrics = ["temporal_flicker", "motion_smoothness"]
    assert stream_specs([get_metric(m) for m in metrics], []) is not None
    cfg = dict(metrics=metrics, progress=False)
    before = video_io.DECODE_COUNT
    score(manifest, tmp_path / "stream", ScoreConfig(**cfg))
    assert video_io.DECODE_COUNT - before == 3
    monkeypatch.setenv("VIDBENCH_STREAM", "0")
    score(manifest, tmp_path / "full", ScoreConfig(**cfg))
    a = read_video_records(tmp_path / "stream" / "videos.jsonl")
    b = read_video_records(tmp_path / "full" / "videos.jsonl")
    assert [r["source"]["decoder"] for r in a] == ["pyav-stream"] * 3
    assert [r["source"]["decoder"] for r in b] == ["pyav"] * 3
    for ra, rb in zip(a, b, strict=True):
        assert ra["scores"] == rb["scores"] and ra["details"] == rb["details"]


def test_declared_views_stream_and_full_size_views_do_not():
    from vidbench.registry import get_metric
    from vidbench.runner import stream_specs

    flick = get_metric("temporal_flicker")
    assert stream_specs([flick], []) == [flick.view_spec()]
    # dynamic_degree declares its every-source-frame view at 128 px (view_specs)
    dd = get_metric("dynamic_degree")
    assert stream_specs([flick, dd], []) == [flick.view_spec(), *dd.view_specs()]
    physics = get_metric("physics_consistency")  # version 4 reads two small views
    assert stream_specs([flick, physics], []) == [flick.view_spec(), *physics.view_specs()]
    # vbench mode's view is every frame at full size: no smaller than the clip
    assert stream_specs([get_metric("temporal_flicker", mode="vbench")], []) is None


def test_frames_no_view_shows_are_not_converted(write_clip, monkeypatch):
    """A 24 fps clip streamed into an 8 fps view converts only the frames the view shows
    (every third), not all 48."""
    p = write_clip("c24.mp4", moving_disc(48, 32, 24.0, texture=1.0), 24.0)
    calls = []
    real = video_io.LazyFrame.rgb

    def counted(self):
        if self._rgb is None:
            calls.append(1)
        return real(self)

    monkeypatch.setattr(video_io.LazyFrame, "rgb", counted)
    spec = ViewSpec(fps=8.0, size=16)
    sc = decode_views(p, [spec])
    assert sc.view(spec).num_frames == 16
    assert len(calls) == 16
    monkeypatch.setattr(video_io.LazyFrame, "rgb", real)
    same_view(sc.view(spec), make_view(decode(p), spec))


def test_container_facts_equal_the_decoded_clip_facts(write_clip):
    """Frame count, timestamps, fps and duration from the packets alone (no decoding) are
    the decoder's, on constant and variable frame rates and a rotated clip."""
    from vidbench.stream import container_facts

    for p in clips(write_clip):
        facts, clip = container_facts(p), decode(p)
        assert facts is not None
        assert facts.num_frames == clip.num_frames
        np.testing.assert_array_equal(facts.timestamps, clip.timestamps)
        assert (facts.fps, facts.duration) == (clip.fps, clip.duration)


def test_fvd_clip_is_planned_from_container_facts_and_streamed(write_clip):
    """The FVD family's clip (a seeded start that depends on the video's length) is planned
    from the packets, streamed with the other views and served from the one decode when the
    plan equals the decoded clip's spec; a plan that does not match (here: planned for
    another video id) costs a second streamed pass, counted, with the same view."""
    from vidbench.metrics.fvd import FVD
    from vidbench.registry import VideoContext
    from vidbench.runner import _timed_decode, stream_specs

    fvd = FVD(random_weights=True)
    flick_spec = ViewSpec(fps=8.0, size=32, resize="area")
    p = write_clip("long.mp4", moving_disc(60, 48, 12.0, texture=1.0, seed=5), 12.0)
    full = decode(p)
    want = fvd.clip_spec(VideoContext(full, video="long.mp4"))
    assert want.start > 0  # the seeded start moved: the plan needs the clip's length
    dec = _timed_decode({}, "vidbench", [flick_spec], [fvd], {str(p): "long.mp4"})
    before = video_io.DECODE_COUNT
    sc = dec(p)
    ctx = VideoContext(sc, video="long.mp4")
    spec = fvd.clip_spec(ctx)
    assert spec == want and spec in sc.specs
    same_view(ctx.view(spec), make_view(full, spec))
    assert "extra_decodes" not in sc.meta and video_io.DECODE_COUNT - before == 1
    # planned for another id: the decoded clip's spec differs, a second streamed pass
    sc2 = _timed_decode({}, "vidbench", [flick_spec], [fvd], {str(p): "other.mp4"})(p)
    v = VideoContext(sc2, video="long.mp4").view(want)
    assert sc2.meta["extra_decodes"] == 1
    same_view(v, make_view(full, want))
    # set metrics with a plan no longer force the full decode
    assert stream_specs([], [fvd]) == []


def test_long_clip_scored_by_the_weight_free_battery_in_one_streamed_decode(tmp_path,
                                                                             monkeypatch):
    """A 12 s clip scored by the weight-free battery: one streamed decode (no second pass),
    and videos.jsonl equal to the full decode's. dynamic_degree joins when it declares its
    views (it reads full-resolution source frames until then, which forces the full
    decode: asserted, so the test notices the day it streams)."""
    from vidbench.manifest import write_manifest
    from vidbench.registry import get_metric
    from vidbench.results import read_video_records
    from vidbench.runner import ScoreConfig, score, stream_specs

    root = tmp_path / "v"
    root.mkdir()
    _write_fast(root / "long.mp4", 360, 96, 160)
    manifest = write_manifest(root / "manifest.jsonl",
                              [{"video": "long.mp4", "prompt": "p", "item": "i", "meta": {}}])
    metrics = ["temporal_flicker", "motion_smoothness", "physics_consistency"]
    if stream_specs([get_metric("dynamic_degree")], []) is not None:
        metrics.append("dynamic_degree")
    assert stream_specs([get_metric(m) for m in metrics], []) is not None
    before = video_io.DECODE_COUNT
    score(manifest, tmp_path / "stream", ScoreConfig(metrics=metrics, progress=False))
    assert video_io.DECODE_COUNT - before == 1
    monkeypatch.setenv("VIDBENCH_STREAM", "0")
    score(manifest, tmp_path / "full", ScoreConfig(metrics=metrics, progress=False))
    (a,) = read_video_records(tmp_path / "stream" / "videos.jsonl")
    (b,) = read_video_records(tmp_path / "full" / "videos.jsonl")
    assert (a["source"]["decoder"], a["source"]["decodes"]) == ("pyav-stream", 1)
    assert a["source"]["frames"] == 360 and a["error"] is None
    assert set(a["scores"]) == set(metrics)
    assert a["scores"] == b["scores"] or all(
        (x == y) or (x != x and y != y) for x, y in
        zip(a["scores"].values(), b["scores"].values(), strict=True))
    assert a["details"] == b["details"]
