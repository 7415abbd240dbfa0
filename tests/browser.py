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
import tempfile
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
# each page's sign that its script ran to the end, after the title
READY = {
    "": '[data-testid="stDataFrame"]',
    "train": 'button:has-text("Start")',
    "rnn_vs_lstm": 'button:has-text("Launch sweep")',
    "latent": '[data-testid="stImage"] img',
    "scores": '[data-testid="stMetric"]',
    "runs": '[data-testid="stAlert"], [data-testid="stDataFrame"]',
    "gan_cycle": '[data-testid="stPlotlyChart"]',
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
    with serving(server_command(port), env, f"http://localhost:{port}", timeout, log) as url:
        yield url


@contextmanager
def class_server(runs_dir: Path, token: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``python -m gendl class`` on 127.0.0.1 over ``runs_dir`` with teacher secret ``token``;
    yields its URL once it answers. Its output goes to ``runs_dir/../class-server.log``."""
    port = free_port()
    runs_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "gendl", "class", "--address", "127.0.0.1"]
    command += ["--port", str(port), "--runs-dir", str(runs_dir)]
    env = {**(env or {}), "GENDL_TEACHER_TOKEN": token}
    log = runs_dir.parent / "class-server.log"
    with serving(command, env, f"http://127.0.0.1:{port}", 60.0, log) as url:
        yield url


@contextmanager
def serving(
    command: list[str], env: dict[str, str], url: str, timeout: float, log: Path | None
) -> Iterator[str]:
    """``command`` (a server) in its own process group from the repository root, with ``env``
    added; yields ``url`` once its health endpoint answers; the group is ended on exit."""
    output = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
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
def chromium(niceness: int = 0) -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``), closed on exit also when the body fails.

    ``niceness`` > 0 runs it below the server's CPU priority (Unix nice): a class's browsers are
    on the students' own machines, and a test that opens a class of them beside the server on two
    shared cores would otherwise measure the browsers' rendering instead of the server."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as scratch:
        path = chromium_path()
        if niceness > 0 and shutil.which("nice"):
            wrapper = Path(scratch) / "chromium"
            wrapper.write_text(f'#!/bin/sh\nexec nice -n {niceness} "{path}" "$@"\n')
            wrapper.chmod(0o755)
            path = str(wrapper)
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# a page's own timing of a click and what it brings, on the machine's clock (epoch ms): when the
# click reaches the page, and the first change of the main area after it whose text matches a
# pattern (Playwright's checks before a click, and its polling after, are not the app's time)
WATCH_AFTER_CLICK = """(pattern) => {
  window.__clicked = null; window.__shown = null;
  const wanted = new RegExp(pattern);
  const main = document.querySelector('[data-testid="stMain"]');
  const now = () => performance.timeOrigin + performance.now();
  document.addEventListener("click", () => { window.__clicked ??= now(); }, true);
  new MutationObserver(() => {
    if (window.__clicked !== null && window.__shown === null && wanted.test(main.textContent))
      window.__shown = now();
  }).observe(main, {subtree: true, childList: true, characterData: true});
}"""


def watch_after_click(page: Any, pattern: str) -> None:
    """From now on, time the page's next click until its main area shows ``pattern`` (a
    JavaScript regular expression): :func:`after_click` reads the result."""
    page.evaluate(WATCH_AFTER_CLICK, pattern)


def after_click(page: Any) -> tuple[float, float] | None:
    """``(clicked, shown)`` in epoch seconds of what :func:`watch_after_click` watches, or None
    while the click or what it shows has not happened."""
    times = page.evaluate("[window.__clicked, window.__shown]")
    return None if None in times else (times[0] / 1000, times[1] / 1000)


def click_at(page: Any, button: Any, epoch_s: float) -> None:
    """Click ``button`` (a locator) from inside the page at the moment ``epoch_s``: many pages
    clicking at once, not one after another as Playwright's own clicks would."""
    page.evaluate(
        "([button, at]) => setTimeout(() => button.click(), at - Date.now())",
        [button.element_handle(), epoch_s * 1000],
    )


def join_class(page: Any, url: str, name: str) -> None:
    """A student opens the class board and joins with the display ``name``."""
    page.goto(url + "/")
    wait_for_title(page, "Class board", 120)
    page.get_by_role("textbox", name="Your display name").fill(name)
    page.get_by_role("button", name="Join the class").click()
    page.get_by_text(f"You are {name}").wait_for(timeout=120_000)


def choose(page: Any, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit select box labelled ``label``."""
    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()


def script_done(page: Any, timeout: float = 60.0) -> None:
    """Wait until the page's script run has ended."""
    page.wait_for_function(
        """() => document.querySelector('[data-testid="stApp"]')
                 ?.getAttribute("data-test-script-state") === "notRunning" """,
        timeout=timeout * 1000,
    )


def wait_for_title(page: Any, title: str, timeout: float = 60.0) -> None:
    """Wait until the page's ``st.title`` reads ``title``."""
    heading = page.locator("h1").filter(has_text=title)
    heading.first.wait_for(state="visible", timeout=timeout * 1000)


# the script run has ended, nothing is loading, every chart is drawn and every image decoded
SETTLED = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app || app.getAttribute("data-test-script-state") !== "notRunning") return false;
    if (document.querySelector('[data-testid="stSpinner"], [data-testid="stSkeleton"]'))
        return false;
    const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
    if (!charts.every(chart => chart.querySelector(".main-svg"))) return false;
    return [...document.querySelectorAll("main img")].every(img => img.complete);
}"""


def settle(page: Any, timeout: float = 120.0) -> None:
    """Wait until the page shows everything, twice in a row a second apart."""
    for _ in range(2):
        page.wait_for_function(SETTLED, timeout=timeout * 1000, polling=200)
        page.wait_for_timeout(1000)
    page.wait_for_function(SETTLED, timeout=timeout * 1000, polling=200)


# What a viewer cannot read on the page as drawn, one line each: text cut off in its box (a
# button, widget label, heading, tab, metric or navigation link whose scrollWidth exceeds its
# clientWidth), the main area wider than the window, and in each Plotly figure a legend that
# covers an axis or figure title, or a title, legend or note reaching outside the figure.
LAYOUT_PROBLEMS = """() => {
    const problems = [];
    const text = el => (el.innerText || el.textContent || "").trim().replace(/\\s+/g, " ");
    const shown = el => {
        const r = el.getBoundingClientRect();
        return r.width > 0 && r.height > 0 && r.right > 0 && el.checkVisibility();
    };
    const boxes = [
        "button", "label", "h1", "h2", "h3", '[role="tab"]',
        '[data-testid="stWidgetLabel"] p', '[data-testid="stMetricLabel"]',
        '[data-testid="stMetricValue"]', '[data-testid="stSidebarNavLink"] span',
        '[data-testid="stMarkdownContainer"]', '[data-testid="stMarkdownContainer"] p',
    ].join(", ");
    for (const el of document.querySelectorAll(boxes)) {
        if (el.closest(".js-plotly-plot") || !shown(el) || !text(el)) continue;
        if (el.scrollWidth > el.clientWidth + 1)
            problems.push(`clipped ${el.tagName.toLowerCase()} "${text(el).slice(0, 60)}": ` +
                          `${el.scrollWidth} px of text in ${el.clientWidth} px`);
    }
    const main = document.querySelector('[data-testid="stMain"]');
    if (main && main.scrollWidth > main.clientWidth + 1)
        problems.push(`the page is ${main.scrollWidth} px wide in a ${main.clientWidth} px window`);
    const overlap = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom &&
                              b.top < a.bottom;
    const inside = (a, b) => a.left >= b.left - 1 && a.right <= b.right + 1 &&
                             a.top >= b.top - 1 && a.bottom <= b.bottom + 1;
    document.querySelectorAll(".js-plotly-plot").forEach((plot, n) => {
        const chart = plot.closest('[data-testid="stPlotlyChart"]');
        if (!chart || !shown(chart)) return;
        const name = `figure ${n + 1}` + (plot.layout && plot.layout.title && plot.layout.title.text
                                          ? ` "${plot.layout.title.text}"` : "");
        const frame = plot.querySelector(".main-svg").getBoundingClientRect();
        const titles = [...plot.querySelectorAll(".infolayer > g[class$='title'] text")]
            .filter(t => text(t) && shown(t));
        const legends = [...plot.querySelectorAll(".infolayer .legend .bg")].filter(shown);
        for (const t of titles) {
            const box = t.getBoundingClientRect();
            if (!inside(box, frame))
                problems.push(`${name}: title "${text(t)}" reaches outside the figure`);
            for (const legend of legends)
                if (overlap(box, legend.getBoundingClientRect()))
                    problems.push(`${name}: the legend covers the title "${text(t)}"`);
        }
        for (const legend of legends)
            if (!inside(legend.getBoundingClientRect(), frame))
                problems.push(`${name}: the legend reaches outside the figure`);
        for (const note of plot.querySelectorAll(".annotation-text"))
            if (text(note) && shown(note) && !inside(note.getBoundingClientRect(), frame))
                problems.push(`${name}: the note "${text(note)}" reaches outside the figure`);
    });
    return problems;
}"""
