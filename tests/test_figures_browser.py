"""Every figure drawn by plotly.js in Chromium at the width it gets in a 1024 x 768 window, with
the toolbar shown: no legend box meets an axis title, a subplot title or the toolbar, and no tick
label is cut at the figure's edge. Screenshots are saved in the test's temporary directory. And
on the dashboard itself, every click on the latent map decodes the clicked point.

Skipped when the playwright package or Chromium is missing (``apt-get install chromium``).
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.parse

import pytest

from gendl.shipped.catalogue import CHECKPOINT_DIR
from gendl.views.style import PLOT_CONFIG
from tests.browser import chromium, dashboard_server, missing_browser
from tests.test_views_style import every_figure

pytestmark = pytest.mark.skipif(missing_browser() is not None, reason=str(missing_browser()))

WIDTHS = {"cycle": 420, "latent map": 460}  # figures in a column; the others span the page
PAGE_WIDTH = 700  # the main column of a 1024 px window with the sidebar open
TITLES = ".g-xtitle, .g-x2title, .g-ytitle, .g-y2title, .annotation-text-g"
BOXES = """(selectors) => {
  const box = (el) => { const r = el.getBoundingClientRect();
    return {x0: r.left, y0: r.top, x1: r.right, y1: r.bottom, w: r.width, h: r.height}; };
  const all = (s) => [...document.querySelectorAll(s)].map(box).filter((b) => b.w * b.h > 0);
  return {legend: all(".legend .bg"), toolbar: all(".modebar-group"), titles: all(selectors),
          ticks: all(".xtick text, .ytick text, .y2tick text"), figure: box(document.querySelector(".main-svg"))};
}"""


def _overlap(a: dict, b: dict, slack: float = 1.0) -> bool:
    return (
        a["x0"] + slack < b["x1"]
        and b["x0"] + slack < a["x1"]
        and a["y0"] + slack < b["y1"]
        and b["y0"] + slack < a["y1"]
    )


def test_legends_clear_titles_and_toolbar_and_ticks_fit(tmp_path):
    figures = every_figure()
    config = PLOT_CONFIG | {"displayModeBar": True}  # shown, as when the mouse is over it
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1024, "height": 768})
        problems = []
        for name, fig in figures.items():
            fig.update_layout(width=WIDTHS.get(name, PAGE_WIDTH))
            html = tmp_path / f"{name.replace(' ', '_')}.html"
            fig.write_html(html, include_plotlyjs="directory", config=config)
            page.goto(html.as_uri())
            page.wait_for_selector(".main-svg")
            boxes = page.evaluate(BOXES, TITLES)
            page.screenshot(path=str(html.with_suffix(".png")), full_page=True)
            for legend in boxes["legend"]:
                hits = [t for t in boxes["titles"] + boxes["toolbar"] if _overlap(legend, t)]
                if hits:
                    problems.append(f"{name}: legend {legend} meets {hits}")
            edge = boxes["figure"]
            for tick in boxes["ticks"]:
                if tick["x0"] < edge["x0"] - 1 or tick["x1"] > edge["x1"] + 1:
                    problems.append(f"{name}: tick label cut at the side {tick}")
        (tmp_path / "boxes.json").write_text(json.dumps(problems, indent=1))
    assert not problems, "\n".join(problems)


MAP_POINTS = ".js-plotly-plot .scatterlayer .trace path.point"
VAE2D_LABEL = "VAE with a 2-D latent (for the latent map) · vae2d.pt"


@pytest.mark.slow
@pytest.mark.skipif(not (CHECKPOINT_DIR / "vae2d.pt").is_file(), reason="no checkpoints/vae2d.pt")
def test_every_click_on_the_latent_map_decodes_its_point():
    """Plotly answers a click on a map that holds a selection with an empty one; the page draws
    the map afresh after each click, so the second and third clicks decode their points too."""
    with (
        tempfile.TemporaryDirectory() as runs,
        dashboard_server({"GENDL_RUNS_DIR": runs}, timeout=120) as url,
        chromium() as browser,
    ):
        page = browser.new_page(viewport={"width": 1024, "height": 1400})
        query = urllib.parse.urlencode({"latent_generator": VAE2D_LABEL})
        page.goto(f"{url}/latent?{query}")

        def settled():
            page.locator(MAP_POINTS).first.wait_for(timeout=120_000)
            time.sleep(1)
            status = '[data-testid="stStatusWidget"]'
            page.wait_for_selector(status, state="hidden", timeout=60_000)
            time.sleep(1)

        settled()
        n = page.locator(MAP_POINTS).count()
        captions = []
        for k in (5, n // 2, n - 7):
            box = page.locator(MAP_POINTS).nth(k).bounding_box()
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            settled()
            lines = page.locator("body").inner_text().splitlines()
            captions.append([line for line in lines if line.startswith("z = (")])
    assert all(len(caption) == 1 for caption in captions), captions
    assert len({caption[0] for caption in captions}) == 3, captions  # a new point each click
