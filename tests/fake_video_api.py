"""A fake asynchronous video API on 127.0.0.1 for the http adapter's tests.

Job lifecycle like OpenAI's Videos API: ``POST /v1/videos`` -> ``{"id", "status": "queued"}``;
``GET /v1/videos/{id}`` -> ``status`` queued -> in_progress -> completed | failed, with
``video.url`` pointing at a "CDN" (``http://localhost:PORT/cdn/{id}.mp4``, a different host
string than the API's 127.0.0.1, so tests can check the token never leaves the API host);
``GET /v1/videos/{id}/content`` serves the same mp4 from the API host.

Failures are chosen per job by tags in the prompt (a client cannot tell the server what to do
otherwise), e.g. ``"a ball [submit500x2] [truncatex1]"``:

``[submit500xN]`` first N submits of this prompt answer 500 (no job created);
``[submit429xN]`` first N submits answer 429 with Retry-After; ``[submit-timeout]`` the job is
created but the answer comes after the client's timeout; ``[submit-badjson]`` the job is
created, the answer is not JSON; ``[poll500xN]``, ``[pollbadjsonxN]`` the first N polls fail;
``[poll-timeout]`` the first poll hangs; ``[fail]`` the job fails; ``[weird]`` an unmapped
state; ``[truncatexN]`` the first N downloads are cut in half; ``[html]`` downloads are an
HTML page; ``[garbage]`` downloads are random bytes labelled video/mp4; ``[nourl]`` the
finished job has no URL.

Server-wide knobs: ``hold`` (jobs stay in_progress until cleared), ``storm429`` (the next N
requests of any kind answer 429), ``polls_to_finish``, ``token`` (required bearer token).
Counters: ``created`` (jobs created per prompt), ``submit_attempts``, ``log``.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


def render_video(width: int, height: int, frames: int, fps: float, seed: int) -> bytes:
    """A disc crossing the frame left to right, as mp4 bytes."""
    import tempfile

    from vidbench.video import write_video

    yy, xx = np.mgrid[0:height, 0:width]
    out = np.empty((frames, height, width, 3), np.uint8)
    bg = np.array([20 + 10 * (seed % 5), 30, 40], np.uint8)
    for k in range(frames):
        out[k] = bg
        cx = (k + 0.5) / frames * width
        disc = (xx - cx) ** 2 + (yy - height / 2) ** 2 <= (min(width, height) / 5) ** 2
        out[k][disc] = (230, 60, 40)
    with tempfile.TemporaryDirectory() as d:
        p = write_video(os.path.join(d, "v.mp4"), out, fps)
        return p.read_bytes()


def _tag_count(prompt: str, tag: str) -> int:
    m = re.search(r"\[" + re.escape(tag) + r"x(\d+)\]", prompt)
    return int(m.group(1)) if m else 0


class FakeVideoAPI:
    def __init__(self, *, token: str | None = "secret-token", polls_to_finish: int = 2,
                 hang_s: float = 2.5, fps: float = 8.0) -> None:
        self.token = token
        self.polls_to_finish = polls_to_finish
        self.hang_s = hang_s
        self.fps = fps
        self.hold = False
        self.redirect_downloads = False  # /content answers 302 to the CDN host
        self.storm429 = 0
        self.retry_after = "0.01"
        self.jobs: dict[str, dict[str, Any]] = {}
        self.created: Counter[str] = Counter()
        self.submit_attempts: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()  # per (job id, phase) failure counters
        self.log: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._n = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeVideoAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ state

    def _new_job(self, body: dict) -> dict:
        with self.lock:
            self._n += 1
            jid = f"video_{self._n:04d}"
            w, h = (int(v) for v in str(body.get("size", "32x32")).split("x"))
            job = {"id": jid, "prompt": body.get("prompt", ""), "seed": body.get("seed", 0),
                   "width": w, "height": h, "seconds": float(body.get("seconds", 1)),
                   "polls": 0, "status": "queued", "image": body.get("image")}
            self.jobs[jid] = job
            self.created[job["prompt"]] += 1
            return job

    def _bump(self, key: str) -> int:
        with self.lock:
            self.counts[key] += 1
            return self.counts[key]

    def video_bytes(self, job: dict) -> bytes:
        if "bytes" not in job:
            n = max(1, int(round(job["seconds"] * self.fps)))
            job["bytes"] = render_video(job["width"], job["height"], n, self.fps,
                                        int(job["seed"] or 0))
        return job["bytes"]

    # ------------------------------------------------------------------ HTTP

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json",
                      headers: dict | None = None, length: int | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body) if length is None
                                                       else length))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(body)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if length is not None and length != len(body):
                    self.close_connection = True

            def _json(self, status: int, obj: Any, headers: dict | None = None) -> None:
                self._send(status, json.dumps(obj).encode(), headers=headers)

            def _common(self) -> bool:
                host = self.headers.get("Host", "")
                api.log.append({"method": self.command, "path": self.path, "host": host,
                                "auth": self.headers.get("Authorization")})
                if api.storm429 > 0:
                    with api.lock:
                        api.storm429 -= 1
                    self._json(429, {"error": "slow down"}, {"Retry-After": api.retry_after})
                    return False
                if self.path.startswith("/cdn/"):
                    return True
                if api.token and self.headers.get("Authorization") != f"Bearer {api.token}":
                    got = self.headers.get("Authorization")
                    self._json(401, {"error": {"message": f"invalid api key (got {got})"}})
                    return False
                return True

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                if not self._common():
                    return
                if self.path != "/v1/videos":
                    return self._json(404, {"error": "no such endpoint"})
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    return self._json(400, {"error": {"message": "body is not JSON"}})
                prompt = str(body.get("prompt", ""))
                with api.lock:
                    api.submit_attempts[prompt] += 1
                    attempt = api.submit_attempts[prompt]
                if attempt <= _tag_count(prompt, "submit500"):
                    return self._json(500, {"error": "internal"})
                if attempt <= _tag_count(prompt, "submit429"):
                    return self._json(429, {"error": "rate"}, {"Retry-After": api.retry_after})
                if "prompt" not in body or "size" not in body:
                    return self._json(400, {"error": {"message": "prompt and size required"}})
                job = api._new_job(body)
                if "[submit-timeout]" in prompt:
                    time.sleep(api.hang_s)
                if "[submit-badjson]" in prompt:
                    return self._send(200, b"{\"id\": \"video_", "application/json")
                self._json(200, {"id": job["id"], "object": "video", "status": "queued"})

            def do_GET(self) -> None:
                if not self._common():
                    return
                m = re.match(r"^/v1/videos/([\w-]+)$", self.path)
                if m:
                    return self._poll(m.group(1))
                m = re.match(r"^/v1/videos/([\w-]+)/content$", self.path)
                if m and api.redirect_downloads:
                    loc = f"http://localhost:{api.port}/cdn/{m.group(1)}.mp4"
                    return self._send(302, b"", "text/plain", {"Location": loc})
                m = m or re.match(r"^/cdn/([\w-]+)\.mp4$", self.path)
                if m:
                    return self._download(m.group(1))
                self._json(404, {"error": "no such endpoint"})

            def _poll(self, jid: str) -> None:
                job = api.jobs.get(jid)
                if job is None:
                    return self._json(404, {"error": {"message": f"no job {jid}"}})
                p = job["prompt"]
                if "[poll-timeout]" in p and api._bump(f"{jid}:polltimeout") == 1:
                    time.sleep(api.hang_s)
                if api._bump(f"{jid}:poll500") <= _tag_count(p, "poll500"):
                    return self._json(503, {"error": "unavailable"})
                if api._bump(f"{jid}:pollbadjson") <= _tag_count(p, "pollbadjson"):
                    return self._send(200, b"<html>gateway hiccup</html>", "application/json")
                with api.lock:
                    if not api.hold:
                        job["polls"] += 1
                    if job["status"] in ("queued", "in_progress"):
                        if api.hold:
                            job["status"] = "in_progress"
                        elif job["polls"] >= api.polls_to_finish:
                            job["status"] = "failed" if "[fail]" in p else (
                                "weird" if "[weird]" in p else "completed")
                        else:
                            job["status"] = "in_progress"
                out: dict[str, Any] = {"id": jid, "object": "video", "status": job["status"],
                                       "progress": 100 if job["status"] == "completed" else 50}
                if job["status"] == "failed":
                    out["error"] = {"code": "moderation", "message":
                                    "content policy violation"}
                if job["status"] == "completed" and "[nourl]" not in p:
                    out["video"] = {"url": f"http://localhost:{api.port}/cdn/{jid}.mp4"}
                self._json(200, out)

            def _download(self, jid: str) -> None:
                job = api.jobs.get(jid)
                if job is None or job["status"] != "completed":
                    return self._json(404, {"error": "not ready"})
                p = job["prompt"]
                if "[html]" in p:
                    return self._send(200, b"<html>login</html>", "text/html; charset=utf-8")
                if "[garbage]" in p:
                    return self._send(200, np.random.default_rng(0).bytes(4000), "video/mp4")
                data = api.video_bytes(job)
                if api._bump(f"{jid}:truncate") <= _tag_count(p, "truncate"):
                    return self._send(200, data[: len(data) // 2], "video/mp4",
                                      length=len(data))
                self._send(200, data, "video/mp4")

        return Handler


def openai_like_config(base_url: str, **over: Any) -> dict:
    """A config for this server in the shape of docs/http-examples/openai-videos.json."""
    cfg = {
        "name": "fake-sora",
        "revision": "fake-2026-01",
        "base_url": base_url,
        "auth": {"env": "FAKE_VIDEO_API_KEY", "header": "Authorization",
                 "format": "Bearer {token}"},
        "submit": {"method": "POST", "path": "/videos",
                   "body": {"model": "fake", "prompt": "{prompt}", "seed": "{seed}",
                            "seconds": "{seconds|str}", "size": "{size}"}},
        "job_id": "id",
        "poll": {"path": "/videos/{job_id}", "interval_s": 0.005, "max_interval_s": 0.02},
        "state": "status",
        "states": {"queued": ["queued"], "running": ["in_progress"],
                   "succeeded": ["completed"], "failed": ["failed", "cancelled"]},
        "error": "error.message",
        "video_url": "video.url",
        "seconds": {"allowed": [1, 2, 4]},
        "limits": {"concurrency": 4, "deadline_s": 30, "timeout_s": 2.0, "max_attempts": 5,
                   "backoff_s": 0.005, "max_backoff_s": 0.02, "max_retry_after_s": 0.05},
    }
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    return cfg
