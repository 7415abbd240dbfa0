"""Every page at a projector's 1024x768 in a real browser, in presenter mode (``?present=1``) and,
under ``-m slow``, without it: no button, label, heading, tab or metric whose text is cut off, no
page wider than the window, and in each figure no legend over an axis title and no title, legend
or note outside the figure. One server with the shipped checkpoints serves every page; a
screenshot of each is written to the test's temporary directory (``layout/<mode>-<page>.png``).

Skipped when the playwright package or Chromium is missing (``apt-get install chromium``).
"""

from __future__ import annotations

import pytest

from app_pages.common import PRESENT_SCALE
from tests.browser import (
    LAYOUT_PROBLEMS,
    PAGES,
    READY,
    chromium,
    dashboard_server,
    missing_browser,
    settle,
    wait_for_title,
)

pytestmark = pytest.mark.skipif(missing_browser() is not None, reason=str(missing_browser()))

PROJECTOR = {"width": 1024, "height": 768}
# the latent map needs the 2-D VAE; the Scores page classifies 1,000 samples and no real digits
QUERY = {
    "latent": "latent_generator=VAE+with+a+2-D+latent+%28for+the+latent+map%29+%C2%B7+vae2d.pt",
    "scores": "scores_real=false&scores_n=1000",
}
MODES = [
    pytest.param("present", id="present"),
    pytest.param("normal", id="normal", marks=pytest.mark.slow),
]


@pytest.fixture(scope="module")
def projector(tmp_path_factory):
    """A server over an empty run store and the shipped checkpoints, and a browser window the size
    of a projector's; both are ended however the tests end."""
    root = tmp_path_factory.mktemp("layout")
    env = {"GENDL_RUNS_DIR": str(root / "runs")}
    with dashboard_server(env, log=root / "server.log") as url, chromium() as browser:
        context = browser.new_context(viewport=PROJECTOR)
        context.set_default_timeout(120_000)
        yield url, context, root


def open_at(context, url: str, path: str, mode: str):
    query = [QUERY[path]] if path in QUERY else []
    if mode == "present":
        query.append("present=1")
    page = context.new_page()
    page.goto(f"{url}/{path}" + ("?" + "&".join(query) if query else ""))
    wait_for_title(page, PAGES[path][1], timeout=120)
    page.locator(READY[path]).first.wait_for(state="visible")
    settle(page)
    return page


@pytest.mark.parametrize("path", list(PAGES), ids=lambda path: path or "overview")
@pytest.mark.parametrize("mode", MODES)
def test_nothing_is_cut_off_at_1024x768(projector, mode, path):
    url, context, root = projector
    page = open_at(context, url, path, mode)
    assert page.locator('[data-testid="stException"]').count() == 0
    root_font = page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    collapsed = page.locator('[data-testid="stSidebar"]').get_attribute("data-collapsed")
    if mode == "present":
        assert (root_font, collapsed) == (16 * PRESENT_SCALE, "true")
    else:
        assert (root_font, collapsed) == (16, "false")  # 1024 px is wide enough for the sidebar
    problems = page.evaluate(LAYOUT_PROBLEMS)
    shot = root / "layout" / f"{mode}-{path or 'overview'}.png"
    screenshot(page, shot)
    page.close()
    assert not problems, f"{shot}:\n" + "\n".join(problems)


def screenshot(page, path) -> None:
    """The whole page at 1024 px wide: the window is stretched to the height of Streamlit's own
    scrolling area (a full-page screenshot would stop at the window's height)."""
    page.mouse.move(1, 1)  # no hover toolbars
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": PROJECTOR["width"], "height": min(height, 6000)})
    page.wait_for_timeout(1000)  # Plotly charts relayout to the new size
    page.screenshot(path=str(path))


def test_the_switch_turns_presenter_mode_on_and_off_in_the_url(projector):
    url, context, _ = projector
    page = open_at(context, url, "", "normal")
    root_font = "() => parseFloat(getComputedStyle(document.documentElement).fontSize)"
    switch = page.get_by_text("Presenter mode", exact=True)
    switch.click()
    page.wait_for_function(f"({root_font})() === {16 * PRESENT_SCALE}")
    page.wait_for_url("**/?present=1")  # a reload or a shared link keeps presenter mode
    page.reload()
    wait_for_title(page, PAGES[""][1])
    page.wait_for_function(f"({root_font})() === {16 * PRESENT_SCALE}")
    collapsed = page.locator('[data-testid="stSidebar"]').get_attribute("data-collapsed")
    assert collapsed == "true"
    page.get_by_test_id("stExpandSidebarButton").click()
    switch.click()
    page.wait_for_function(f"({root_font})() === 16")
    page.wait_for_url(lambda address: "present" not in address)
    page.close()
