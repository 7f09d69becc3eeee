"""``--model http:CONFIG.json`` — any asynchronous video API: submit -> poll -> download.

A JSON config describes the API (see ``docs/adapters.md`` and ``docs/http-examples/``)::

    {
      "name": "sora-2",                     # model id in the manifest (default http:<stem>)
      "revision": "sora-2-2025-10-06",      # recorded as the model revision
      "base_url": "https://api.example.com/v1",
      "auth": {"env": "API_KEY", "header": "Authorization", "format": "Bearer {token}"},
      "headers": {"X-Api-Version": "2024-11-06"},
      "submit": {"method": "POST", "path": "/videos", "format": "json",
                 "body": {"prompt": "{prompt}", "seconds": "{seconds|str}", "size": "{size}"},
                 "idempotency_header": null},
      "job_id": "id",                       # JSON path in the submit response
      "poll": {"path": "/videos/{job_id}", "interval_s": 5, "max_interval_s": 30},
      "state": "status",                    # JSON path in the poll response
      "states": {"queued": ["queued"], "running": ["in_progress"],
                 "succeeded": ["completed"], "failed": ["failed"]},
      "error": "error.message",             # JSON path to the failure reason
      "video_url": "assets.video",          # JSON path to the video URL, or instead:
      "download": {"path": "/videos/{job_id}/content"},
      "seconds": {"allowed": [4, 8, 12]},   # durations the API accepts
      "sizes": ["1280x720", "720x1280"],    # sizes it accepts (closest aspect, then area)
      "aspect_ratios": ["16:9", "9:16", "1:1"],
      "content_types": ["video/", "application/octet-stream"],
      "limits": {"concurrency": 4, "deadline_s": 1800, "timeout_s": 60,
                 "max_attempts": 8, "backoff_s": 1.0, "max_backoff_s": 60,
                 "max_retry_after_s": 300}
    }

Request templates: a string that is exactly ``"{var}"`` keeps the variable's type (number,
string); ``"{var|str}"``, ``"{var|int}"``, ``"{var|float}"`` convert; placeholders inside a
longer string are formatted in. Variables: ``prompt``, ``seed``, ``seconds`` (``num_frames /
fps``, raised to the nearest allowed duration), ``size`` (``WxH``, or the closest allowed),
``width``, ``height``, ``ratio`` (``W:H`` of the size), ``aspect_ratio`` (reduced, or the
closest allowed), ``num_frames``, ``fps``, ``item``, ``job_id`` (poll and download paths),
``lang`` (the prompt's BCP-47 language, ``en`` or ``zh``, for an API with a language or
locale field: ``"language": "{lang}"`` in ``submit.body``; the prompt itself is always sent
as written, in its own language), plus ``vars`` from the config and the spec's query
options.

Guarantees:

- **No double payment.** Every submitted job id is written to ``jobs.jsonl`` (fsync'd)
  before polling starts; a rerun polls those jobs instead of submitting again. A submit
  whose outcome is unknown (timeout, dropped connection, unreadable response) is never
  retried blindly: only with ``submit.idempotency_header`` set (the API then deduplicates).
  An item whose submit was interrupted in an earlier run is reported, not resubmitted.
- **Retries.** 5xx, connection errors and timeouts are retried with exponential back-off
  (``backoff_s * 2**k`` up to ``max_backoff_s``, jittered); 429 waits ``Retry-After``
  (seconds or an HTTP date; capped) and pauses every worker. Each job has a deadline.
- **Downloads are verified** (status, content type, non-empty, complete per
  Content-Length, decodable) in a staging file and only then committed atomically.
- **Secrets.** The auth token is read from the environment variable the config names, sent
  only to the API's own host, and redacted from every message; it is never written anywhere.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import http.client
import json
import math
import os
import random
import re
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from vidbench.adapters import Adapter, Generated, GenerationRun, JobJournal, video_facts
from vidbench.errors import UserError, VideoDecodeError
from vidbench.fileio import loads_json, read_text
from vidbench.suites import SuiteItem

STATES = ("queued", "running", "succeeded", "failed")

CONFIG_KEYS = ("name", "revision", "vars", "base_url", "auth", "headers", "submit", "job_id",
               "poll", "state", "states", "error", "video_url", "download", "seconds", "sizes",
               "aspect_ratios", "content_types", "limits")

DEFAULT_LIMITS: dict[str, float] = {
    "concurrency": 4, "deadline_s": 1800.0, "timeout_s": 60.0, "max_attempts": 8,
    "backoff_s": 1.0, "max_backoff_s": 60.0, "max_retry_after_s": 300.0,
    "max_download_bytes": 2 * 2**30,
}


class HttpJobError(RuntimeError):
    """One item's failure (the message names the item, the job and the phase).
    ``maybe_created``: a submit failed in a way that leaves it unknown whether the API
    created (and billed) the job. ``job_failed``: the job is gone for good (failed on the
    server, or unknown to it), so a rerun may submit it again."""

    def __init__(self, msg: str, *, maybe_created: bool = False, job_failed: bool = False
                 ) -> None:
        super().__init__(msg)
        self.maybe_created = maybe_created
        self.job_failed = job_failed


class _Transient(Exception):
    """A failure worth retrying (5xx, connection drop, timeout, 429)."""

    def __init__(self, msg: str, *, retry_after: float | None = None, sent: bool = True
                 ) -> None:
        super().__init__(msg)
        self.retry_after = retry_after
        self.sent = sent  # the request may have reached the server


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but drop the auth header when one leaves the API's host (download
    endpoints often redirect to a CDN)."""

    def __init__(self, auth_header: str) -> None:
        super().__init__()
        self.auth_header = auth_header.lower()

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        target = urllib.parse.urljoin(req.full_url, newurl)
        if urllib.parse.urlparse(target).scheme.lower() not in ("http", "https"):
            raise urllib.error.HTTPError(req.full_url, code, "redirect to a non-http(s) URL "
                                         "refused", headers, fp)
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            old_host = urllib.parse.urlparse(req.full_url)[:2]
            if urllib.parse.urlparse(newurl)[:2] != old_host:
                for k in list(new.headers):
                    if k.lower() == self.auth_header:
                        del new.headers[k]
                for k in list(new.unredirected_hdrs):
                    if k.lower() == self.auth_header:
                        del new.unredirected_hdrs[k]
        return new


