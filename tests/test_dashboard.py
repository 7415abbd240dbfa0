"""The router (dashboard.py) in AppTest: the default page, switching pages, and presenter mode
turned on by ``?present=1`` and off by its sidebar switch."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_pages.common import PLOTLY_FONT_PX, PRESENT_SCALE, PRESENTER_CSS

REPO = Path(__file__).resolve().parent.parent
OVERVIEW_TITLE = "gendl: deep sequence and generative models, hands on"


def dashboard(**query: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=60)
    at.query_params.update(query)
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, at.exception[0].stack_trace if at.exception else ""


def titles(at: AppTest) -> list[str]:
    return [title.value for title in at.title]


def styles(at: AppTest) -> list[str]:
    return [element.proto.body for element in at.get("html")]


def test_the_router_opens_the_overview_and_switches_pages(app_env):
    at = dashboard()
    assert_clean(at)
    assert titles(at) == [OVERVIEW_TITLE]
    for script, title in [
        ("app_pages/runs.py", "Runs"),
        ("app_pages/gan_cycle.py", "Why GANs cycle"),
    ]:
        at.switch_page(script).run()
        assert_clean(at)
        assert titles(at) == [title]
    assert not at.toggle(key="present").value
    assert PRESENTER_CSS not in styles(at)
    assert "present" not in at.query_params


def test_present_link_turns_presenter_mode_on_and_the_switch_turns_it_off(app_env):
    at = dashboard(present="1")
    assert_clean(at)
    assert at.toggle(key="present").value
    assert PRESENTER_CSS in styles(at)
    del at.query_params["present"]  # as the browser does on a page switch
    at.switch_page("app_pages/gan_cycle.py").run()
    assert at.toggle(key="present").value
    assert at.query_params["present"] == "1"  # back in the URL, so a reload stays presenting
    big = at.get("plotly_chart")[1].proto.spec

    at.toggle(key="present").set_value(False).run()
    assert_clean(at)
    assert PRESENTER_CSS not in styles(at)
    assert "present" not in at.query_params
    small = at.get("plotly_chart")[1].proto.spec
    big_layout, small_layout = json.loads(big)["layout"], json.loads(small)["layout"]
    assert big_layout["height"] == round(small_layout["height"] * PRESENT_SCALE)
    assert big_layout["font"]["size"] == pytest.approx(
        small_layout.get("font", {}).get("size", PLOTLY_FONT_PX) * PRESENT_SCALE, abs=0.051
    )  # sizes are rounded to a tenth of a pixel

    at.toggle(key="present").set_value(True).run()
    assert at.query_params["present"] == "1"
