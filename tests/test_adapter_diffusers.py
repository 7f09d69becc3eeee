"""diffusers: adapter. Part 1 drives plain-Python stand-ins for pipelines (keyword mapping,
dropping, batching, uint8 conversion, errors); part 2 builds tiny randomly-initialised
CogVideoX, Wan and LTX-Video pipelines in-process (no download), runs them through the
adapter on two prompts and scores the videos."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vidbench.adapters import get_model
from vidbench.errors import UserError
from vidbench.generate import generate
from vidbench.manifest import read_manifest
from vidbench.models.diffusers_adapter import (
    DiffusersAdapter,
    round_frames,
    round_size,
    to_uint8_videos,
)
from vidbench.suites import Suite, SuiteItem
from vidbench.video import decode

torch = pytest.importorskip("torch")


def _suite(prompts: list[str], *, frames: int = 8, size: tuple[int, int] = (16, 16),
           fps: float = 8.0, **kw) -> Suite:
    return Suite("diff-unit", "", [SuiteItem(item=f"d{i}", prompt=p, seed=10 + i,
                                             num_frames=frames, height=size[0], width=size[1],
                                             fps=fps, **kw) for i, p in enumerate(prompts)])


# ------------------------------------------------------------------ stand-in pipelines


class LatteLike:
    """Takes ``video_length`` (like Latte) and no guidance/negative prompt. Each video is a
    flat grey whose level is (seed % 7 + 1) / 10, so outputs can be traced to seeds."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, prompt, video_length=16, height=64, width=64, num_inference_steps=50,
                 generator=None, output_type="pil"):
        self.calls.append(dict(prompt=prompt, video_length=video_length, height=height,
                               width=width, steps=num_inference_steps, output_type=output_type,
                               generator=generator))
        prompts = prompt if isinstance(prompt, list) else [prompt]
        gens = generator if isinstance(generator, list) else [generator]
        if any("explode" in p for p in prompts):
            raise RuntimeError("CUDA out of memory (pretend)")
        out = np.empty((len(prompts), video_length, height, width, 3), np.float32)
        for b, g in enumerate(gens):
            out[b] = (g.initial_seed() % 7 + 1) / 10
        return SimpleNamespace(frames=out)


class WanPipeline(LatteLike):
    """Named like diffusers' class so the ``wan`` preset applies; takes ``num_frames``."""

    def __call__(self, prompt, num_frames=81, height=480, width=832, num_inference_steps=50,
                 guidance_scale=5.0, negative_prompt=None, image=None, generator=None,
                 output_type="np"):
        self.last_image = image
        self.last_guidance = guidance_scale
        return super().__call__(prompt, num_frames, height, width, num_inference_steps,
                                generator, output_type)


def test_keyword_mapping_dropping_and_uint8(tmp_path: Path) -> None:
    pipe = LatteLike()
    ad = DiffusersAdapter.from_pipeline(pipe, "latte-test", steps="3", guidance="7",
                                        negative_prompt="blurry")
    rep = generate(ad, _suite(["a", "b"], size=(20, 30)), tmp_path, progress=False)
    assert rep.n_ok == 2, rep.errors
    call = pipe.calls[0]
    # generic preset: frames as asked, sizes rounded to a multiple of 8
    assert (call["video_length"], call["height"], call["width"]) == (8, 24, 32)
    assert call["output_type"] == "np" and call["steps"] == 3
    e = read_manifest(tmp_path).entries[0]
    g = e.meta["generation"]
    assert g["params"]["frame_kw"] == "video_length"
    assert g["params"]["dropped"] == ["guidance_scale", "negative_prompt"]
    assert g["params"]["asked"] == {"num_frames": 8, "height": 24, "width": 32}
    assert (g["num_frames"], g["height"], g["width"]) == (8, 24, 32)
    assert g["requested"] == {"num_frames": 8, "height": 20, "width": 30, "fps": 8.0}
    assert e.model == "diffusers:latte-test"
    # seed 10 -> level (10 % 7 + 1) / 10 = 0.4 -> uint8 102 (converted once, rounded)
    assert abs(float(decode(e.path).frames.mean()) - 102) < 1.5


