"""http: adapter against a fake job API on 127.0.0.1: lifecycle, failures, no double pay."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vidbench.adapters import get_model
from vidbench.errors import UserError
from vidbench.generate import generate
from vidbench.manifest import read_manifest
from vidbench.models.http_api import (
    _retry_after,
    choose_seconds,
    choose_size,
    json_path,
    render,
)
from vidbench.suites import Suite, SuiteItem
from vidbench.video import decode

try:  # run as part of the tests package or as a rootdir-less module
    from tests.fake_video_api import FakeVideoAPI, openai_like_config
except ImportError:  # pragma: no cover
    from fake_video_api import FakeVideoAPI, openai_like_config  # type: ignore[no-redef]

TOKEN = "secret-token"


@pytest.fixture()
def api(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FAKE_VIDEO_API_KEY", TOKEN)
    with FakeVideoAPI(token=TOKEN) as server:
        yield server


def _config(tmp_path: Path, api: FakeVideoAPI, **over) -> Path:
    p = tmp_path / "api.json"
    p.write_text(json.dumps(openai_like_config(api.base_url, **over)))
    return p


def _suite(prompts: list[str]) -> Suite:
    return Suite("http-unit", "", [SuiteItem(item=f"h{i}", prompt=pr, seed=i, num_frames=8,
                                             height=24, width=32, fps=8.0)
                                   for i, pr in enumerate(prompts)])


def _all_output_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_happy_path_and_secrets(api: FakeVideoAPI, tmp_path: Path) -> None:
    cfg = _config(tmp_path, api)
    prompts = [f"a red disc crossing, take {i}" for i in range(4)]
    out = tmp_path / "out"
    rep = generate(get_model(f"http:{cfg}"), _suite(prompts), out, progress=False)
    assert (rep.n_ok, rep.n_failed) == (4, 0), rep.errors
    assert all(api.created[p] == 1 for p in prompts)
    m = read_manifest(out)
    assert [e.item for e in m] == ["h0", "h1", "h2", "h3"]
    for e in m:
        g = e.meta["generation"]
        assert e.model == "fake-sora" and g["revision"] == "fake-2026-01"
        assert g["params"]["job_id"].startswith("video_")
        assert g["params"]["request"]["seconds"] == "1" and g["params"]["size"] == "32x24"
        assert g["params"]["request"]["seed"] == e.seed  # a bare {seed} keeps its type
        assert (g["num_frames"], g["height"], g["width"]) == (8, 24, 32)
        clip = decode(e.path)
        assert clip.frames.shape == (8, 24, 32, 3)
        # the disc moves right: its red mass is further right at the end
        red = clip.frames[..., 0].astype(float) - clip.frames[..., 2]
        xs = [float((r * range(32)).sum() / max(r.sum(), 1)) for r in red.clip(0).sum(1)]
        assert xs[-1] > xs[0] + 10
    # the token went to the API host only, never to the CDN host, and is on no disk
    assert all(r["auth"] is None for r in api.log if r["path"].startswith("/cdn/"))
    assert all(r["auth"] == f"Bearer {TOKEN}" for r in api.log if r["path"].startswith("/v1"))
    assert TOKEN.encode() not in _all_output_bytes(out)
    jobs = [json.loads(x) for x in (out / "jobs.jsonl").read_text().splitlines()]
    assert {j["state"] for j in jobs} >= {"submitting", "submitted", "downloaded"}
    # a rerun pays nothing and downloads nothing
    n_log = len(api.log)
    rep2 = generate(get_model(f"http:{cfg}"), _suite(prompts), out, progress=False)
    assert rep2.n_skipped == 4 and len(api.log) == n_log


def test_every_failure_is_a_clear_per_item_error(api: FakeVideoAPI, tmp_path: Path) -> None:
    cfg = _config(tmp_path, api)
    recover = ["p [submit500x2]", "p [submit429x3]", "p [poll500x2]", "p [pollbadjsonx2]",
               "p [truncatex2]", "p [poll-timeout]"]
    fatal = {"p [fail]": "content policy violation",
             "p [html]": "content type 'text/html'",
             "p [garbage]": "not a decodable video",
             "p [submit-timeout]": "not retried",
             "p [submit-badjson]": "not JSON",
             "p [weird]": "unknown job state 'weird'",
             "p [nourl]": "no video URL"}
    prompts = recover + list(fatal)
    out = tmp_path / "out"
    t0 = time.perf_counter()
    rep = generate(get_model(f"http:{cfg}"), _suite(prompts), out, progress=False)
    assert time.perf_counter() - t0 < 30
    errs = {prompts[int(e["item"][1:])]: e["error"] for e in rep.errors}
    assert set(errs) == set(fatal), errs
    for prompt, needle in fatal.items():
        assert needle in errs[prompt], (prompt, errs[prompt])
        assert TOKEN not in errs[prompt]
    assert rep.n_ok == len(recover)
    # the truncated downloads were retried: the committed file is the full video
    trunc = next(e for e in read_manifest(out) if "truncate" in e.prompt)
    job = api.jobs[trunc.meta["generation"]["params"]["job_id"]]
    assert trunc.path.read_bytes() == api.video_bytes(job)
    assert api.counts[f"{job['id']}:truncate"] == 3
    # nothing paid twice: one job per prompt, even where submits were retried
    assert all(api.created[p] == 1 for p in prompts), api.created
    assert api.submit_attempts["p [submit500x2]"] == 3
    assert api.submit_attempts["p [submit-timeout]"] == 1  # ambiguous: never resent
    # rerun: successes are skipped, failed jobs are resubmitted, ambiguous submits are not
    rep2 = generate(get_model(f"http:{cfg}"), _suite(prompts), out, progress=False)
    assert rep2.n_skipped == len(recover)
    assert api.created["p [fail]"] == 2  # a failed job is gone: submitting again is right
    assert api.created["p [submit-timeout]"] == 1
    errs2 = {prompts[int(e["item"][1:])]: e["error"] for e in rep2.errors}
    assert "interrupted while submitting" in errs2["p [submit-timeout]"]
    assert "jobs.jsonl" in errs2["p [submit-timeout]"]
    # finished-but-undownloadable jobs are polled again, not resubmitted
    assert api.created["p [html]"] == 1 and api.created["p [weird]"] == 1


def test_429_storm_is_ridden_out_or_reported(api: FakeVideoAPI, tmp_path: Path) -> None:
    cfg = _config(tmp_path, api)
    prompts = [f"storm {i}" for i in range(3)]
    api.storm429 = 8  # fewer than max_attempts per request: everything succeeds
    rep = generate(get_model(f"http:{cfg}"), _suite(prompts), tmp_path / "a", progress=False)
    assert rep.n_ok == 3, rep.errors
    assert api.storm429 == 0 and all(api.created[p] == 1 for p in prompts)
    api.storm429 = 10_000  # a storm longer than the patience: per-item errors, nothing paid
    rep = generate(get_model(f"http:{cfg}?concurrency=1"), _suite(["storm x", "storm y"]),
                   tmp_path / "b", progress=False)
    assert rep.n_failed == 2
    assert all("rate limited (HTTP 429)" in e["error"] for e in rep.errors), rep.errors
    assert api.created["storm x"] == 0
    api.storm429 = 0
    rep = generate(get_model(f"http:{cfg}"), _suite(["storm x", "storm y"]), tmp_path / "b",
                   progress=False)
    assert rep.n_ok == 2 and api.created["storm x"] == 1


def test_deadline_keeps_job_ids_and_rerun_polls_instead_of_paying(
        api: FakeVideoAPI, tmp_path: Path) -> None:
    cfg = _config(tmp_path, api, limits={"deadline_s": 0.3})
    prompts = ["slow a", "slow b", "slow c"]
    api.hold = True
    out = tmp_path / "out"
    rep = generate(get_model(f"http:{cfg}"), _suite(prompts), out, progress=False)
    assert rep.n_failed == 3
    assert all("deadline" in e["error"] and "jobs.jsonl" in e["error"] for e in rep.errors)
    api.hold = False
    rep2 = generate(get_model(f"http:{cfg}"), _suite(prompts), out, progress=False)
    assert rep2.n_ok == 3, rep2.errors
    assert all(api.created[p] == 1 for p in prompts)
    for e in read_manifest(out):
        assert e.meta["generation"]["params"]["resumed_job"] is True


RUN_SCRIPT = """
import sys
from pathlib import Path
from vidbench.adapters import get_model
from vidbench.generate import generate
from vidbench.suites import Suite, SuiteItem
prompts = sys.argv[3:]
suite = Suite("http-unit", "", [SuiteItem(item=f"h{i}", prompt=p, seed=i, num_frames=8,
                                          height=24, width=32, fps=8.0)
                                for i, p in enumerate(prompts)])
