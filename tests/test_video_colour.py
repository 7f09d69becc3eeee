"""How decoded YUV becomes RGB (docs/decoding.md): the matrix and range from the stream's
tags (untagged: BT.601, limited), 8-bit through libswscale as OpenCV and decord do, and more
than 8 bits rounded (not truncated) to 8 bits first. Files are written losslessly (x264
``qp=0``) from YUV planes made here, so the decoded planes are known exactly and the RGB is
checked against a float64 conversion of them written out below."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vidbench.video import colour_rule, decode

#: (Kr, Kb) of the matrices tested
KRKB = {"601": (0.299, 0.114), "709": (0.2126, 0.0722)}
#: AVColorSpace tags
TAG = {"601": 6, "709": 1}


def planes(n: int, h: int, w: int, bits: int, seed: int = 0) -> list[tuple[np.ndarray, ...]]:
    """Smooth moving YUV 4:2:0 content in limited range at ``bits`` bits, with random low
    bits so that rounding and truncation to 8 bits differ."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    sc = 1 << (bits - 8)
    out = []
    for i in range(n):
        y = 16 + 219 * (0.5 + 0.45 * np.sin(xx / 9.0 + i / 3.0) * np.cos(yy / 13.0))
        u = 128 + 100 * np.sin(xx[::2, ::2] / 17.0 + yy[::2, ::2] / 23.0 + i / 5.0)
        v = 128 + 100 * np.cos(xx[::2, ::2] / 11.0 - i / 4.0)
        q = [np.clip(np.rint(c * sc) + rng.integers(-sc // 2, sc // 2 + 1, c.shape), 0,
                     (1 << bits) - 1).astype(np.uint16 if bits > 8 else np.uint8)
             for c in (y, u, v)]
        out.append(tuple(q))
    return out


def write_yuv(path: Path, frames, bits: int, tag: int | None) -> Path:
    """Lossless H.264 of YUV 4:2:0 planes; ``tag``: AVColorSpace written into the stream."""
    fmt = "yuv420p10le" if bits == 10 else "yuv420p"
    h, w = frames[0][0].shape
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=8)
        s.width, s.height, s.pix_fmt = w, h, fmt
        s.options = {"qp": "0", "threads": "1"}
        if tag is not None:
            s.codec_context.colorspace = tag
            s.codec_context.color_range = 1
        for i, (y, u, v) in enumerate(frames):
            a = np.concatenate([y, u.reshape(h // 4, w), v.reshape(h // 4, w)])
            f = av.VideoFrame.from_ndarray(a, format=fmt)
            f.pts, f.time_base = i, Fraction(1, 8)
            if tag is not None:
                f.colorspace, f.color_range = tag, 1
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def reference_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, bits: int,
                  matrix: str) -> np.ndarray:
    """Float64 limited-range YUV 4:2:0 -> RGB (chroma repeated over its 2x2 block), rounded:
    the textbook conversion, independent of libswscale."""
    sc = float(1 << (bits - 8))
    kr, kb = KRKB[matrix]
    yf = (y / sc - 16.0) * 255.0 / 219.0
    uf = (u.repeat(2, 0).repeat(2, 1) / sc - 128.0) * 255.0 / 224.0
    vf = (v.repeat(2, 0).repeat(2, 1) / sc - 128.0) * 255.0 / 224.0
    r = yf + 2 * (1 - kr) * vf
    b = yf + 2 * (1 - kb) * uf
    g = (yf - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.rint(np.stack([r, g, b], -1)), 0, 255).astype(np.uint8)


def decoded_planes(path: Path):
    with av.open(str(path)) as c:
        out = []
        for f in c.decode(video=0):
            dt = np.uint16 if "10" in f.format.name else np.uint8
            ps = []
            for p in f.planes:
                a = np.frombuffer(p, dt).reshape(p.height, p.line_size // dt().itemsize)
                ps.append(a[:, :p.width].copy())
            out.append(tuple(ps))
    return out


@pytest.mark.parametrize("bits", [8, 10])
@pytest.mark.parametrize("matrix,tagged,size", [("601", False, (48, 64)),
                                                ("601", True, (48, 64)),
                                                ("709", True, (48, 64)),
                                                ("601", False, (720, 1280))])
def test_rgb_matches_reference_conversion(tmp_path, bits, matrix, tagged, size):
    """The matrix is the tagged one (untagged: BT.601, HD included); RGB within a few levels
    of the float conversion of the decoded planes (libswscale's fixed point sits 0-3 below;
    at 10 bits the rounding to 8-bit samples adds up to about 1.5 either way), and the other
    matrix is far off, so the check can fail."""
    h, w = size
    src = planes(3 if h > 100 else 4, h, w, bits)
    p = write_yuv(tmp_path / f"c{bits}.mp4", src, bits, TAG[matrix] if tagged else None)
    got = decoded_planes(p)
    for a, b in zip(got, src, strict=True):  # lossless: the planes are the ones written
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    clip = decode(p)
    other = "709" if matrix == "601" else "601"
    for k, (y, u, v) in enumerate(got):
        ref = reference_rgb(y.astype(np.float64), u, v, bits, matrix)
        d = clip.frames[k].astype(int) - ref
        lo, hi = (-3, 1) if bits == 8 else (-4, 2)
        assert d.max() <= hi and d.min() >= lo, (d.min(), d.max())
        assert np.abs(d).mean() < 1.2
        wrong = reference_rgb(y.astype(np.float64), u, v, bits, other)
        assert np.abs(clip.frames[k].astype(int) - wrong).max() > 10


def test_ten_bit_reads_as_its_rounded_eight_bit_samples(tmp_path):
    """A 10-bit file gives exactly the RGB of the 8-bit file holding its samples rounded to
    8 bits; truncated samples (v >> 2) give a different picture."""
    src10 = planes(4, 32, 48, 10, seed=1)
    rounded = [tuple(np.minimum((c.astype(np.uint32) + 2) >> 2, 255).astype(np.uint8)
                     for c in f) for f in src10]
    truncated = [tuple((c >> 2).astype(np.uint8) for c in f) for f in src10]
    a = decode(write_yuv(tmp_path / "ten.mp4", src10, 10, 1))
    b = decode(write_yuv(tmp_path / "eight.mp4", rounded, 8, 1))
    t = decode(write_yuv(tmp_path / "trunc.mp4", truncated, 8, 1))
    assert a.meta["pix_fmt"] == "yuv420p10le" and b.meta["pix_fmt"] == "yuv420p"
    np.testing.assert_array_equal(a.frames, b.frames)
    assert (a.frames != t.frames).mean() > 0.1


def test_eight_bit_equals_opencv_and_ten_bit_is_nearer_the_reference(tmp_path):
    """OpenCV (VBench's reader for flicker, motion, dynamic degree) reads 8-bit exactly as
    vidbench does. At 10 bits it interpolates chroma bicubically and dithers: measured 2.6-2.9
    levels mean from the float reference where vidbench is 0.7 (docs/decoding.md)."""
    cv2 = pytest.importorskip("cv2")

    def opencv(p):
        cap = cv2.VideoCapture(str(p))
        out = []
        while True:
            ok, im = cap.read()
            if not ok:
                return np.stack(out).astype(int)
            out.append(im[..., ::-1])

    for bits in (8, 10):
        p = write_yuv(tmp_path / f"cv{bits}.mp4", planes(4, 48, 64, bits, seed=2), bits, None)
        ours, theirs = decode(p).frames.astype(int), opencv(p)
        if bits == 8:
            np.testing.assert_array_equal(ours, theirs)
            continue
        ref = np.stack([reference_rgb(y.astype(np.float64), u, v, bits, "601")
                        for y, u, v in decoded_planes(p)])
        assert np.abs(ours - ref).mean() < 1.0
        assert np.abs(ours - ref).mean() < np.abs(theirs - ref).mean()
        assert np.abs(ours - theirs).mean() < 4.0


@pytest.mark.parametrize("tag,range_tag,fmt,want", [
    (2, 0, "yuv420p", ("ITU601", "MPEG")), (1, 1, "yuv420p", ("ITU709", "MPEG")),
    (5, 2, "yuv420p", ("ITU601", "JPEG")), (9, 0, "yuv420p10le", ("BT2020", "MPEG")),
    (2, 0, "yuvj420p", ("ITU601", "JPEG"))])
def test_colour_rule_reads_the_tags(tag, range_tag, fmt, want):
    f = av.VideoFrame(16, 16, fmt)
    f.colorspace, f.color_range = tag, range_tag
    assert colour_rule(f) == want


def test_opencv_colour_reproduces_cv2_at_ten_bits(tmp_path):
    """colour="opencv" (what vbench mode decodes with) is cv2.VideoCapture's picture, bit
    for bit, at 8 and 10 bits, tagged or not."""
    cv2 = pytest.importorskip("cv2")
    for bits, tag in ((8, None), (10, None), (10, 1)):
        p = write_yuv(tmp_path / f"o{bits}{tag}.mp4", planes(3, 48, 64, bits, seed=4), bits, tag)
        cap = cv2.VideoCapture(str(p))
        ref = []
        while True:
            ok, im = cap.read()
            if not ok:
                break
            ref.append(im[..., ::-1])
        np.testing.assert_array_equal(decode(p, colour="opencv").frames, np.stack(ref))


def test_vbench_mode_flicker_equals_vbench_on_ten_bit(tmp_path):
    """End to end through the runner's choice for vbench mode: temporal flicker on a lossy
    10-bit clip equals VBench's own ``cal_score`` (OpenCV decode) to 1e-6."""
    tf = pytest.importorskip("vbench.temporal_flickering")
    from vidbench.registry import VideoContext, get_metric
    from vidbench.runner import decode_colour

    p = tmp_path / "lossy10.mp4"
    src = planes(8, 64, 96, 10, seed=6)
    with av.open(str(p), "w") as c:
        s = c.add_stream("libx264", rate=8)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p10le"
        s.options = {"crf": "20", "threads": "1"}
        for i, (y, u, v) in enumerate(src):
            f = av.VideoFrame.from_ndarray(np.concatenate([y, u.reshape(16, 96),
                                                           v.reshape(16, 96)]),
                                           format="yuv420p10le")
            f.pts, f.time_base = i, Fraction(1, 8)
            for pk in s.encode(f):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    m = get_metric("temporal_flicker", mode="vbench")
    got = m.score(VideoContext(decode(p, colour=decode_colour("vbench")))).value
    assert got == pytest.approx(tf.cal_score(str(p)), abs=1e-6)
