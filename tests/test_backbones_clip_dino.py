"""DINO ViT and open_clip CLIP backbones: official key layouts, strict loading through the
weights manager (TorchScript archives for OpenAI CLIP), deterministic random init that
leaves the global RNG alone, DINO's position-embedding interpolation, preprocessing on known
answers, feature memoisation, and half precision on GPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn

from vidbench.errors import MissingWeightsError, UserError, WeightsChecksumError
from vidbench.metrics.backbones import clip as clipmod
from vidbench.metrics.backbones import dino as dinomod
from vidbench.registry import VideoContext
from vidbench.synthetic import moving_disc
from vidbench.video import Clip

# ----------------------------------------------------------------------------- DINO


def official_dino_vitb16_keys() -> dict[str, tuple[int, ...]]:
    """The parameter names and shapes of facebookresearch/dino's ``vit_base(patch_size=16,
    num_classes=0)`` (vision_transformer.py), i.e. of ``dino_vitbase16_pretrain.pth``."""
    d, hidden = 768, 3072
    keys = {"cls_token": (1, 1, d), "pos_embed": (1, 197, d),
            "patch_embed.proj.weight": (d, 3, 16, 16), "patch_embed.proj.bias": (d,),
            "norm.weight": (d,), "norm.bias": (d,)}
    for i in range(12):
        b = f"blocks.{i}."
        keys.update({b + "norm1.weight": (d,), b + "norm1.bias": (d,),
                     b + "attn.qkv.weight": (3 * d, d), b + "attn.qkv.bias": (3 * d,),
                     b + "attn.proj.weight": (d, d), b + "attn.proj.bias": (d,),
                     b + "norm2.weight": (d,), b + "norm2.bias": (d,),
                     b + "mlp.fc1.weight": (hidden, d), b + "mlp.fc1.bias": (hidden,),
                     b + "mlp.fc2.weight": (d, hidden), b + "mlp.fc2.bias": (d,)})
    return keys


def test_dino_vitb16_matches_the_official_state_dict_layout():
    sd = dinomod.build_dino("vitb16").state_dict()
    want = official_dino_vitb16_keys()
    assert {k: tuple(v.shape) for k, v in sd.items()} == want
    assert len(want) == 150


@pytest.fixture
def tiny_dino_with_weights(monkeypatch):
    """Pretend the tiny test architecture has a weights entry (dino-vitb16's file name), so
    the full resolve -> load(strict) path runs on a small model."""
    cfg = dinomod.DINO_CONFIGS["tiny"]
    monkeypatch.setitem(dinomod.DINO_CONFIGS, "tiny",
                        dinomod.DinoConfig(cfg.patch_size, cfg.embed_dim, cfg.depth,
                                           cfg.num_heads, "dino-vitb16"))
    monkeypatch.setattr(dinomod, "_CACHE", {})


def test_dino_loads_a_checkpoint_strictly(tiny_dino_with_weights, _isolated_home):
    with pytest.raises(MissingWeightsError, match="dino_vitbase16_pretrain.pth"):
        dinomod.load_dino("tiny")
    src = dinomod.build_dino("tiny", seed=7)
    (_isolated_home / "weights").mkdir()
    torch.save(src.state_dict(), _isolated_home / "weights" / "dino_vitbase16_pretrain.pth")
    bb = dinomod.load_dino("tiny")
    assert bb.comparable and bb.weights == "dino-vitb16"
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(bb.encode(x), src(x))
    assert dinomod.load_dino("tiny") is bb  # cached per process


def test_dino_rejects_a_checkpoint_with_missing_keys(tiny_dino_with_weights, _isolated_home):
    sd = dinomod.build_dino("tiny").state_dict()
    del sd["blocks.1.attn.qkv.weight"]
    (_isolated_home / "weights").mkdir()
    path = _isolated_home / "weights" / "dino_vitbase16_pretrain.pth"
    torch.save(sd, path)
    with pytest.raises(UserError, match=r"dino_vitbase16_pretrain.pth.*blocks.1.attn.qkv"):
        dinomod.load_dino("tiny")


def test_dino_position_embedding_interpolation():
    m = dinomod.build_dino("tiny")
    n = m.pos_embed.shape[1] - 1
    assert m.interpolate_pos_encoding(n, 224, 224) is m.pos_embed
    pe = m.interpolate_pos_encoding(14 * 20, 224, 320)
    assert pe.shape == (1, 1 + 14 * 20, m.cfg.embed_dim)
    torch.testing.assert_close(pe[:, 0], m.pos_embed[:, 0])  # class token untouched
    assert m.interpolate_pos_encoding(28 * 28, 448, 448).shape[1] == 1 + 28 * 28
    with torch.no_grad():
        f = m(torch.zeros(1, 3, 224, 320))
    assert f.shape == (1, m.cfg.embed_dim) and torch.isfinite(f).all()


@pytest.mark.parametrize("build", [lambda s: dinomod.build_dino("tiny", s),
                                   lambda s: clipmod.build_clip("tiny", s)])
def test_random_init_is_seeded_and_leaves_the_global_rng_alone(build):
    a, b, c = build(0), build(0), build(1)
    for (k, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), k
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.state_dict().values(),
                                                         c.state_dict().values(), strict=True))
    torch.manual_seed(123)
    want = torch.rand(4)
    torch.manual_seed(123)
    build(5)
    assert torch.equal(torch.rand(4), want)


def test_unknown_architectures_are_user_errors():
    with pytest.raises(UserError, match="unknown DINO architecture"):
        dinomod.build_dino("vit-huge")
    with pytest.raises(UserError, match="unknown CLIP architecture"):
        clipmod.load_clip("RN50", random_weights=True)
    with pytest.raises(UserError, match="no pretrained weights"):
        clipmod.load_clip("tiny")


# ----------------------------------------------------------------------------- CLIP


class _OpenAIStyleArchive(nn.Module):
    """A module with a CLIP model's parameters under the same names plus OpenAI's extra
    ``input_resolution`` / ``context_length`` / ``vocab_size`` entries, to be traced and
    saved as a TorchScript archive the way OpenAI ships ViT-B-32.pt."""

    def __init__(self, clip_model: nn.Module) -> None:
        super().__init__()
        for name, child in clip_model.named_children():
            setattr(self, name, child)
        for name, p in clip_model.named_parameters(recurse=False):
            self.register_parameter(name, p)
        self.register_buffer("input_resolution", torch.tensor(224))
        self.register_buffer("context_length", torch.tensor(77))
        self.register_buffer("vocab_size", torch.tensor(49408))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.logit_scale


@pytest.fixture
def tiny_clip_with_weights(monkeypatch, tmp_path):
    """The tiny CLIP pretends to have a weights entry whose sha256 the test pins."""
    from vidbench import weights

    monkeypatch.setitem(clipmod.CLIP_WEIGHTS, "tiny", "clip-vit-b-32-openai")
    monkeypatch.setattr(clipmod, "_CACHE", {})

    def pin(sha256: str) -> None:
        manifest = json.loads(weights.MANIFEST_PATH.read_text())
        manifest["weights"]["clip-vit-b-32-openai"]["sha256"] = sha256
        alt = tmp_path / "weights.json"
        alt.write_text(json.dumps(manifest))
        monkeypatch.setattr(weights, "MANIFEST_PATH", alt)
        monkeypatch.setattr(weights.load_manifest, "__defaults__", (alt,))

    return pin


def test_clip_loads_an_openai_torchscript_archive(tiny_clip_with_weights, _isolated_home):
    from vidbench.weights import sha256_file

    src = clipmod.build_clip("tiny", seed=11)
    (_isolated_home / "weights").mkdir()
    path = _isolated_home / "weights" / "ViT-B-32.pt"
    torch.jit.trace(_OpenAIStyleArchive(src), torch.ones(1)).save(str(path))
    sd = clipmod.openai_state_dict(path)
    assert "input_resolution" not in sd and set(sd) == set(src.state_dict())

    tiny_clip_with_weights(sha256_file(path))
    bb = clipmod.load_clip("tiny")
    assert bb.comparable and bb.tag.startswith("clip-tiny-clip-vit-b-32-openai")
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = torch.nn.functional.normalize(src.encode_image(x), dim=-1)
    torch.testing.assert_close(bb.encode_images(x), want)


def test_torchscript_reader_runs_nothing_from_the_archive(tmp_path):
    """A TorchScript-looking archive whose pickle asks for anything but tensors is refused
    (the restricted unpickler never imports, let alone calls, other globals)."""
    import os
    import pickle
    import zipfile

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("evil/data.pkl", pickle.dumps(Evil(), protocol=2))
        z.writestr("evil/code/__torch__.py", "")
    with pytest.raises(UserError, match="refusing to load .*system"):
        clipmod.openai_state_dict(path)
    assert not (tmp_path / "pwned").exists()


def test_clip_loads_a_plain_state_dict_and_refuses_a_bad_checksum(tiny_clip_with_weights,
                                                                  _isolated_home):
    src = clipmod.build_clip("tiny", seed=12)
    (_isolated_home / "weights").mkdir()
    path = _isolated_home / "weights" / "ViT-B-32.pt"
    torch.save(src.state_dict(), path)
    tiny_clip_with_weights("f" * 64)
    with pytest.raises(WeightsChecksumError, match="ViT-B-32.pt"):
        clipmod.load_clip("tiny")
    from vidbench.weights import sha256_file

    tiny_clip_with_weights(sha256_file(path))
    path.with_name(path.name + ".verified").unlink(missing_ok=True)
    assert clipmod.load_clip("tiny").comparable


def test_missing_clip_weights_name_file_and_url():
    with pytest.raises(MissingWeightsError, match="ViT-L-14.pt.*openaipublic"):
        clipmod.load_clip("ViT-L-14")


# ----------------------------------------------------------------------------- preprocessing


def constant_frames(h: int, w: int, color=(200, 100, 50), k: int = 1) -> np.ndarray:
    f = np.empty((k, h, w, 3), dtype=np.uint8)
    f[:] = color
    return f


@pytest.mark.parametrize("fn", [clipmod.clip_preprocess, clipmod.vbench_clip_transform,
                                clipmod.vbench_clip_transform_image])
def test_clip_transforms_on_a_constant_frame(fn):
    x = fn(constant_frames(100, 157))
    assert x.shape == (1, 3, 224, 224)
    want = (torch.tensor([200, 100, 50]) / 255.0 - torch.tensor(clipmod.CLIP_MEAN)) \
        / torch.tensor(clipmod.CLIP_STD)
    torch.testing.assert_close(x[0].mean(dim=(1, 2)), want.float(), atol=1e-5, rtol=0)
    assert float(x.std(dim=(2, 3)).max()) < 1e-4


def test_vbench_dino_transform_keeps_the_aspect_and_truncates_the_long_side():
    x = dinomod.vbench_dino_transform(constant_frames(100, 157, k=2))
    # torchvision Resize(224): short side 224, long side int(224 * 157 / 100) = 351 (not 352)
    assert x.shape == (2, 3, 224, 351)
    want = (torch.tensor([200, 100, 50]) / 255.0 - torch.tensor(dinomod.IMAGENET_MEAN)) \
        / torch.tensor(dinomod.IMAGENET_STD)
    torch.testing.assert_close(x[0, :, 5, 5], want.float(), atol=1e-5, rtol=0)
    torch.testing.assert_close(dinomod.normalize_uint8(constant_frames(4, 4))[0, :, 0, 0],
                               want.float(), atol=1e-6, rtol=0)


def test_clip_preprocess_crops_the_center():
    f = constant_frames(224, 448, color=(0, 0, 0))
    f[:, :, 112:336] = 255  # the central square is white, the sides black
    x = clipmod.clip_preprocess(f)
    white = (1.0 - torch.tensor(clipmod.CLIP_MEAN)) / torch.tensor(clipmod.CLIP_STD)
    torch.testing.assert_close(x[0, :, 112, 112], white.float(), atol=1e-5, rtol=0)
    torch.testing.assert_close(x[0, :, 0, 0], white.float(), atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- sharing


def test_image_features_are_memoised_per_view_and_transform():
    frames = moving_disc(6, 64, 8.0)
    ctx = VideoContext(Clip.from_array(frames, 8.0))
    bb = clipmod.load_clip("tiny", random_weights=True)
    before = bb.forwards
    spec = clipmod.default_view()
    a = clipmod.image_features(ctx, bb, spec)
    b = clipmod.image_features(ctx, bb, spec)
    assert a is b and bb.forwards - before == 6
    assert torch.allclose(a.norm(dim=-1), torch.ones(6), atol=1e-5)
    clipmod.image_features(ctx, bb, clipmod.VBENCH_VIEW, "vbench_tensor")
    assert bb.forwards - before == 12
    with pytest.raises(ValueError, match="unknown CLIP transform"):
        clipmod.image_features(ctx, bb, spec, "bilinear")


def test_text_embeddings_are_cached_and_truncation_is_reported():
    bb = clipmod.load_clip("tiny", random_weights=True)
    t, cut = bb.encode_text("a red ball")
    assert not cut and t.shape == (768,) and abs(float(t.norm()) - 1) < 1e-5
    assert bb.encode_text("a red ball")[0] is t
    assert bb.encode_text("word " * 80)[1]


@pytest.mark.gpu
def test_half_precision_on_gpu_matches_fp32():
    x = clipmod.clip_preprocess(moving_disc(4, 64, 8.0))
    f32 = clipmod.load_clip("tiny", random_weights=True, device="cuda", half=False)
    f16 = clipmod.load_clip("tiny", random_weights=True, device="cuda")
    assert f16.dtype == torch.float16
    cos = (f32.encode_images(x) * f16.encode_images(x)).sum(-1)
    assert float(cos.min()) > 0.999
    d32 = dinomod.load_dino("tiny", random_weights=True, device="cuda", half=False)
    d16 = dinomod.load_dino("tiny", random_weights=True, device="cuda")
    xd = dinomod.normalize_uint8(moving_disc(4, 224, 8.0))
    a, b = d32.encode(xd), d16.encode(xd)
    assert float(torch.nn.functional.cosine_similarity(a, b).min()) > 0.999
