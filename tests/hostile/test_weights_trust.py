"""Weights from elsewhere: a pickle with code, a file swapped after its first use, a forged
``.verified`` stamp, a bad --url. Every hash recorded is that of the file actually used."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch

from vidbench import weights
from vidbench.errors import WeightsChecksumError

from .helpers import clip, manifest, one_line_error, vidbench


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def _place(name: str, obj=None, raw: bytes | None = None) -> Path:
    p = weights.path(name)
    p.parent.mkdir(parents=True, exist_ok=True)
    if raw is not None:
        p.write_bytes(raw)
    else:
        torch.save(obj, p)
    return p


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_pickle_bomb_fails_weights_verify(tmp_path: Path, _isolated_home: Path) -> None:
    _place("dino-vitb16", {"x": _Evil()})
    proc = vidbench(["weights", "verify", "dino-vitb16"], tmp_path,
                    env_extra={"VIDBENCH_HOME": str(_isolated_home)})
    assert "weights_only" in one_line_error(proc)
    assert not weights.pins_path().exists()  # nothing pinned for a file that did not load


def test_first_use_pins_and_a_swapped_file_is_refused(_isolated_home: Path) -> None:
    p = _place("dino-vitb16", {"w": torch.arange(4.0)})
    weights.verify("dino-vitb16")
    assert weights.provenance("dino-vitb16") == {"sha256": _sha(p), "trust": "unpinned"}
    sd = weights.load_state_dict(weights.resolve("dino-vitb16"))
    assert not weights.pins_path().exists()  # read is not enough: it must fit its model
    assert weights.state_dict_mismatch({"w": torch.zeros(5)}, sd)  # a misfit pins nothing
    assert not weights.pins_path().exists()
    assert weights.state_dict_mismatch({"w": torch.zeros(4)}, sd) == ""  # fits: pinned
    pins = json.loads(weights.pins_path().read_text())
    assert pins["dino-vitb16"]["sha256"] == _sha(p)
    assert weights.provenance("dino-vitb16")["trust"] == "first-use"
    _place("dino-vitb16", {"w": torch.arange(5.0)})  # someone swaps the file
    with pytest.raises(WeightsChecksumError, match="pinned"):
        weights.verify("dino-vitb16")


def test_forged_stamp_does_not_skip_the_hash(_isolated_home: Path) -> None:
    p = _place("clip-vit-b-32-openai", raw=b"not the OpenAI file")
    st = p.stat()
    weights._stamp(p).write_text(f"{st.st_size}:{st.st_mtime_ns}")  # the old stamp format
    with pytest.raises(WeightsChecksumError, match="does not match"):
        weights.verify("clip-vit-b-32-openai")


def test_scoring_run_pins_weights_that_gave_scores(_isolated_home: Path) -> None:
    from vidbench.runner import _pin_used_weights

    class _M:
        name = "m"
        random_weights = False

        def required_weights(self):
            return ("amt-s",)

    p = _place("amt-s", {"w": torch.ones(2)})
    weights.verify("amt-s")
    _pin_used_weights([{"scores": {"m": None}, "details": {"m": {"error": "x"}},
                        "error": None}], [_M()])
    assert not weights.pins_path().exists()  # every video failed: nothing pinned
    _pin_used_weights([{"scores": {"m": 0.5}, "error": None}], [_M()])
    assert json.loads(weights.pins_path().read_text())["amt-s"]["sha256"] == _sha(p)


def test_stamp_holds_the_content_hash(_isolated_home: Path) -> None:
    p = _place("laion-aesthetic-vit-l-14", {"w": torch.zeros(3)})
    weights.verify("laion-aesthetic-vit-l-14")
    assert json.loads(weights._stamp(p).read_text())["sha256"] == _sha(p)


def test_provenance_is_the_file_actually_loaded(_isolated_home: Path) -> None:
    from vidbench.runner import weights_provenance, weights_trust

    class _M:
        random_weights = False

        def required_weights(self):
            return ("amt-s",)

    p = _place("amt-s", {"w": torch.ones(2)})
    weights.verify("amt-s")
    assert weights_provenance(_M()) == {"amt-s": _sha(p)}
    assert weights_trust(_M())["amt-s"]["trust"] == "unpinned"


def test_special_file_as_weights_is_refused(_isolated_home: Path) -> None:
    p = weights.path("amt-s")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.symlink_to("/dev/zero")
    with pytest.raises(WeightsChecksumError, match="not a regular file"):
        weights.verify("amt-s")


@pytest.mark.parametrize("url", ["notaurl", "http//no-colon"])
def test_fetch_with_a_bad_url_is_one_line(tmp_path: Path, url: str) -> None:
    proc = vidbench(["weights", "fetch", "dino-vitb16", "--url", url], tmp_path,
                    env_extra={"VIDBENCH_OFFLINE": "0"})
    line = one_line_error(proc)
    assert "URL" in line or "url" in line


def test_fetch_that_never_ends_is_cut(monkeypatch: pytest.MonkeyPatch,
                                      _isolated_home: Path, tmp_path: Path) -> None:
    monkeypatch.setenv("VIDBENCH_OFFLINE", "0")
    monkeypatch.setattr(weights, "MAX_WEIGHTS_BYTES", 3 * 2**20)
    with pytest.raises(WeightsChecksumError, match="more than"):
        weights.fetch("dino-vitb16", url="file:///dev/zero")
    assert not [p for p in weights.path("dino-vitb16").parent.iterdir()
                if p.name != "pins.json"]


@pytest.mark.slow
def test_unloadable_weights_fail_the_run_with_exit_2(tmp_path: Path,
                                                     _isolated_home: Path) -> None:
    _place("dino-vitb16", {"x": _Evil()})
    d = tmp_path / "d"
    clip(d / "a.mp4")
    manifest(d, ["a.mp4"])
    proc = vidbench(["score", str(d), "--out", str(tmp_path / "out"), "--metrics",
                     "subject_consistency"], tmp_path, timeout=300,
                    env_extra={"VIDBENCH_HOME": str(_isolated_home)})
    assert "weights_only" in one_line_error(proc)
    assert not (tmp_path / "out" / "result.json").exists()