_SOCKETS = threading.local()  # the sockets the current thread's request opened


def _track(sock: Any) -> None:
    lst = getattr(_SOCKETS, "open", None)
    if lst is not None:
        lst.append(sock)


class _TrackedHTTP(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _track(self.sock)


class _TrackedHTTPS(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _track(self.sock)


class _TrackedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_TrackedHTTP, req)


class _TrackedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_TrackedHTTPS, req, context=self._context)  # type: ignore[attr-defined]


class _Watchdog:
    """Shut down every socket the current thread opens once ``seconds`` have passed: a
    server dripping its status line or headers one byte at a time (each read within
    ``timeout_s``) cannot hold the request past the job's deadline."""

    def __init__(self, seconds: float) -> None:
        self.socks: list[Any] = []
        self.fired = False
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        import socket

        for sk in list(self.socks):
            try:
                sk.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> _Watchdog:
        _SOCKETS.open = self.socks
        self._timer.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._timer.cancel()
        _SOCKETS.open = None


@dataclass
class _Response:
    status: int
    headers: Any
    body: bytes


# ----------------------------------------------------------------------------- helpers


def json_path(obj: Any, path: str | None) -> Any:
    """``"data.items[0].url"`` -> the value, or None when any step is missing."""
    if path is None or path == "":
        return obj
    cur = obj
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            i = int(part[1:-1])
            if not isinstance(cur, list) or i >= len(cur):
                return None
            cur = cur[i]
        else:
            if not isinstance(cur, dict) or part not in cur:
                return None
            cur = cur[part]
    return cur


_WHOLE = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)(?:\|(str|int|float))?\}$")
_PART = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?:\|(str|int|float))?\}")


def render(template: Any, env: dict[str, Any]) -> Any:
    """Fill ``{var}`` placeholders in a JSON template (see the module docstring)."""
    if isinstance(template, dict):
        return {k: render(v, env) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, env) for v in template]
    if not isinstance(template, str):
        return template
    m = _WHOLE.match(template)
    if m:
        return _convert(_lookup(env, m.group(1)), m.group(2))
    return _PART.sub(lambda mm: str(_convert(_lookup(env, mm.group(1)), mm.group(2))),
                     template)


class _NoImage:
    """The value of the image variables for an item without conditioning frames."""


_NO_IMAGE = _NoImage()


def _lookup(env: dict[str, Any], name: str) -> Any:
    if name not in env:
        raise KeyError(name)
    v = env[name]
    if v is _NO_IMAGE:
        raise HttpJobError(f"item {env.get('item')!r}: the request template uses {{{name}}} "
                           f"(image-to-video), but the item has no conditioning frames")
    return v


def png_base64(frame: np.ndarray) -> str:
    """One RGB uint8 frame as base64-encoded PNG."""
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(frame),
                                                cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode the conditioning frame as PNG")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def _shorten(x: Any, limit: int = 256) -> Any:
    """Recorded request fields: long strings (inline images) become a length and hash."""
    if isinstance(x, dict):
        return {k: _shorten(v, limit) for k, v in x.items()}
    if isinstance(x, list):
        return [_shorten(v, limit) for v in x]
    if isinstance(x, str) and len(x) > limit:
        return f"<{len(x)} chars, sha256 {hashlib.sha256(x.encode()).hexdigest()[:16]}>"
    return x


