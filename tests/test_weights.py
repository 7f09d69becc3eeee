"""Weights manager: fetch against a local HTTP server (right hash, wrong hash, 404,
truncated transfer) never leaves a half-written file; offline mode; clear missing errors."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest
import torch

from vidbench import weights
from vidbench.errors import MissingWeightsError, UserError, WeightsChecksumError

PAYLOAD = b"tiny weights file " * 1000


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):  # quiet
        pass

    def do_GET(self):
        if self.path == "/good.bin":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        elif self.path == "/truncated.bin":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 3])
            self.wfile.flush()
            self.connection.shutdown(2)
        else:
            self.send_error(404, "not here")


@pytest.fixture(scope="module")
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def _manifest(sha: str | None) -> dict[str, weights.WeightSpec]:
    s = weights.WeightSpec(name="tiny", filename="tiny.bin", url="http://127.0.0.1:9/x",
                           sha256=sha, size=None, license="test", format="state_dict")
    return {"tiny": s}


def _leftovers(home: Path) -> list[Path]:
    d = home / "weights"
    return sorted(d.iterdir()) if d.exists() else []


def test_fetch_right_hash_places_file(server, monkeypatch, _isolated_home):
    monkeypatch.delenv("VIDBENCH_OFFLINE")
    m = _manifest(hashlib.sha256(PAYLOAD).hexdigest())
    p = weights.fetch("tiny", url=f"{server}/good.bin", manifest=m)
    assert p.read_bytes() == PAYLOAD
    assert weights.verify("tiny", manifest=m) == p


@pytest.mark.parametrize("path,exc,match", [
    ("/good.bin", WeightsChecksumError, "does not match"),
    ("/missing.bin", UserError, "HTTP 404"),
    ("/truncated.bin", UserError, "truncated|IncompleteRead|Connection"),
])
def test_failed_fetch_leaves_nothing(server, monkeypatch, _isolated_home, path, exc, match):
    monkeypatch.delenv("VIDBENCH_OFFLINE")
    m = _manifest("0" * 64)
    with pytest.raises(exc, match=match):
        weights.fetch("tiny", url=f"{server}{path}", manifest=m)
    assert _leftovers(_isolated_home) == []


def test_offline_refuses_download(server, _isolated_home):
    with pytest.raises(UserError, match="VIDBENCH_OFFLINE"):
        weights.fetch("tiny", url=f"{server}/good.bin", manifest=_manifest(None))


def test_missing_weights_error_names_file_url_and_destination(_isolated_home):
    with pytest.raises(MissingWeightsError) as e:
        weights.verify("clip-vit-b-32-openai")
    msg = str(e.value)
    assert "ViT-B-32.pt" in msg and "openaipublic" in msg and str(_isolated_home) in msg


def test_hand_placed_file_is_verified_before_use(_isolated_home):
    m = _manifest(hashlib.sha256(PAYLOAD).hexdigest())
    dest = weights.path("tiny", manifest=m)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(PAYLOAD[:-1] + b"!")
    with pytest.raises(WeightsChecksumError):
        weights.verify("tiny", manifest=m)
    dest.write_bytes(PAYLOAD)
    assert weights.verify("tiny", manifest=m) == dest


def test_manifest_entries_are_complete():
    users = weights.used_by()
    for name, s in weights.load_manifest().items():
        assert s.url.split(":", 1)[0] == "https", name
        assert users.get(name) and s.license and s.format, name
        assert s.sha256 is None or len(s.sha256) == 64, name
        assert s.sha256 or s.notes, f"{name}: an unpinned hash needs a note saying why"


def test_safe_loading_only(tmp_path):
    from safetensors.torch import save_file

    sd = {"w": torch.arange(4.0)}
    save_file(sd, tmp_path / "a.safetensors")
    assert torch.equal(weights.load_state_dict(tmp_path / "a.safetensors")["w"], sd["w"])
    torch.save({"state_dict": sd}, tmp_path / "b.pt")
    assert torch.equal(weights.load_state_dict(tmp_path / "b.pt")["w"], sd["w"])

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(UserError, match="weights_only"):
        weights.load_state_dict(tmp_path / "evil.pt")
    json.dumps(weights.status())  # list is JSON-able


def test_used_by_is_derived_from_the_metrics():
    """No weights.json entry repeats which metrics use it: each metric's weights_used()
    says it, in every mode and option, and every name it gives is in the manifest."""
    from vidbench.registry import metric_class

    users = weights.used_by()
    manifest = weights.load_manifest()
    assert set(users) <= set(manifest)
    assert "used_by" not in weights.MANIFEST_PATH.read_text()
    assert users["raft-things"] and "motion_smoothness" in users["amt-s"]
    for name in ("clip_score", "aesthetic_quality", "fvd"):
        for mode in ("default", "vbench"):
            for w in metric_class(name)(mode=mode, random_weights=True).required_weights():
                assert name in users[w], (name, mode, w)
    rows = {r["name"]: r for r in weights.status()}
    assert rows["i3d-kinetics400-deepmind"]["used_by"] == ["fvd", "kvd"]
