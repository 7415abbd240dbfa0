"""The dashboard in a real browser: ``streamlit run`` on a free local port and Debian's Chromium
driven by Playwright. Used by ``tests/test_e2e_browser.py``, ``bench/cold_start.py`` and
``bench/screenshots.py``.

    with dashboard_server(env) as url, chromium() as browser:
        page = browser.new_page()
        page.goto(url + "/latent")

Chromium comes from the system (``apt-get install chromium``), not from ``playwright install``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# url path (st.Page's default: the file name) -> sidebar label and the page's st.title
PAGES = {
    "": ("Overview", "gendl: deep sequence and generative models, hands on"),
    "train": ("Train", "Train a model"),
    "rnn_vs_lstm": ("RNN vs LSTM", "RNN vs LSTM"),
    "latent": ("Latent explorer", "Latent explorer"),
    "scores": ("Class histogram and scores", "Class histogram and scores"),
    "runs": ("Runs", "Runs"),
    "gan_cycle": ("Why GANs cycle", "Why GANs cycle"),
}


def chromium_path() -> str | None:
    """Debian's Chromium, or None when it is not installed."""
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements-dev.txt)"
    if chromium_path() is None:
        return "no Chromium at /usr/bin/chromium (apt-get install chromium)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def server_command(port: int) -> list[str]:
    return [
        *(sys.executable, "-m", "streamlit", "run", "dashboard.py"),
        *("--server.headless", "true", "--server.port", str(port)),
        *("--server.address", "localhost", "--browser.gatherUsageStats", "false"),
    ]


@contextmanager
def dashboard_server(
    env: dict[str, str], timeout: float = 60.0, log: Path | None = None
) -> Iterator[str]:
    """``streamlit run dashboard.py`` with ``env`` added to the environment; yields its URL once
    the health endpoint answers. The server (its whole process group) is ended on exit, also when
    the body fails; its run workers end by themselves when their parent is gone."""
    port = free_port()
    output = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        server_command(port),
        cwd=REPO,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://localhost:{port}"
    try:
        wait_healthy(url, proc, timeout)
        yield url
    finally:
        stop_process_group(proc)
        if log:
            output.close()


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode} before serving")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"streamlit did not answer on {url} within {timeout:.0f} s")
        time.sleep(0.05)


def stop_process_group(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM to the group of ``proc`` (started with ``start_new_session``), SIGKILL if needed."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``), closed on exit also when the body fails."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def wait_for_title(page: Any, title: str, timeout: float = 60.0) -> None:
    """Wait until the page's ``st.title`` reads ``title``."""
    heading = page.locator("h1").filter(has_text=title)
    heading.first.wait_for(state="visible", timeout=timeout * 1000)