def _convert(v: Any, kind: str | None) -> Any:
    if kind == "str":
        return str(v)
    if kind == "int":
        return int(round(float(v)))
    if kind == "float":
        return float(v)
    return v


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else round(float(x), 3)


def _aspect(w: int, h: int) -> str:
    f = Fraction(w, h)
    return f"{f.numerator}:{f.denominator}"


def _ratio_value(s: str) -> float:
    a, b = re.split(r"[:x]", s)
    return float(a) / float(b)


def choose_size(width: int, height: int, allowed: list[str] | None) -> tuple[int, int]:
    """The allowed ``WxH`` closest in aspect ratio (log scale), then in area."""
    if not allowed:
        return width, height
    want = math.log(width / height)

    def cost(s: str) -> tuple[float, float]:
        w, h = (int(v) for v in s.lower().split("x"))
        return (round(abs(math.log(w / h) - want), 6), abs(math.log(w * h / (width * height))))

    w, h = (int(v) for v in min(allowed, key=cost).lower().split("x"))
    return w, h


def choose_seconds(needed: float, spec: dict | None) -> float:
    """The shortest allowed duration covering ``needed`` seconds (else the longest)."""
    allowed = sorted(float(s) for s in (spec or {}).get("allowed", []))
    if not allowed:
        return needed
    for s in allowed:
        if s >= needed - 1e-6:
            return s
    return allowed[-1]


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def _multipart(fields: dict[str, Any]) -> tuple[bytes, str]:
    boundary = "vidbench" + hashlib.sha1(repr(sorted(fields.items())).encode()).hexdigest()
    out = []
    for k, v in fields.items():
        out.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n"
                   f"{v}\r\n")
    out.append(f"--{boundary}--\r\n")
    return "".join(out).encode("utf-8"), f"multipart/form-data; boundary={boundary}"


# ----------------------------------------------------------------------------- config


def load_config(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"http adapter: no such config file {path}")
    cfg = loads_json(read_text(path), str(path))
    if not isinstance(cfg, dict):
        raise UserError(f"{path}: expected a JSON object")
    unknown = sorted(k for k in cfg if k not in CONFIG_KEYS and not k.startswith("_"))
    if unknown:
        raise UserError(f"{path}: unknown key(s) {', '.join(unknown)}; known: "
                        f"{', '.join(CONFIG_KEYS)} (keys starting with _ are comments)")
    for key in ("base_url", "submit", "job_id", "poll", "state", "states"):
        if key not in cfg:
            raise UserError(f"{path}: missing required key {key!r}")
    if "video_url" not in cfg and "download" not in cfg:
        raise UserError(f"{path}: give either \"video_url\" (a JSON path to the video URL in "
                        f"the finished job) or \"download\" (an endpoint)")
    states = cfg["states"]
    if not isinstance(states, dict) or not {"succeeded", "failed"} <= set(states):
        raise UserError(f"{path}: \"states\" must map at least succeeded and failed to the "
                        f"API's state names")
    bad = set(states) - set(STATES)
    if bad:
        raise UserError(f"{path}: unknown state group(s) {sorted(bad)}; use {STATES}")
    scheme = urllib.parse.urlparse(cfg["base_url"]).scheme
    if scheme not in ("http", "https"):
        raise UserError(f"{path}: base_url must be http(s), got {cfg['base_url']!r}")
    return cfg


# ----------------------------------------------------------------------------- adapter