def test_preset_rounds_frames_by_duration_and_size(tmp_path: Path) -> None:
    pipe = WanPipeline()
    ad = DiffusersAdapter.from_pipeline(pipe, "wan-fake")
    rep = generate(ad, _suite(["a"], frames=8, size=(36, 60), fps=8.0), tmp_path,
                   progress=False)
    assert rep.n_ok == 1, rep.errors
    call = pipe.calls[0]
    # 8 frames at 8 fps = 1 s -> 16 frames at Wan's 16 fps -> 4k+1 -> 17; sizes x16
    assert (call["video_length"], call["height"], call["width"]) == (17, 32, 64)
    assert pipe.last_guidance == 5.0
    g = read_manifest(tmp_path).entries[0].meta["generation"]
    assert g["params"]["preset"] == "wan" and g["fps"] == 16.0 and g["num_frames"] == 17
    assert g["params"]["dropped"] == []


def test_batches_follow_seeds_and_one_bad_prompt_fails_alone(tmp_path: Path) -> None:
    prompts = ["p0", "p1", "explode p2", "p3", "p4"]
    pipe = LatteLike()
    rep = generate(DiffusersAdapter.from_pipeline(pipe, "b", batch="2"), _suite(prompts),
                   tmp_path / "b2", progress=False)
    assert rep.n_ok == 4 and rep.n_failed == 1
    assert rep.errors[0]["item"] == "d2" and "out of memory" in rep.errors[0]["error"]
    batched = [c["prompt"] for c in pipe.calls]
    assert batched[0] == ["p0", "p1"] and ["explode p2", "p3"] in batched
    assert "p3" in batched and ["p4"] != batched[-1]  # fallback ran p3 alone, p4 alone
    pipe1 = LatteLike()
    generate(DiffusersAdapter.from_pipeline(pipe1, "b"), _suite(prompts), tmp_path / "b1",
             progress=False)
    assert all(isinstance(c["prompt"], str) for c in pipe1.calls)
    m2 = {e.item: e for e in read_manifest(tmp_path / "b2")}
    m1 = {e.item: e for e in read_manifest(tmp_path / "b1")}
    for item in ("d0", "d1", "d3", "d4"):
        # the same seed gives the same video whatever batch it was in
        assert m1[item].meta["generation"]["sha256"] == m2[item].meta["generation"]["sha256"]
        seed = m1[item].seed
        assert abs(decode(m2[item].path).frames.mean() - 255 * (seed % 7 + 1) / 10) < 1.5
    assert m2["d0"].meta["generation"]["params"]["batch_size"] == 2


def test_conditioning_image_is_passed_to_i2v_pipelines(tmp_path: Path) -> None:
    pipe = WanPipeline()
    first = np.full((1, 16, 16, 3), 77, np.uint8)
    s = _suite(["a"], conditioning=lambda: first)
    rep = generate(DiffusersAdapter.from_pipeline(pipe, "i2v"), s, tmp_path, progress=False)
    assert rep.n_ok == 1
    assert pipe.last_image is not None and np.asarray(pipe.last_image).mean() == 77
    g = read_manifest(tmp_path).entries[0].meta["generation"]
    assert g["params"]["conditioning"] == "image"
    rep = generate(DiffusersAdapter.from_pipeline(LatteLike(), "t2v"), s, tmp_path / "t",
                   progress=False)
    g = read_manifest(tmp_path / "t").entries[0].meta["generation"]
    assert g["params"]["conditioning"].startswith("ignored")


def test_output_conversion_and_errors() -> None:
    x = np.array([0.0, 0.2, 0.5, 1.0, 1.3, -0.1], np.float32).reshape(1, 1, 1, 2, 3)
    (v,) = to_uint8_videos(x, 1)
    assert v.dtype == np.uint8 and v.ravel().tolist() == [0, 51, 128, 255, 255, 0]
    chw = [np.zeros((4, 3, 8, 10), np.float32)]
    assert to_uint8_videos(chw, 1)[0].shape == (4, 8, 10, 3)
    with pytest.raises(ValueError, match="NaN"):
        to_uint8_videos(np.full((1, 2, 4, 4, 3), np.nan, np.float32), 1)
    with pytest.raises(ValueError, match="2 videos for 3 prompts"):
        to_uint8_videos(np.zeros((2, 2, 4, 4, 3), np.float32), 3)
    assert [round_frames(n, 4, 1) for n in (1, 2, 5, 6, 49)] == [1, 5, 5, 9, 49]
    assert [round_frames(n, 8, 1) for n in (9, 10, 24)] == [9, 17, 25]
    assert round_frames(7, 1, 0) == 7
    assert (round_size(20, 16), round_size(8, 32), round_size(48, 32)) == (16, 32, 64)