generate(get_model("http:" + sys.argv[1]), suite, Path(sys.argv[2]), progress=False)
"""


def test_killed_run_resumes_without_paying_twice(api: FakeVideoAPI, tmp_path: Path) -> None:
    cfg = _config(tmp_path, api)
    prompts = ["kill a", "kill b", "kill c"]
    out = tmp_path / "out"
    api.hold = True  # jobs stay in progress, so the child is polling when it dies
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", RUN_SCRIPT, str(cfg), str(out), *prompts],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            jobs = out / "jobs.jsonl"
            if jobs.exists():
                recs = [json.loads(x) for x in jobs.read_text().splitlines() if x.strip()]
                if sum(r.get("state") == "submitted" for r in recs) == len(prompts):
                    break
            assert child.poll() is None, child.stderr.read().decode()
            time.sleep(0.05)
        else:
            pytest.fail("the child never submitted its jobs")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert sum(api.created.values()) == 3
    api.hold = False
    rep = generate(get_model(f"http:{cfg}"), _suite(prompts), out, progress=False)
    assert rep.n_ok == 3, rep.errors
    assert all(api.created[p] == 1 for p in prompts), api.created
    assert len(read_manifest(out)) == 3


def test_download_endpoint_mode(api: FakeVideoAPI, tmp_path: Path) -> None:
    cfg = openai_like_config(api.base_url)
    del cfg["video_url"]
    cfg["download"] = {"path": "/videos/{job_id}/content"}
    p = tmp_path / "c.json"
    p.write_text(json.dumps(cfg))
    rep = generate(get_model(f"http:{p}"), _suite(["endpoint"]), tmp_path / "o",
                   progress=False)
    assert rep.n_ok == 1, rep.errors
    assert any(r["path"].endswith("/content") and r["auth"] for r in api.log)
    # a download endpoint that redirects to another host does not get the token forwarded
    api.redirect_downloads = True
    rep = generate(get_model(f"http:{p}"), _suite(["endpoint 2"]), tmp_path / "o2",
                   progress=False)
    assert rep.n_ok == 1, rep.errors
    cdn = [r for r in api.log if r["path"].startswith("/cdn/")]
    assert cdn and all(r["auth"] is None for r in cdn)


def test_conditioning_image_is_sent_inline(api: FakeVideoAPI, tmp_path: Path) -> None:
    import base64

    import cv2
    import numpy as np

    cfg = openai_like_config(api.base_url)
    cfg["submit"]["body"]["image"] = "{image_data_uri}"
    p = tmp_path / "i2v.json"
    p.write_text(json.dumps(cfg))
    first = np.zeros((2, 24, 32, 3), np.uint8)
    first[0, :, :16] = (200, 10, 30)  # left half red in the first frame
    items = [SuiteItem(item="with", prompt="i2v a", seed=0, num_frames=8, height=24,
                       width=32, fps=8.0, conditioning=lambda: first),
             SuiteItem(item="without", prompt="i2v b", seed=1, num_frames=8, height=24,
                       width=32, fps=8.0)]
    rep = generate(get_model(f"http:{p}"), Suite("i2v", "", items), tmp_path / "o",
                   progress=False)
    assert rep.n_ok == 1 and rep.errors[0]["item"] == "without"
    assert "no conditioning frames" in rep.errors[0]["error"]
    assert api.created["i2v b"] == 0
    (job,) = [j for j in api.jobs.values() if j["prompt"] == "i2v a"]
    assert job["image"].startswith("data:image/png;base64,")
    png = base64.b64decode(job["image"].split(",", 1)[1])
    img = cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR),
                       cv2.COLOR_BGR2RGB)
    assert np.array_equal(img, first[0])  # PNG: lossless
    # the manifest records the request without the inline image
    g = read_manifest(tmp_path / "o").entries[0].meta["generation"]
    recorded = g["params"]["request"]["image"]
    assert recorded.startswith("<") and "sha256" in recorded


def test_auth_problems(api: FakeVideoAPI, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _config(tmp_path, api)
    monkeypatch.delenv("FAKE_VIDEO_API_KEY")
    with pytest.raises(UserError, match="set the environment variable FAKE_VIDEO_API_KEY"):
        get_model(f"http:{cfg}")
    monkeypatch.setenv("FAKE_VIDEO_API_KEY", "wrong-key-123")
    out = tmp_path / "o"
    rep = generate(get_model(f"http:{cfg}"), _suite(["x"]), out, progress=False)
    (err,) = rep.errors
    assert "HTTP 401" in err["error"] and "invalid api key" in err["error"]
    assert "wrong-key-123" not in err["error"]  # the server echoed it; we redact it
    assert b"wrong-key-123" not in _all_output_bytes(out)
    assert api.created["x"] == 0


def test_config_errors_are_user_errors(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_VIDEO_API_KEY", TOKEN)
    p = tmp_path / "c.json"
    p.write_text('{"base_url": "http://127.0.0.1:9/v1",\n "submit": }')
    with pytest.raises(UserError, match=r"c.json:2: invalid JSON"):
        get_model(f"http:{p}")
    cfg = openai_like_config("http://127.0.0.1:9/v1")
    cfg["submit"]["body"]["quality"] = "{qualty}"
    p.write_text(json.dumps(cfg))
    with pytest.raises(UserError, match=r"unknown template variable \{qualty\}"):
        get_model(f"http:{p}")
    cfg = openai_like_config("http://127.0.0.1:9/v1")
    del cfg["job_id"]
    p.write_text(json.dumps(cfg))
    with pytest.raises(UserError, match="missing required key 'job_id'"):
        get_model(f"http:{p}")
    cfg = openai_like_config("http://127.0.0.1:9/v1")
    cfg["polll"] = {}
    p.write_text(json.dumps(cfg))
    with pytest.raises(UserError, match="unknown key.*polll"):
        get_model(f"http:{p}")
    with pytest.raises(UserError, match="no such config file"):
        get_model(f"http:{tmp_path / 'nope.json'}")


def test_helpers() -> None:
    doc = {"data": {"task_result": {"videos": [{"url": "u0"}, {"url": "u1"}]}}}
    assert json_path(doc, "data.task_result.videos[1].url") == "u1"
    assert json_path(doc, "data.missing.x") is None
    assert json_path(doc, "data.task_result.videos[5]") is None
    env = {"prompt": "cat", "seed": 3, "seconds": 4, "size": "1280x720"}
    assert render({"a": "{seed}", "b": "{seconds|str}", "c": "s={seed}, {prompt}",
                   "d": ["{prompt}", 1]}, env) == {"a": 3, "b": "4", "c": "s=3, cat",
                                                  "d": ["cat", 1]}
    allowed = ["1280x720", "720x1280", "1024x1024"]
    assert choose_size(64, 36, allowed) == (1280, 720)
    assert choose_size(48, 64, allowed) == (720, 1280)
    assert choose_size(64, 64, allowed) == (1024, 1024)
    assert choose_size(64, 48, None) == (64, 48)
    assert choose_seconds(2.0, {"allowed": [4, 8, 12]}) == 4
    assert choose_seconds(8.01, {"allowed": [4, 8, 12]}) == 12
    assert choose_seconds(30, {"allowed": [4, 8, 12]}) == 12
    assert choose_seconds(2.5, None) == 2.5
    assert _retry_after("3") == 3.0 and _retry_after(None) is None
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "docs" / "http-examples").glob("*.json"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_documented_example_configs_load_and_render(path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = json.loads(path.read_text())
    monkeypatch.setenv(cfg["auth"]["env"], "tok")
    ad = get_model(f"http:{path}")
    assert "{" not in ad.model_id and ad.limits["concurrency"] >= 1
    item = SuiteItem(item="x", prompt="a red ball", seed=3, num_frames=49, height=480,
                     width=854, fps=8.0)
    env = ad.env_for(item)
    body, headers, fields = ad._request_body(env)
    assert body and "Content-Type" in headers
    flat = json.dumps(fields)
    assert "a red ball" in flat and not re.search(r"\{[a-z_]+(\|\w+)?\}", flat)
    # 49 frames at 8 fps = 6.1 s: raised to an allowed duration, never shortened below it
    allowed = cfg.get("seconds", {}).get("allowed")
    if allowed:
        assert env["seconds"] == min(s for s in allowed if s >= 6.125) \
            if max(allowed) >= 6.125 else max(allowed)
    # a landscape request gets a landscape size / aspect ratio
    assert env["width"] >= env["height"]
    if cfg.get("aspect_ratios"):
        assert env["aspect_ratio"] == "16:9"