class HttpAdapter(Adapter):
    """Generic submit/poll/download client; see the module docstring."""

    scheme = "http"
    stages_downloads = True  # every path it returns lies in the run's staging folder

    def __init__(self, target: str = "", **options: Any) -> None:
        super().__init__(target, **options)
        self.config_path = Path(target).expanduser()
        self.cfg = load_config(self.config_path)
        self.config_sha256 = hashlib.sha256(
            json.dumps(self.cfg, sort_keys=True).encode()).hexdigest()[:16]
        lim = dict(DEFAULT_LIMITS)
        lim.update(self.cfg.get("limits") or {})
        for k in list(lim):
            if k in options:
                lim[k] = float(options.pop(k))
        self.limits = lim
        self.vars = {**(self.cfg.get("vars") or {}), **options}
        auth = self.cfg.get("auth") or {}
        self._token: str | None = None
        if auth.get("env"):
            tok = os.environ.get(auth["env"])
            if not tok:
                raise UserError(f"http adapter: set the environment variable {auth['env']} "
                                f"(the API token {self.config_path} names in auth.env)")
            self._token = tok
        self._auth_header = auth.get("header", "Authorization")
        self._auth_format = auth.get("format", "Bearer {token}")
        self._opener = urllib.request.build_opener(
            _SafeRedirects(self._auth_header), _TrackedHTTPHandler(), _TrackedHTTPSHandler())
        base = urllib.parse.urlparse(self.cfg["base_url"])
        self._api_host = (base.scheme, base.netloc)
        self._journal = JobJournal(None)
        self._staging: Path | None = None
        self._cool_lock = threading.Lock()
        self._cool_until = 0.0
        self._rng = random.Random(0)
        self._stop = threading.Event()
        self._tls = threading.local()  # the current job's overall deadline, per worker
        self._validate_templates()

    # ---------------------------------------------------------------- identity

    @property
    def model_id(self) -> str:
        name = self.cfg.get("name")
        if not name:
            return f"http:{self.config_path.stem}"
        try:
            return str(render(str(name), self.vars))
        except KeyError:
            return str(name)

    @property
    def revision(self) -> str | None:
        rev = self.cfg.get("revision")
        return str(rev) if rev is not None else None

    def prepare(self, run: GenerationRun) -> None:
        self._journal = run.journal
        self._staging = run.staging_dir

    # ---------------------------------------------------------------- requests

    def env_for(self, item: SuiteItem) -> dict[str, Any]:
        w, h = choose_size(item.width, item.height, self.cfg.get("sizes"))
        needed = item.num_frames / item.fps if item.fps else 0.0
        seconds = choose_seconds(needed, self.cfg.get("seconds"))
        ratios = self.cfg.get("aspect_ratios")
        aspect = (min(ratios, key=lambda r: abs(math.log(_ratio_value(r) / (w / h))))
                  if ratios else _aspect(w, h))
        env: dict[str, Any] = {
            **self.vars, "prompt": item.prompt, "lang": item.lang or "en", "seed": item.seed,
            "item": item.item,
            "seconds": _num(seconds), "size": f"{w}x{h}", "width": w, "height": h,
            "ratio": f"{w}:{h}", "aspect_ratio": aspect, "num_frames": item.num_frames,
            "fps": _num(item.fps), "image_base64": _NO_IMAGE, "image_data_uri": _NO_IMAGE}
        if item.conditioning is not None and self._uses_image:
            cond = item.conditioning_frames()
            if cond is not None and len(cond):
                b64 = png_base64(cond[0])
                env["image_base64"] = b64
                env["image_data_uri"] = f"data:image/png;base64,{b64}"
        return env

    def _validate_templates(self) -> None:
        self._uses_image = "{image_" in json.dumps(self.cfg.get("submit"))
        probe = SuiteItem(item="probe", prompt="probe")
        env = {**self.env_for(probe), "job_id": "JOB", "image_base64": "",
               "image_data_uri": ""}
        try:
            render(self.cfg["submit"].get("body") or {}, env)
            render(self.cfg["submit"].get("path", ""), env)
            render(self.cfg["poll"].get("path", ""), env)
            if "download" in self.cfg:
                render(self.cfg["download"].get("path", ""), env)
        except KeyError as e:
            raise UserError(f"{self.config_path}: unknown template variable {{{e.args[0]}}}; "
                            f"known: {', '.join(sorted(env))}") from None

    def _url(self, path_or_url: str) -> str:
        """An absolute http(s) URL; anything else (``file:``, ``ftp:``, a server-supplied
        ``javascript:``) is refused, so a server cannot make the client read local files."""
        url = urllib.parse.urljoin(self.cfg["base_url"].rstrip("/") + "/",
                                   path_or_url.lstrip("/")) \
            if not re.match(r"^https?://", path_or_url, re.I) else path_or_url
        if urllib.parse.urlparse(url).scheme.lower() not in ("http", "https"):
            raise HttpJobError(f"refusing the non-http(s) URL {_snippet(url.encode(), 80)}")
        if len(url) > 8192 or re.search(r"[\x00-\x20\x7f]", url):
            raise HttpJobError(f"refusing a URL with control characters, spaces or over 8192 "
                               f"characters: {_snippet(url.encode(), 80)}")
        return url

    def _path_env(self, env: dict) -> dict:
        """``env`` for rendering URL paths: the server-supplied job id URL-encoded as one
        path segment (``/``, ``?``, ``#``, ``%`` and a bare ``.``/``..`` cannot steer the
        request elsewhere)."""
        return {**env, "job_id": quote_segment(str(env.get("job_id", "")))}

    def _headers(self, url: str, extra: dict | None = None) -> dict[str, str]:
        h = {"User-Agent": "vidbench", **{k: str(v) for k, v in
                                          (self.cfg.get("headers") or {}).items()}}
        p = urllib.parse.urlparse(url)
        if self._token and (p.scheme, p.netloc) == self._api_host:
            h[self._auth_header] = self._auth_format.format(token=self._token)
        if extra:
            h.update(extra)
        return h

    def _snip(self, data: bytes) -> str:
        """A short printable excerpt of a response body, redacted *before* it is cut (a cut
        first could keep all but the last character of the token)."""
        text = data[:_REDACT_WINDOW].decode("utf-8", "replace")
        return _snippet(self._redact(text).encode("utf-8"), more=len(data) > _REDACT_WINDOW)

    def _redact(self, text: str) -> str:
        """Replace the token, and any fragment of it of ``_MIN_FRAGMENT`` or more characters,
        with ``***``."""
        return redact(text, self._token)

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(max(0.0, seconds)):
            raise HttpJobError("cancelled (the run was interrupted)")

    def _deadline(self) -> float:
        return getattr(self._tls, "deadline", math.inf)

    def _wait_cooldown(self) -> None:
        """Wait out a shared 429 cool-down, but never past this job's deadline."""
        with self._cool_lock:
            until = self._cool_until
        if until > self._deadline():
            raise self._deadline_error("rate limited (HTTP 429) past the deadline", sent=False)
        delay = until - time.monotonic()
        if delay > 0:
            self._sleep(delay)

    def _deadline_error(self, what: str, *, sent: bool) -> HttpJobError:
        return HttpJobError(
            f"{what}: the job's deadline ({self.limits['deadline_s']:g} s) was reached; a "
            f"submitted job's id is kept in jobs.jsonl, so rerunning polls it again without "
            f"paying twice", maybe_created=sent)

    def _remaining(self, what: str, *, sent: bool = False) -> float:
        left = self._deadline() - time.monotonic()
        if left <= 0:
            raise self._deadline_error(what, sent=sent)
        return left

    def _request(self, method: str, url: str, *, body: bytes | None = None,
                 headers: dict | None = None, stream_to: Path | None = None) -> _Response:
        """One HTTP exchange. Raises _Transient for retryable failures (5xx, 429, network);
        returns 2xx-4xx responses."""
        self._wait_cooldown()
        req = urllib.request.Request(url, data=body, method=method,
                                     headers=self._headers(url, headers))
        left = self._remaining(f"{method} {url}")
        timeout = min(float(self.limits["timeout_s"]), left)
        try:
            with _Watchdog(left), self._opener.open(req, timeout=timeout) as r:
                status, hdrs = r.status, r.headers
                if stream_to is None:
                    data = self._read_body(r, f"{method} {url}")
                else:
                    data = self._stream(r, stream_to)
        except urllib.error.HTTPError as e:
            status, hdrs = e.code, e.headers
            try:
                with _Watchdog(self._remaining(f"{method} {url}")):
                    data = self._read_body(e, f"{method} {url}")
            except HttpJobError:
                raise
            except Exception:
                data = b""
        except http.client.HTTPException as e:  # IncompleteRead, RemoteDisconnected, ...
            if self._deadline() <= time.monotonic():
                raise self._deadline_error(f"{method} {url}", sent=True) from None
            raise _Transient(self._redact(f"{method} {url} failed ({type(e).__name__})")
                             ) from None
        except (TimeoutError, OSError, urllib.error.URLError) as e:
            if self._deadline() <= time.monotonic():
                raise self._deadline_error(f"{method} {url}", sent=True) from None
            reason = getattr(e, "reason", e)
            refused = isinstance(reason, ConnectionRefusedError)
            kind = "timed out" if isinstance(reason, TimeoutError) or "timed out" in str(
                reason) else f"failed ({type(reason).__name__}: {reason})"
            raise _Transient(self._redact(f"{method} {url} {kind}"), sent=not refused
                             ) from None
        if status == 429:
            ra = _retry_after(hdrs.get("Retry-After") if hdrs else None)
            raise _Transient(f"{method} {url}: HTTP 429 (rate limited)", retry_after=ra)
        if status >= 500 or status in (408,):
            raise _Transient(f"{method} {url}: HTTP {status} {self._snip(data)}")
        return _Response(status, hdrs, data)

    def _chunk(self, r: Any, what: str) -> bytes:
        """One read of at most 64 KiB that returns what has arrived (``read1``), after
        checking the job's deadline: a server dripping one byte at a time cannot hold a
        worker past it. (The request was sent: a submit cut here may have created a job.)"""
        self._remaining(what, sent=True)
        read1 = getattr(r, "read1", None)
        return read1(1 << 16) if read1 is not None else r.read(1 << 16)

    def _read_body(self, r: Any, what: str) -> bytes:
        """A JSON/API response body, bounded in size and by the deadline."""
        buf = bytearray()
        while chunk := self._chunk(r, what):
            buf += chunk
            if len(buf) > _MAX_API_BODY:
                raise HttpJobError(f"{what}: response larger than {_MAX_API_BODY} bytes")
        return bytes(buf)

    def _stream(self, r: Any, dest: Path) -> bytes:
        limit = int(self.limits["max_download_bytes"])
        n = 0
        with open(dest, "wb") as f:
            while True:
                chunk = self._chunk(r, "download")
                if not chunk:
                    break
                n += len(chunk)
                if n > limit:
                    raise HttpJobError(f"download larger than {limit} bytes; raise "
                                       f"limits.max_download_bytes")
                f.write(chunk)
        return str(n).encode()

    def _with_retries(self, what: str, fn, *, deadline: float, retry_unsent_only: bool = False):
        """Call ``fn()`` retrying _Transient failures with back-off until the attempt limit or
        the deadline. ``retry_unsent_only``: retry only failures where the request surely
        did not take effect (429, 5xx responses, refused connections)."""
        attempts = int(self.limits["max_attempts"])
        last = ""
        n429 = 0
        for k in range(attempts):
            try:
                return fn()
            except _Transient as e:
                last = str(e)
                if e.retry_after is not None or "HTTP 429" in last:
                    n429 += 1
                    wait_s = min(e.retry_after if e.retry_after is not None
                                 else self._backoff(k), float(self.limits["max_retry_after_s"]))
                    with self._cool_lock:
                        self._cool_until = max(self._cool_until, time.monotonic() + wait_s)
                elif retry_unsent_only and e.sent and (not re.search(r"HTTP \d{3}", last)
                                                       or "HTTP 504" in last):
                    raise HttpJobError(
                        f"{what}: {last}; the server may have accepted the request, so it is "
                        f"not retried (that could pay twice). Set submit.idempotency_header "
                        f"if the API supports idempotency keys", maybe_created=True) from None
                else:
                    wait_s = self._backoff(k)
                if k == attempts - 1:
                    break
                if time.monotonic() + wait_s > deadline:
                    raise HttpJobError(f"{what}: deadline reached while retrying ({last})"
                                       ) from None
                self._sleep(wait_s)
        if n429 == attempts:
            raise HttpJobError(f"{what}: still rate limited (HTTP 429) after {attempts} "
                               f"attempts") from None
        raise HttpJobError(f"{what}: gave up after {attempts} attempts ({last})") from None

    def _backoff(self, k: int) -> float:
        base = float(self.limits["backoff_s"]) * (2 ** k)
        return min(base, float(self.limits["max_backoff_s"])) * (0.75 + 0.5 * self._rng.random())

    def _json(self, resp: _Response, what: str) -> Any:
        try:
            return json.loads(resp.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _Transient(f"{what}: malformed JSON response {self._snip(resp.body)}"
                             ) from None

    # ---------------------------------------------------------------- one job

    def _request_body(self, env: dict) -> tuple[bytes | None, dict[str, str], Any]:
        sub = self.cfg["submit"]
        fields = render(sub.get("body") or {}, env)
        fmt = sub.get("format", "json")
        if fmt == "json":
            return json.dumps(fields).encode(), {"Content-Type": "application/json"}, fields
        if fmt == "form":
            return (urllib.parse.urlencode(fields).encode(),
                    {"Content-Type": "application/x-www-form-urlencoded"}, fields)
        if fmt == "multipart":
            data, ctype = _multipart(fields)
            return data, {"Content-Type": ctype}, fields
        raise UserError(f"{self.config_path}: submit.format must be json, form or multipart")

    def job_key(self, item: SuiteItem, fields: Any) -> str:
        blob = json.dumps([self.model_id, fields], sort_keys=True, default=str).encode()
        return f"{item.item}:{hashlib.sha256(blob).hexdigest()[:12]}"

    def run_job(self, item: SuiteItem) -> Generated:
        t0 = time.monotonic()
        deadline = t0 + float(self.limits["deadline_s"])
        self._tls.deadline = deadline  # an overall deadline: cool-downs, polls, downloads
        env = self.env_for(item)
        body, ctype, fields = self._request_body(env)
        key = self.job_key(item, fields)
        rec = self._journal.get(key) or {}
        resumed = False
        job_id = rec.get("job_id")
        if job_id and rec.get("state") != "failed":
            resumed = True
        elif rec.get("state") == "submitting" and not self.cfg["submit"].get(
                "idempotency_header"):
            raise HttpJobError(
                f"item {item.item!r}: an earlier run was interrupted while submitting this job "
                f"(jobs.jsonl key {key}); it may have been created and paid for. Check the "
                f"provider's dashboard, then delete that key's lines from jobs.jsonl to submit "
                f"again")
        else:
            job_id = self._submit(item, env, key, body, ctype, deadline)
        env["job_id"] = job_id
        try:
            result = self._poll(item, job_id, env, deadline)
            self._journal.put(key, state="succeeded")
            path, facts = self._download(item, job_id, env, result, deadline)
        except HttpJobError as e:
            if e.job_failed:  # gone for good: a rerun submits a new job
                self._journal.put(key, state="failed", error=self._redact(str(e))[:300])
            raise
        self._journal.put(key, state="downloaded")
        params = {"job_id": job_id, "request": _shorten(fields), "endpoint": self.cfg["base_url"],
                  "seconds": env["seconds"], "size": env["size"], "resumed_job": resumed,
                  "config_sha256": self.config_sha256,
                  "wall_time_s": round(time.monotonic() - t0, 4)}
        return Generated(path=path, fps=facts["fps"] or item.fps, params=params)

    def _submit(self, item: SuiteItem, env: dict, key: str, body: bytes | None, ctype: dict,
                deadline: float) -> str:
        sub = self.cfg["submit"]
        url = self._url(render(sub.get("path", ""), env))
        method = sub.get("method", "POST")
        idem = sub.get("idempotency_header")
        headers = dict(ctype)
        if idem:
            headers[idem] = hashlib.sha256(f"vidbench:{key}".encode()).hexdigest()[:32]
        what = f"item {item.item!r}: submit"
        self._journal.put(key, item=item.item, state="submitting", job_id=None)

        def once() -> Any:
            resp = self._request(method, url, body=body, headers=headers)
            if resp.status >= 400:
                raise HttpJobError(f"{what}: HTTP {resp.status} "
                                   f"{self._snip(resp.body)}")
            try:
                return json.loads(resp.body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                if idem:
                    raise _Transient(f"{what}: malformed JSON {self._snip(resp.body)}") from None
                raise HttpJobError(
                    f"{what}: HTTP {resp.status} but the response is not JSON "
                    f"({self._snip(resp.body)}); the job may exist, so it is not resubmitted "
                    f"(that could pay twice)", maybe_created=True) from None

        try:
            data = self._with_retries(what, once, deadline=deadline,
                                      retry_unsent_only=not idem)
        except HttpJobError as e:
            # with an idempotency key a resubmit is deduplicated by the API: always safe
            unsafe = e.maybe_created and not idem
            self._journal.put(key, state="submitting" if unsafe else "failed",
                              error=self._redact(str(e))[:300])
            raise
        job_id = json_path(data, self.cfg["job_id"])
        if isinstance(job_id, bool) or not isinstance(job_id, (str, int)) or len(
                str(job_id)) > 1024:
            job_id = None  # a job id is a short string or number, never a structure
        if job_id in (None, ""):
            self._journal.put(key, state="submitting", error="no job id in response")
            raise HttpJobError(f"{what}: no job id at {self.cfg['job_id']!r} in the response "
                               f"{self._snip(json.dumps(data).encode())}", maybe_created=True)
        job_id = str(job_id)
        self._journal.put(key, item=item.item, state="submitted", job_id=job_id,
                          submitted=time.time())
        return job_id

    def _poll(self, item: SuiteItem, job_id: str, env: dict, deadline: float) -> Any:
        poll = self.cfg["poll"]
        url = self._url(render(poll.get("path", ""), self._path_env(env)))
        method = poll.get("method", "GET")
        interval = float(poll.get("interval_s", 5.0))
        max_interval = float(poll.get("max_interval_s", max(interval, 30.0)))
        groups = {g: {str(s).lower() for s in names} for g, names in self.cfg["states"].items()}
        what = f"item {item.item!r}: job {job_id!r}"
        last_state = "?"
        while True:
            def once() -> Any:
                resp = self._request(method, url)
                if resp.status == 404:
                    raise HttpJobError(f"{what}: the API does not know this job (HTTP 404); "
                                       f"a rerun submits it again", job_failed=True)
                if resp.status >= 400:
                    raise HttpJobError(f"{what}: poll HTTP {resp.status} "
                                       f"{self._snip(resp.body)}")
                return self._json(resp, f"{what}: poll")

            data = self._with_retries(f"{what}: poll", once, deadline=deadline)
            raw = json_path(data, self.cfg["state"])
            state = str(raw).lower() if raw is not None else ""
            group = next((g for g, names in groups.items() if state in names), None)
            if group is None:
                raise HttpJobError(f"{what}: unknown job state {raw!r} at "
                                   f"{self.cfg['state']!r}; map it in the config's \"states\"")
            last_state = str(raw)
            if group == "succeeded":
                return data
            if group == "failed":
                reason = json_path(data, self.cfg.get("error")) if self.cfg.get("error") else None
                why = self._snip(str(reason).encode()) if reason else "no reason given"
                raise HttpJobError(f"{what} failed on the server (state {raw!r}): {why}",
                                   job_failed=True)
            if time.monotonic() + interval > deadline:
                raise HttpJobError(
                    f"{what}: still {last_state!r} at the deadline "
                    f"({self.limits['deadline_s']:.0f} s); its id is kept in jobs.jsonl, so "
                    f"rerunning polls it again without paying twice")
            self._sleep(interval)
            interval = min(interval * 1.5, max_interval)

    def _download(self, item: SuiteItem, job_id: str, env: dict, data: Any, deadline: float
                  ) -> tuple[Path, dict]:
        what = f"item {item.item!r}: job {job_id!r}: download"
        if "video_url" in self.cfg:
            url = json_path(data, self.cfg["video_url"])
            if not url or not isinstance(url, str):
                raise HttpJobError(f"{what}: the finished job has no video URL at "
                                   f"{self.cfg['video_url']!r}")
            url = self._url(url)
        else:
            url = self._url(render(self.cfg["download"].get("path", ""), self._path_env(env)))
        allowed = [c.lower() for c in self.cfg.get("content_types",
                                                  ["video/", "application/octet-stream",
                                                   "binary/octet-stream"])]
        staging = self._staging or Path(tempfile.gettempdir()) / "vidbench-http"
        staging.mkdir(parents=True, exist_ok=True)
        suffix = os.path.splitext(urllib.parse.urlparse(url).path)[1].lower()
        suffix = suffix if suffix in (".mp4", ".webm", ".mov", ".mkv", ".m4v") else ".mp4"

        def once() -> tuple[Path, dict]:
            # the job id is the server's: it never becomes part of a local path
            fd, tmp = tempfile.mkstemp(prefix=f".job-{_digest(job_id)}.", suffix=suffix,
                                       dir=staging)
            os.close(fd)
            tmp_path = Path(tmp)
            try:
                resp = self._request("GET", url, stream_to=tmp_path)
                if resp.status != 200:
                    raise HttpJobError(f"{what}: HTTP {resp.status}")
                ctype = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                if ctype and not any(ctype.startswith(a) for a in allowed):
                    raise HttpJobError(f"{what}: content type {ctype!r} is not a video "
                                       f"(allowed: {', '.join(allowed)})")
                size = tmp_path.stat().st_size
                if size == 0:
                    raise _Transient(f"{what}: empty body (0 bytes)")
                expect = resp.headers.get("Content-Length")
                if expect is not None and expect.isdigit() and int(expect) != size:
                    raise _Transient(f"{what}: truncated ({size} of {expect} bytes)")
                try:
                    facts = video_facts(tmp_path)
                except VideoDecodeError as e:
                    raise _Transient(f"{what}: not a decodable video "
                                     f"({str(e).split(': ', 1)[-1]})") from None
                return tmp_path, facts
            except BaseException:
                tmp_path.unlink(missing_ok=True)
                raise

        # downloads are free once the job is paid for: every failure may be retried
        return self._with_retries(what, once, deadline=deadline)

    # ---------------------------------------------------------------- the loop API

    def generate_one(self, item: SuiteItem) -> Generated:
        return self.run_job(item)

    def generate_many(self, items: Iterable[SuiteItem]
                      ) -> Iterator[tuple[SuiteItem, Generated | BaseException]]:
        items = list(items)
        workers = max(1, int(self.limits["concurrency"]))
        self._stop.clear()
        ex = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vidbench-http")
        futs: dict[Future, SuiteItem] = {ex.submit(self.run_job, it): it for it in items}
        pending = set(futs)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    it = futs[f]
                    exc = f.exception()
                    if exc is not None:
                        yield it, _as_item_error(exc, self._redact)
                    else:
                        yield it, f.result()
        finally:
            # interrupted (or done): wake sleeping workers so they stop promptly; jobs
            # already submitted stay in jobs.jsonl for the next run
            self._stop.set()
            ex.shutdown(wait=True, cancel_futures=True)


def _as_item_error(exc: BaseException, redact) -> BaseException:
    """The error reported for an item, its message redacted (it reaches stderr and
    generate-errors.json)."""
    if isinstance(exc, (HttpJobError, UserError)):
        exc.args = (redact(str(exc)),)
        return exc
    return HttpJobError(redact(f"{type(exc).__name__}: {exc}"))


_REDACT_WINDOW = 4096  # bytes of a body looked at for a snippet (redacted before the cut)
_MAX_API_BODY = 16 * 2**20  # a submit/poll answer larger than this is refused
_MIN_FRAGMENT = 6  # a run of this many token characters in a message is redacted


def _snippet(data: bytes, n: int = 200, *, more: bool = False) -> str:
    text = data[:n].decode("utf-8", "replace").replace("\n", " ").strip()
    return repr(text + ("..." if more or len(data) > n else ""))


def _digest(s: str) -> str:
    return hashlib.sha256(s.encode("utf-8", "replace")).hexdigest()[:16]


def quote_segment(s: str) -> str:
    """``s`` URL-encoded as one path segment: nothing left that a URL parser reads as a
    separator, a query, a fragment, an escape or a ``.``/``..`` step."""
    q = urllib.parse.quote(s, safe="")
    return q.replace(".", "%2E") if set(s) <= {"."} else q


def redact(text: str, token: str | None, min_fragment: int = _MIN_FRAGMENT) -> str:
    """``text`` with every run of ``min_fragment`` or more characters that also occurs in
    ``token`` (the whole token, a prefix, a suffix, any fragment) replaced by ``***``. A
    token shorter than ``min_fragment`` is redacted whole."""
    if not token or not text:
        return text
    k = min(min_fragment, len(token))
    grams = {token[i:i + k] for i in range(len(token) - k + 1)}
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        if text[i:i + k] in grams:
            j = i + k
            while j < n and text[i:j + 1] in token:
                j += 1
            out.append("***")
            i = j
        else:
            out.append(text[i])
            i += 1
    return "".join(out)
