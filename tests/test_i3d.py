"""I3D backbone: TF 'SAME' padding, both loading paths (TorchScript with StyleGAN-V's
signature, converted state dict) agreeing on the same weights, clear errors, and the
weights manager (never a download)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from vidbench.errors import MissingWeightsError, UserError
from vidbench.metrics.backbones.i3d import (
    I3DExtractor,
    InceptionI3d,
    _same_pad,
    export_torchscript,
    is_torchscript_file,
    load_i3d,
    load_i3d_extractor,
    random_init,
)


@pytest.fixture(scope="module")
def model() -> InceptionI3d:
    torch.set_num_threads(1)
    return random_init(InceptionI3d(), seed=0).eval()


@pytest.fixture(scope="module")
def ts_path(model, tmp_path_factory):
    """The random-init model scripted once with StyleGAN-V's signature (scripting costs
    seconds)."""
    return export_torchscript(model, tmp_path_factory.mktemp("ts") / "i3d_torchscript.pt")


@pytest.fixture(scope="module")
def ts_ext(ts_path):
    return load_i3d(ts_path)


def _clips(b: int, t: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (b, t, size, size, 3), dtype=np.uint8)


def test_same_padding_matches_tensorflow():
    # TF: out = ceil(in / s); total pad = max((out - 1) s + k - in, 0), extra after.
    for size, k, s in [(224, 7, 2), (16, 7, 2), (15, 3, 2), (56, 3, 1), (8, 2, 2), (7, 3, 2)]:
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        assert _same_pad(size, k, s) == (total // 2, total - total // 2)


def test_output_is_400_logits_and_random_init_is_seeded(model):
    x = _clips(2, 16, 32)
    ext = I3DExtractor(model, torchscript=False)
    y = ext(x)
    assert y.shape == (2, 400) and y.dtype == np.float64
    assert np.all(np.isfinite(y)) and y.std() > 1e-3
    again = I3DExtractor(random_init(InceptionI3d(), seed=0), torchscript=False)(x)
    other = I3DExtractor(random_init(InceptionI3d(), seed=1), torchscript=False)(x)
    np.testing.assert_array_equal(y, again)
    assert np.abs(y - other).max() > 1e-3


def test_preprocess_scales_uint8_to_minus_one_one(model):
    frames = np.zeros((1, 2, 4, 4, 3), dtype=np.uint8)
    frames[0, 1] = 255
    x = I3DExtractor(model, torchscript=False).preprocess(frames)
    assert x.shape == (1, 3, 2, 4, 4)
    assert float(x[0, :, 0].max()) == -1.0 and float(x[0, :, 1].min()) == 1.0
    x01 = I3DExtractor(model, torchscript=False, scale="[0,1]").preprocess(frames)
    assert float(x01.min()) == 0.0 and float(x01.max()) == 1.0
    with pytest.raises(ValueError, match="uint8"):
        I3DExtractor(model, torchscript=False).preprocess(frames.astype(np.float32))


def test_torchscript_and_native_agree_on_the_same_weights(model, ts_path, ts_ext):
    assert is_torchscript_file(ts_path)
    ts = ts_ext
    assert ts.torchscript
    x = _clips(2, 16, 32, seed=1)
    native = I3DExtractor(model, torchscript=False)(x)
    scripted = ts(x)
    np.testing.assert_allclose(scripted, native, rtol=1e-5, atol=1e-5)


def test_torchscript_signature_rescale_and_probabilities(ts_ext):
    ts = ts_ext.model
    raw = torch.from_numpy(_clips(1, 8, 16, seed=2)).permute(0, 4, 1, 2, 3).float()
    with torch.no_grad(), torch.jit.optimized_execution(False):
        a = ts(raw, rescale=True, resize=False, return_features=True)
        b = ts(raw * (2 / 255) - 1, rescale=False, resize=False, return_features=True)
        p = ts(raw * (2 / 255) - 1, rescale=False, resize=False, return_features=False)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(p.sum(1), torch.ones(1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(p, torch.softmax(b, 1))


def test_state_dict_path_loads_converted_weights(model, tmp_path):
    sd = {f"module.{k}": v for k, v in model.state_dict().items()}  # DataParallel-style
    path = tmp_path / "i3d_pretrained_400.pt"
    torch.save(sd, path)
    assert not is_torchscript_file(path)
    ext = load_i3d(path)
    assert not ext.torchscript
    x = _clips(1, 16, 32, seed=3)
    np.testing.assert_allclose(ext(x), I3DExtractor(model, torchscript=False)(x), rtol=1e-6,
                               atol=1e-6)


def test_wrong_state_dict_names_missing_and_unexpected_keys(model, tmp_path):
    sd = dict(model.state_dict())
    sd.pop("Mixed_4b.b1b.conv3d.weight")
    sd["extra.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pt"
    torch.save(sd, path)
    with pytest.raises(UserError, match=r"missing 1.*Mixed_4b\.b1b\.conv3d\.weight.*extra"):
        load_i3d(path)
    with pytest.raises(UserError, match="not found"):
        load_i3d(tmp_path / "nope.pt")


def test_weights_come_from_the_manager_never_downloaded(ts_path, _isolated_home):
    with pytest.raises(MissingWeightsError, match=r"i3d_torchscript\.pt.*dropbox"):
        load_i3d_extractor("i3d-torchscript")
    # placed by hand where the manager expects it: used as TorchScript
    dest = _isolated_home / "weights" / "i3d_torchscript.pt"
    dest.parent.mkdir(parents=True)
    shutil.copyfile(ts_path, dest)
    ext = load_i3d_extractor("i3d-torchscript")
    assert ext.torchscript and ext.source == str(dest)
    assert load_i3d_extractor(None).source.startswith("random-init")


@pytest.mark.slow
def test_full_fvd_input_pools_to_one_position_and_both_paths_agree(model, ts_ext):
    # 16 x 224 x 224: the (2, 7, 7) average pool covers the whole trunk output, so the
    # logits are the logits layer applied to the global mean, as DeepMind's model does.
    x = _clips(1, 16, 224, seed=4)
    ext = I3DExtractor(model, torchscript=False)
    y = ext(x)
    with torch.no_grad():
        trunk = model.trunk(ext.preprocess(x))
        assert tuple(trunk.shape[2:]) == (2, 7, 7)
        manual = model.logits(trunk.mean(dim=[2, 3, 4], keepdim=True)).flatten(1)
    np.testing.assert_allclose(y, manual.double().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ts_ext(x), y, rtol=1e-5, atol=1e-5)
