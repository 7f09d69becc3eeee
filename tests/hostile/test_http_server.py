"""A hostile job API: nothing it answers becomes a local path, leaks the token, or holds a
worker past the job's deadline."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from vidbench.adapters import Adapter, Generated, get_model
from vidbench.generate import generate
from vidbench.models import http_api
from vidbench.suites import Suite, SuiteItem

from .evil_server import EvilAPI, config

TOKEN = "tok-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5"  # 34 characters


@pytest.fixture(scope="module")
def mp4() -> bytes:
    try:
        from tests.fake_video_api import render_video
    except ImportError:  # pragma: no cover
        from fake_video_api import render_video  # type: ignore[no-redef]
    return render_video(32, 24, 8, 8.0, 0)


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVIL_API_KEY", TOKEN)


def _suite(n: int) -> Suite:
    return Suite("evil", "", [SuiteItem(item=f"e{i}", prompt=f"p{i}", seed=i, num_frames=8,
                                        height=24, width=32, fps=8.0) for i in range(n)])


def _run(tmp_path: Path, api: EvilAPI, n: int = 2, **over):
    cfg = tmp_path / "api.json"
    cfg.write_text(json.dumps(config(api.base_url, **over)))
    out = tmp_path / "out"
    return generate(get_model(f"http:{cfg}"), _suite(n), out, progress=False), out


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def test_traversal_job_id_never_becomes_a_path(tmp_path: Path, mp4: bytes) -> None:
    evil = tmp_path / "evil"
    evil.mkdir()
    jid = "/../../../../../../../../.." + str(evil / "PWN")
    with EvilAPI(mp4, job_id=jid) as api:
        rep, out = _run(tmp_path, api, 2, download={"path": "/videos/{job_id}/content"},
                        video_url=None)
    assert not _files(evil), "a server-chosen job id wrote outside the run folder"
    # the id travelled as one URL-encoded path segment
    polls = [p for p in api.paths if p.startswith("/v1/videos/")]
    assert polls and all("/../" not in p and p.count("/") in (3, 4) for p in polls), polls
    assert rep.n_ok == 2, rep.errors


def test_dot_dot_job_id_is_one_segment(tmp_path: Path, mp4: bytes) -> None:
    assert http_api.quote_segment("..") == "%2E%2E"
    assert http_api.quote_segment("a/b?c#d%") == "a%2Fb%3Fc%23d%25"
    with EvilAPI(mp4, job_id="..") as api:
        _run(tmp_path, api, 1)
    assert "/v1/videos/%2E%2E" in api.paths


def test_file_url_from_server_is_refused(tmp_path: Path, mp4: bytes) -> None:
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(mp4)
    with EvilAPI(mp4, video_url=secret.as_uri()) as api:
        rep, out = _run(tmp_path, api, 1)
    assert rep.n_ok == 0 and "non-http" in rep.errors[0]["error"]
    assert not _files(out / "videos")


def test_server_failure_reason_is_bounded_escaped_and_redacted(tmp_path: Path, mp4: bytes,
                                                                capsys: pytest.CaptureFixture
                                                                ) -> None:
    reason = "\x1b[2J\x1b]0;owned\x07" + TOKEN[2:20] + "x" * 1_000_000
    with EvilAPI(mp4, fail_reason=reason) as api:
        rep, out = _run(tmp_path, api, 1, error="error.message")
    (err,) = rep.errors
    assert len(err["error"]) < 1000 and "\x1b" not in err["error"]
    assert not _fragments(err["error"]) and not _fragments(capsys.readouterr().err)
    assert "\x1b" not in (out / "generate-errors.json").read_text()


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/a b.mp4", "http://127.0.0.1:1/\x1b[2J.mp4",
                                 "http://127.0.0.1:1/" + "a" * 9000])
def test_server_url_with_control_characters_is_refused(tmp_path: Path, mp4: bytes, url: str
                                                       ) -> None:
    with EvilAPI(mp4, video_url=url) as api:
        rep, _ = _run(tmp_path, api, 1)
    assert rep.n_failed == 1 and "refusing a URL" in rep.errors[0]["error"]


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1:1/v.mp4"])
def test_redirect_to_a_non_http_url_is_refused(tmp_path: Path, mp4: bytes, target: str
                                               ) -> None:
    with EvilAPI(mp4, redirect_download=target) as api:
        rep, out = _run(tmp_path, api, 1)
    assert rep.n_failed == 1 and "HTTP 302" in rep.errors[0]["error"]
    assert not _files(out / "videos")


class _Escaper(Adapter):
    """An adapter that stages downloads but hands back a file elsewhere."""

    scheme = "escaper"
    stages_downloads = True

    def __init__(self, path: Path) -> None:
        super().__init__("x")
        self.path = path

    def generate_one(self, item: SuiteItem) -> Generated:
        return Generated(path=self.path, fps=8.0)


def test_commit_refuses_a_download_outside_staging(tmp_path: Path, mp4: bytes) -> None:
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(mp4)
    out = tmp_path / "out"
    rep = generate(_Escaper(outside), _suite(1), out, progress=False)
    assert rep.n_ok == 0 and "not inside the staging folder" in rep.errors[0]["error"]
    assert outside.exists() and not _files(out / "videos")


def _fragments(text: str, n: int = 6) -> list[str]:
    return [TOKEN[i:i + n] for i in range(len(TOKEN) - n + 1) if TOKEN[i:i + n] in text]


@pytest.mark.parametrize("echo", [TOKEN, TOKEN[:-1], TOKEN[3:25], TOKEN[-9:]])
def test_token_echo_is_redacted_before_the_cut(tmp_path: Path, mp4: bytes,
                                               capsys: pytest.CaptureFixture,
                                               caplog: pytest.LogCaptureFixture, echo: str
                                               ) -> None:
    body = ("x" * 153 + " invalid token: " + echo).encode()
    with EvilAPI(mp4, submit_status=400, submit_body=body) as api:
        rep, out = _run(tmp_path, api, 2)
    assert rep.n_failed == 2
    disk = b"".join(p.read_bytes() for p in _files(out)).decode("utf-8", "replace")
    err = capsys.readouterr().err
    for where, text in (("disk", disk), ("stderr", err), ("log", caplog.text),
                        ("report", json.dumps(rep.errors))):
        assert not _fragments(text), (where, _fragments(text))
    # the per-item failure notes go to stderr (vidbench.progress.note), redacted too
    assert "***" in json.dumps(rep.errors) and "failed" in err


def test_redact_keeps_other_text() -> None:
    assert http_api.redact("hello world", TOKEN) == "hello world"
    assert http_api.redact(f"a{TOKEN}b{TOKEN[5:12]}c", TOKEN) == "a***b***c"
    assert http_api.redact("xyz", "xyz") == "***"


def test_retry_after_storm_respects_the_deadline(tmp_path: Path, mp4: bytes) -> None:
    with EvilAPI(mp4, retry_after="1000000000") as api:
        t0 = time.monotonic()
        rep, _ = _run(tmp_path, api, 8, limits={
            **config("")["limits"], "deadline_s": 2, "max_attempts": 8})
        took = time.monotonic() - t0
    assert rep.n_failed == 8 and took < 6, took


@pytest.mark.parametrize("phase", ["poll", "download", "headers"])
def test_slow_drip_is_cut_at_the_deadline(tmp_path: Path, mp4: bytes, phase: str) -> None:
    knobs = {"poll": {"drip_poll": 0.05}, "download": {"drip_download": 0.05},
             "headers": {"drip_headers": 0.05}}[phase]
    with EvilAPI(mp4, **knobs) as api:
        t0 = time.monotonic()
        rep, out = _run(tmp_path, api, 2, limits={**config("")["limits"], "deadline_s": 1.5})
        took = time.monotonic() - t0
    assert rep.n_failed == 2 and took < 5, (took, rep.errors)
    assert "deadline" in rep.errors[0]["error"]
    assert not _files(out / "videos")
