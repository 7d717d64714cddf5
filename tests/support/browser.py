"""Headless Chromium for tests: load a page, list its console errors, take a screenshot.

Chromium is Debian's ``chromium`` package, installed on first use when running as root.
The page is driven over the DevTools protocol (a websocket to ``--remote-debugging-port``)
rather than with ``--screenshot``/``--enable-logging``: the protocol reports console
errors, uncaught exceptions and failed loads as structured events, and the screenshot is
taken after a known wait, when a page that renders with JavaScript has drawn itself.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import websocket
from matplotlib import image

# Without the background-networking flags Chromium keeps connecting to Google services,
# which this machine's closed network refuses (noise in the log, and slow starts).
FLAGS = [
    "--headless",
    "--no-sandbox",  # tests run as root, where the sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",  # any free port; Chromium writes it to DevToolsActivePort
]
START_TIMEOUT_S = 30
LOAD_TIMEOUT_S = 30


@functools.cache
def _find_or_install() -> tuple[str | None, str]:
    """Chromium's path (installing it if needed and possible), or None and the reason."""
    path = shutil.which("chromium")
    if path:
        return path, ""
    if os.geteuid() != 0:
        return None, "chromium is not installed and installing it needs root (apt-get)"
    if not shutil.which("apt-get"):
        return None, "chromium is not installed and there is no apt-get to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Wait for the dpkg lock instead of failing when another test process installs too.
    install = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-qq", "chromium"]
    result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:  # most often stale package lists: refresh once, retry
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, check=False)
        result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    path = shutil.which("chromium")
    if path:
        return path, ""
    return None, f"apt-get install chromium failed: {(result.stderr or result.stdout)[-500:]}"


def ensure_chromium() -> str | None:
    """Path of the chromium executable, installed with apt-get when missing (root only);
    None when it is missing and cannot be installed (see :func:`unavailable_reason`)."""
    return _find_or_install()[0]


def unavailable_reason() -> str:
    """Why :func:`ensure_chromium` returns None (empty when Chromium is available)."""
    return _find_or_install()[1]


class _Page:
    """A DevTools protocol session with one page: commands, and the events seen so far."""

    def __init__(self, url: str):
        self.socket = websocket.create_connection(url, timeout=LOAD_TIMEOUT_S, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict] = []

    def send(self, method: str, **params) -> dict:
        """Run a command; return its result (events received meanwhile are kept)."""
        call_id = next(self.ids)
        self.socket.settimeout(LOAD_TIMEOUT_S)  # collect() may have left a short one
        self.socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def collect(self, until: float, stop_at: str | None = None) -> None:
        """Keep events until the monotonic time ``until`` or an event named ``stop_at``."""
        while (left := until - time.monotonic()) > 0:
            self.socket.settimeout(left)
            try:
                message = json.loads(self.socket.recv())
            except websocket.WebSocketTimeoutException:
                return
            self.events.append(message)
            if message.get("method") == stop_at:
                return


def _console_errors(events: list[dict]) -> list[str]:
    """The error messages among DevTools events: console.error/assert, uncaught
    exceptions, and browser log errors (failed loads, blocked content)."""
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            args = params.get("args", [])
            errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in args))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            errors.append(details.get("exception", {}).get("description") or details["text"])
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(params["entry"]["text"])
    return errors


def _debugger_url(user_data_dir: Path, process: subprocess.Popen) -> str:
    """The page websocket of a starting Chromium, once it has written DevToolsActivePort."""
    port_file = user_data_dir / "DevToolsActivePort"
    deadline = time.monotonic() + START_TIMEOUT_S
    # Two lines: the port, then the browser's websocket path (wait until both are written).
    while len(lines := port_file.read_text().split() if port_file.exists() else []) < 2:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"chromium did not start (exit status {process.poll()})")
        time.sleep(0.05)
    port, path = lines
    # Open a tab over the browser's websocket rather than the HTTP /json endpoints, which
    # urllib would send through any proxy set in the environment.
    browser = _Page(f"ws://127.0.0.1:{port}{path}")
    try:
        target = browser.send("Target.createTarget", url="about:blank")["targetId"]
    finally:
        browser.socket.close()
    return f"ws://127.0.0.1:{port}/devtools/page/{target}"


def screenshot(
    html_path: str | os.PathLike[str],
    png_path: str | os.PathLike[str],
    width: int = 1400,
    height: int = 1000,
    wait_ms: int = 1000,
) -> list[str]:
    """Load ``html_path`` in headless Chromium, wait ``wait_ms`` after its load event (time
    for scripts to render), save a ``width`` x ``height`` screenshot to ``png_path`` and
    return the page's console error messages."""
    chromium = ensure_chromium()
    if chromium is None:
        raise RuntimeError(unavailable_reason())
    user_data_dir = Path(tempfile.mkdtemp(prefix="eotrend-chromium-"))
    process = subprocess.Popen(
        [chromium, *FLAGS, f"--user-data-dir={user_data_dir}", f"--window-size={width},{height}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # its own start-up chatter; page errors come over DevTools
    )
    try:
        page = _Page(_debugger_url(user_data_dir, process))
        for domain in ("Page", "Runtime", "Log"):
            page.send(f"{domain}.enable")
        page.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        navigation = page.send("Page.navigate", url=Path(html_path).resolve().as_uri())
        if "errorText" in navigation:
            raise RuntimeError(f"cannot load {html_path}: {navigation['errorText']}")
        page.collect(time.monotonic() + LOAD_TIMEOUT_S, stop_at="Page.loadEventFired")
        page.collect(time.monotonic() + wait_ms / 1000)
        png = page.send("Page.captureScreenshot", format="png")["data"]
        Path(png_path).write_bytes(base64.b64decode(png))
        page.socket.close()
        return _console_errors(page.events)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(user_data_dir, ignore_errors=True)


def is_blank(png_path: str | os.PathLike[str], tolerance: float = 1e-3) -> bool:
    """True when the image is (almost) one flat colour: the pixel values barely vary."""
    pixels = image.imread(png_path)[..., :3]  # floats in [0, 1]; alpha ignored
    return float(np.std(pixels)) < tolerance