def test_spec_errors_and_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match="unknown option.*stepz"):
        DiffusersAdapter.from_pipeline(LatteLike(), "x", stepz="3")
    with pytest.raises(UserError, match="steps='many' is not an integer"):
        DiffusersAdapter.from_pipeline(LatteLike(), "x", steps="many")
    with pytest.raises(UserError, match="offload must be"):
        DiffusersAdapter.from_pipeline(LatteLike(), "x", offload="gpu")
    monkeypatch.setitem(sys.modules, "diffusers", None)  # as if not installed
    with pytest.raises(UserError, match=r"pip install vidbench\[diffusers\]"):
        get_model("diffusers:some/model")


# ------------------------------------------------------------------ real tiny pipelines

WORDS = ("a the red green blue ball cube moves falls left right down on dark background "
         "static camera").split()


def _tiny_text():
    pytest.importorskip("diffusers")
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for w in WORDS:
        vocab.setdefault(w, len(vocab))
    tk = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>",
                                               eos_token="</s>", unk_token="<unk>",
                                               model_max_length=16)
    torch.manual_seed(0)
    cfg = transformers.T5Config(vocab_size=32, d_model=32, d_kv=8, d_ff=37, num_layers=2,
                                num_heads=4, relative_attention_num_buckets=8)
    return tok, transformers.T5EncoderModel(cfg)  # train mode: the adapter calls .eval()


def _cogvideox():
    import diffusers as d

    tok, te = _tiny_text()
    torch.manual_seed(0)
    tr = d.CogVideoXTransformer3DModel(
        num_attention_heads=4, attention_head_dim=8, in_channels=4, out_channels=4,
        time_embed_dim=2, text_embed_dim=32, num_layers=1, sample_width=2, sample_height=2,
        sample_frames=9, patch_size=2, temporal_compression_ratio=4, max_text_seq_length=16)
    torch.manual_seed(0)
    vae = d.AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8),
        latent_channels=4, layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4)
    return d.CogVideoXPipeline(tokenizer=tok, text_encoder=te, vae=vae, transformer=tr,
                               scheduler=d.DDIMScheduler())


def _wan():
    import diffusers as d

    tok, te = _tiny_text()
    torch.manual_seed(0)
    vae = d.AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                             temperal_downsample=[False, True, True])
    torch.manual_seed(0)
    tr = d.WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16,
        out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2,
        cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32)
    return d.WanPipeline(tokenizer=tok, text_encoder=te, vae=vae, transformer=tr,
                         scheduler=d.FlowMatchEulerDiscreteScheduler(shift=7.0))


def _ltx():
    import diffusers as d

    tok, te = _tiny_text()
    torch.manual_seed(0)
    tr = d.LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4,
        attention_head_dim=8, cross_attention_dim=32, num_layers=1, caption_channels=32)
    torch.manual_seed(0)
    # decoder sized like the encoder: the default decoder is 512 channels wide (minutes)
    vae = d.AutoencoderKLLTXVideo(
        latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), spatio_temporal_scaling=(True, True, False,
                                                                          False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1),
        patch_size=1, patch_size_t=1, encoder_causal=True, decoder_causal=False)
    vae.use_framewise_encoding = False
    vae.use_framewise_decoding = False
    return d.LTXPipeline(tokenizer=tok, text_encoder=te, vae=vae, transformer=tr,
                         scheduler=d.FlowMatchEulerDiscreteScheduler())


# name, builder, item size, expected (frames, H, W, fps) after the preset's rounding
TINY = [
    ("cogvideox", _cogvideox, (16, 16), (9, 16, 16, 8.0)),   # 8 @ 8 fps -> 4k+1 = 9
    ("wan", _wan, (16, 16), (17, 16, 16, 16.0)),            # 1 s at 16 fps -> 17
    ("ltx-video", _ltx, (32, 32), (25, 32, 32, 24.0)),      # 1 s at 24 fps -> 8k+1 = 25
]


