"""A scripted job API on 127.0.0.1 that misbehaves on purpose: traversal job ids, token
echoes, huge Retry-After values, bodies dripped one byte at a time, ``file:`` video URLs."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class EvilAPI:
    """``job_id``: what submit answers as the id; ``submit_status``/``submit_body``: a
    failing submit; ``retry_after``: every request answers 429 with this header;
    ``drip_poll``/``drip_download``: seconds between bytes of those bodies; ``video_url``:
    what the finished job names as its video."""

    def __init__(self, video: bytes = b"", **knobs: Any) -> None:
        self.video = video
        self.job_id: Any = "job1"
        self.submit_status = 200
        self.submit_body: bytes | None = None
        self.retry_after: str | None = None
        self.drip_poll = 0.0
        self.drip_download = 0.0
        self.drip_headers = 0.0
        self.redirect_download: str | None = None  # /cdn/ answers 302 to this URL
        self.video_url: str | None = None
        self.fail_reason: str | None = None  # the job fails with this error message
        self.paths: list[str] = []
        self.__dict__.update(knobs)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> EvilAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json",
                      drip: float = 0.0, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    if not drip:
                        self.wfile.write(body)
                        return
                    for b in body:
                        self.wfile.write(bytes([b]))
                        self.wfile.flush()
                        time.sleep(drip)
                except OSError:
                    pass

            def _drip_headers(self) -> None:
                """Status line and headers one byte at a time, then hang up."""
                raw = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 4000 + b"\r\n\r\n"
                try:
                    for b in raw:
                        self.wfile.write(bytes([b]))
                        self.wfile.flush()
                        time.sleep(api.drip_headers)
                except OSError:
                    pass
                self.close_connection = True

            def _gate(self) -> bool:
                api.paths.append(self.path)
                if api.drip_headers and self.command == "GET":
                    self._drip_headers()
                    return False
                if api.retry_after is not None:
                    self._send(429, b"{}", headers={"Retry-After": api.retry_after})
                    return False
                return True

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not self._gate():
                    return
                if api.submit_body is not None:
                    self._send(api.submit_status, api.submit_body, "text/plain")
                    return
                self._send(200, json.dumps({"id": api.job_id, "status": "queued"}).encode())

            def do_GET(self) -> None:
                if not self._gate():
                    return
                if self.path.startswith("/cdn/") and api.redirect_download:
                    self._send(302, b"", "text/plain",
                               headers={"Location": api.redirect_download})
                    return
                if self.path.startswith("/cdn/") or self.path.endswith("/content"):
                    self._send(200, api.video, "video/mp4", drip=api.drip_download)
                    return
                if api.fail_reason is not None:
                    self._send(200, json.dumps({"status": "failed", "error": {
                        "message": api.fail_reason}}).encode())
                    return
                url = api.video_url or f"{api.base_url.rsplit('/v1', 1)[0]}/cdn/v.mp4"
                body = json.dumps({"status": "completed", "video": {"url": url},
                                   "pad": " " * 64}).encode()
                self._send(200, body, drip=api.drip_poll)

        return H


def config(base_url: str, **over: Any) -> dict:
    cfg: dict[str, Any] = {
        "name": "evil", "base_url": base_url,
        "auth": {"env": "EVIL_API_KEY", "header": "Authorization", "format": "Bearer {token}"},
        "submit": {"method": "POST", "path": "/videos", "body": {"prompt": "{prompt}"}},
        "job_id": "id",
        "poll": {"path": "/videos/{job_id}", "interval_s": 0.01, "max_interval_s": 0.02},
        "state": "status",
        "states": {"queued": ["queued"], "running": ["in_progress"],
                   "succeeded": ["completed"], "failed": ["failed"]},
        "video_url": "video.url",
        "limits": {"concurrency": 4, "deadline_s": 30, "timeout_s": 2.0, "max_attempts": 3,
                   "backoff_s": 0.005, "max_backoff_s": 0.02, "max_retry_after_s": 300},
    }
    for k, v in over.items():
        if v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    return cfg

