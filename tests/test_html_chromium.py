"""The static leaderboard page in a real browser: headless Chromium driven over the Chrome
DevTools Protocol (``--remote-debugging-pipe``: JSON messages on fds 3/4, stdlib only).

Checks: the page loads from a file with no network request and no script error; clicking a
column header (a real mouse event at the header's position) sorts the rows by that
column's values, a second click reverses them; every embedded plot decodes
(``naturalWidth > 0``); a full-page screenshot shows the table and the plots where the DOM
says they are, without overlap.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from vidbench.leaderboard.cli import build_leaderboard
from vidbench.leaderboard.testing import write_from_values

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                             "/usr/bin/chromium") if p and os.path.exists(p)), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (Debian package `chromium`; .ci/run "
    "installs it)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
         "--remote-debugging-pipe"]


class CDP:
    """Minimal Chrome DevTools Protocol client over the debugging pipe."""

    def __init__(self, user_data_dir: Path, timeout: float = 60.0) -> None:
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()
        # park the child's ends above fd 10 so the dup2 to 3/4 below cannot clobber them
        a = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        b = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        def wire() -> None:  # in the child: our ends become fds 3 and 4 (inheritable)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={user_data_dir}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=wire, close_fds=False)
        os.close(a)
        os.close(b)
        self.timeout = timeout
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []
        self.session: str | None = None

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from chromium over the debugging pipe")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    err = self.proc.stderr.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"chromium closed the pipe; stderr: {err}")
                self._buf += chunk
        msg, _, self._buf = self._buf.partition(b"\0")
        return json.loads(msg)

    def send(self, method: str, params: dict | None = None, *, session: bool = True) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method: str) -> dict:
        for m in self.events:
            if m.get("method") == method:
                return m
        deadline = time.monotonic() + self.timeout
        while True:
            m = self._read_message(deadline)
            self.events.append(m)
            if m.get("method") == method:
                return m

    def eval(self, expr: str):
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """Five models whose order by ``sorter`` differs from the page's default order (by
    Total); per-video data and >= 5 models so all four plots (the correlation heatmap
    included) are drawn."""
    tmp = tmp_path_factory.mktemp("html")
    rng = np.random.default_rng(3)
    dims = ["subject_consistency", "background_consistency", "temporal_flicker",
            "motion_smoothness", "aesthetic_quality", "clip_score"]
    sorter = {"m-a": 0.2, "m-b": 0.9, "m-c": 0.5, "m-d": 0.7, "m-e": 0.35}
    paths = []
    for k, name in enumerate(sorter):
        pv = {d: list(np.clip(rng.normal(0.5 + 0.1 * k, 0.02, 12), 0, 1)) for d in dims}
        pv["clip_score"] = list(rng.normal(0.2 + 0.02 * k, 0.01, 12))
        pv["sorter"] = list(rng.normal(sorter[name], 0.01, 12))
        paths.append(write_from_values(tmp / name, name, pv))
    info = build_leaderboard(paths, tmp / "out", formats=("html",))
    cdp = CDP(tmp / "profile")
    try:
        cdp.send("Target.setDiscoverTargets", {"discover": True}, session=False)
        tid = cdp.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        cdp.session = cdp.send("Target.attachToTarget", {"targetId": tid, "flatten": True},
                               session=False)["sessionId"]
        for dom in ("Page", "Runtime", "Network", "Log"):
            cdp.send(f"{dom}.enable")
        cdp.send("Emulation.setDeviceMetricsOverride",
                 {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})
        cdp.send("Page.navigate", {"url": Path(info["files"]["html"]).resolve().as_uri()})
        cdp.wait_event("Page.loadEventFired")
        yield cdp, sorter, info
    finally:
        cdp.close()


def _models(cdp: CDP) -> list[str]:
    return cdp.eval("Array.from(document.querySelectorAll('#leaderboard tbody tr'))"
                    ".map(r => r.cells[1].textContent)")


def _click_header(cdp: CDP, text: str) -> None:
    rect = cdp.eval(f"""(() => {{
        const th = Array.from(document.querySelectorAll('th.sortable'))
            .find(h => h.textContent.startsWith({json.dumps(text)}));
        th.scrollIntoView({{block: 'center', inline: 'center'}});
        const r = th.getBoundingClientRect();
        return {{x: r.x + r.width / 2, y: r.y + r.height / 2}};
    }})()""")
    for typ in ("mousePressed", "mouseReleased"):
        cdp.send("Input.dispatchMouseEvent", {"type": typ, "x": rect["x"], "y": rect["y"],
                                              "button": "left", "clickCount": 1})


def test_sort_by_clicking_a_header(page):
    cdp, sorter, _ = page
    before = _models(cdp)
    assert sorted(before) == sorted(sorter)
    _click_header(cdp, "sorter")
    after = _models(cdp)
    want = sorted(sorter, key=sorter.get, reverse=True)  # higher is better: best first
    assert after == want
    assert after != before
    state = cdp.eval("Array.from(document.querySelectorAll('th.sortable'))"
                     ".find(h => h.textContent.startsWith('sorter')).getAttribute('aria-sort')")
    assert state == "descending"
    _click_header(cdp, "sorter")
    assert _models(cdp) == want[::-1]
    _click_header(cdp, "#")  # back to the leaderboard order
    assert _models(cdp) == before or _models(cdp) == before[::-1]


def test_plots_loaded_and_no_network(page):
    cdp, _, info = page
    imgs = cdp.eval("Array.from(document.images).map(i => [i.complete, i.naturalWidth, "
                    "i.naturalHeight, i.src.slice(0, 22)])")
    assert len(imgs) == len(info["plots"]) == 4
    for complete, w, h, src in imgs:
        assert complete and w > 0 and h > 0
        assert src == "data:image/png;base64,"
    urls = [e["params"]["request"]["url"] for e in cdp.events
            if e.get("method") == "Network.requestWillBeSent"]
    assert urls, "the navigation itself should have been recorded"
    assert all(u.startswith(("file:", "data:", "about:")) for u in urls), urls
    errors = [e for e in cdp.events if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Log.entryAdded"
                  and e["params"]["entry"]["level"] == "error")]
    assert not errors, errors


def test_screenshot_layout(page):
    from PIL import Image

    cdp, _, _ = page
    cdp.eval("window.scrollTo(0, 0)")
    geo = cdp.eval("""(() => {
        const t = document.getElementById('leaderboard').getBoundingClientRect();
        const imgs = Array.from(document.images).map(i => {
            const r = i.getBoundingClientRect();
            return [r.x + scrollX, r.y + scrollY, r.width, r.height]; });
        return {table: [t.x, t.y, t.width, t.height],
                page: [document.documentElement.scrollWidth,
                       document.documentElement.scrollHeight], imgs: imgs,
                visible: getComputedStyle(document.getElementById('leaderboard')).visibility};
    })()""")
    tx, ty, tw, th = geo["table"]
    assert geo["visible"] == "visible" and tw > 200 and th > 50
    assert ty < 900, "the table should start within the first screen"
    for _x, y, w, h in geo["imgs"]:
        assert w > 50 and h > 50
        assert y >= ty + th, "plots must not overlap the table"
    width, height = geo["page"]
    shot = cdp.send("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB"))
    assert img.shape[0] >= height - 2 and img.shape[1] >= min(width, 1280) - 2
    gray = img.mean(axis=2)
    table = gray[int(ty):int(ty + th), int(tx):int(tx + min(tw, 1280 - tx))]
    assert (table < 100).mean() > 0.005, "table region shows no text"
    assert (table > 200).mean() > 0.5, "table region should be mostly light background"
    for x, y, w, h in geo["imgs"]:
        crop = img[int(y):int(y + h), int(x):int(x + w)].astype(int)
        assert crop.size, "plot outside the screenshot"
        chroma = crop.max(axis=2) - crop.min(axis=2)
        assert (chroma > 60).mean() > 0.002, "plot region shows no coloured marks"