def _score(path: Path) -> float:
    """One weight-free metric on the decoded video (VBench's flicker formula)."""
    from vidbench.registry import VideoContext, get_metric

    clip = decode(path)
    try:
        metric = get_metric("temporal_flicker", mode="vbench")
    except UserError:  # metric not in this build: the decode itself is the check
        return 1.0
    return float(metric.score(VideoContext(clip, prompt="", video=str(path))).value)


@pytest.mark.parametrize("name,build,size,expect", TINY, ids=[t[0] for t in TINY])
def test_tiny_pipeline_end_to_end(name: str, build, size, expect, tmp_path: Path) -> None:
    pipe = build()
    prompts = ["a red ball moves right", "a blue cube falls down"]
    ad = DiffusersAdapter.from_pipeline(pipe, f"tiny-{name}", steps="2", guidance="1.0",
                                        max_sequence_length="16", batch="2")
    rep = generate(ad, _suite(prompts, size=size), tmp_path / "a", progress=False)
    assert (rep.n_ok, rep.n_failed) == (2, 0), rep.errors
    entries = read_manifest(tmp_path / "a").entries
    assert len(entries) == 2
    for e in entries:
        g = e.meta["generation"]
        assert g["params"]["preset"] == name and g["params"]["pipeline"] == type(pipe).__name__
        assert (g["num_frames"], g["height"], g["width"], g["fps"]) == expect
        assert g["params"]["batch_size"] == 2
        clip = decode(e.path)
        assert clip.frames.shape == (expect[0], expect[1], expect[2], 3)
        s = _score(e.path)
        assert math.isfinite(s) and 0.0 <= s <= 1.0
    # every module was put in eval mode (dropout off): a rerun is bit-identical
    assert all(not m.training for m in pipe.components.values() if hasattr(m, "training"))
    rep2 = generate(DiffusersAdapter.from_pipeline(pipe, f"tiny-{name}", steps="2",
                                                   guidance="1.0", max_sequence_length="16"),
                    _suite(prompts, size=size), tmp_path / "b", progress=False)
    assert rep2.n_ok == 2
    sha_a = [e.meta["generation"]["sha256"] for e in entries]
    sha_b = [e.meta["generation"]["sha256"] for e in read_manifest(tmp_path / "b").entries]
    frames_a = [decode(e.path).frames.astype(int) for e in entries]
    frames_b = [decode(e.path).frames.astype(int)
                for e in read_manifest(tmp_path / "b").entries]
    # batch of 2 vs one at a time, same seeds: the same videos (up to float noise)
    assert all(np.abs(a - b).mean() < 1.0 for a, b in zip(frames_a, frames_b, strict=True))
    assert sha_a[0] != sha_a[1]  # different prompts and seeds give different videos
    rep3 = generate(DiffusersAdapter.from_pipeline(pipe, f"tiny-{name}", steps="2",
                                                   guidance="1.0", max_sequence_length="16"),
                    _suite(prompts, size=size), tmp_path / "c", progress=False)
    assert rep3.n_ok == 2
    sha_c = [e.meta["generation"]["sha256"] for e in read_manifest(tmp_path / "c").entries]
    assert sha_c == sha_b  # same call, same seeds: bit-identical files


@pytest.mark.slow
def test_spec_string_loads_a_saved_pipeline_offline(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pipe = _wan()
    saved = tmp_path / "tiny-wan"
    pipe.save_pretrained(saved)
    spec = f"diffusers:{saved}?steps=2&guidance=1.0&max_sequence_length=16&device=cpu"
    ad = get_model(spec)
    assert ad.model_id == f"diffusers:{saved}"
    assert ad.revision is not None and len(ad.revision) == 16  # hash of model_index.json
    rep = generate(ad, _suite(["a red ball moves right"]), tmp_path / "out", progress=False)
    assert rep.n_ok == 1, rep.errors
    g = read_manifest(tmp_path / "out").entries[0].meta["generation"]
    assert g["params"]["pipeline"] == "WanPipeline" and g["params"]["dtype"] == "float32"
    assert (g["num_frames"], g["fps"]) == (17, 16.0)
    # a folder that is not a pipeline: one clear error for the whole run
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="cannot load"):
        generate(get_model(f"diffusers:{tmp_path / 'empty'}"), _suite(["x"]),
                 tmp_path / "o2", progress=False)
