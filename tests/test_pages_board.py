"""The Class board in AppTest with GENDL_CLASS=1 over a real run store: students joined, runs put
straight into the store (no worker trains), the page read back as a student and a new browser."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_pages.common import TEACHER_BROWSERS
from gendl.config import config_to_dict
from gendl.engine import classroom
from gendl.engine.records import CLI_OWNER
from gendl.train import PRESETS, build_config

PAGE = Path(__file__).resolve().parent.parent / "app_pages" / "board.py"
ADA, X, BO, LATE = "a" * 32, "b" * 32, "c" * 32, "d" * 32


def config(preset, **overrides):
    family, values = PRESETS[preset]
    return family, config_to_dict(build_config(family, {**values, **overrides}))


def finished(store, owner, preset, score, **overrides):
    family, values = config(preset, **overrides)
    run_id = store.create_run(family, values, owner=owner, state="finished")
    key = "test_acc" if family == "sequence" else "inception_score"
    store.append_metrics(run_id, [{"step": 1, key: score / 2}, {"step": 2, key: score}])
    return run_id


@pytest.fixture
def class_store(app_env, monkeypatch):
    """A class of three students: finished VAE and LSTM runs, a running VAE run, and runs of the
    command line and of a session that never joined (not the class's)."""
    monkeypatch.setenv(classroom.CLASS_ENV, "1")
    _, store = app_env
    for owner, name in ((ADA, "Ada"), (X, "**x**"), (BO, "<b>Bo</b>")):
        classroom.join(store, owner, name)
    ids = {
        "ada_vae": finished(store, ADA, "vae", 5.0, kl_weight=0.1),
        "x_vae": finished(store, X, "vae", 7.5, kl_weight=0.5),
        "bo_lstm": finished(store, BO, "lstm", 0.9),
        "cli_vae": finished(store, CLI_OWNER, "vae", 9.9),
        "stranger_vae": finished(store, LATE, "vae", 9.0),
    }
    family, values = config("vae")
    ids["bo_running"] = store.create_run(family, values, owner=BO, state="running")
    store.append_metrics(ids["bo_running"], [{"step": s, "recon_loss": 9.0 - s} for s in (1, 2, 3)])
    return store, ids


def render(owner=None):
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    if owner is not None:
        at.session_state["owner"] = owner
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def tables(at):
    return [frame.value for frame in at.dataframe]


def test_leaderboards_rank_the_class_runs_only(class_store):
    _, ids = class_store
    at = render(ADA)
    boards = tables(at)
    assert len(boards) == 2  # LSTM, VAE
    lstm, vae = boards
    assert list(vae["student"]) == ["**x**", "Ada"]  # 7.5 before 5.0; no CLI or stranger run
    assert list(vae["run"]) == [ids["x_vae"], ids["ada_vae"]]
    assert list(vae["inception score"]) == [7.5, 5.0]
    assert list(vae["settings"]) == ["kl_weight=0.5", "kl_weight=0.1"]
    assert list(lstm["student"]) == ["<b>Bo</b>"] and list(lstm["test accuracy"]) == [0.9]


def test_names_are_shown_as_typed(class_store):
    at = render(X)
    texts = [t.value for t in at.text]
    assert "You are **x**" in texts
    assert "<b>Bo</b>" in texts  # the running run's card
    markdown = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "**x**" not in markdown and "<b>" not in markdown  # no name goes through markdown
    assert "Active runs (1)" in [h.value for h in at.subheader]


def test_join_panel_shows_the_link_and_a_scannable_qr_code(class_store):
    at = render()  # a new browser: not joined
    assert at.text_input(key="board_name") is not None
    assert at.button[0].label == "Join the class"
    link = at.code[0].value
    assert link.startswith("http://") and link.endswith("/") and "teacher" not in link
    images = at.get("image")
    assert images, "no image on the page"
    qr = images[0].proto.imgs[0]
    assert qr.caption == "Scan to join"
    assert qr.url.endswith(".png")  # lossless: a JPEG blurs the modules' edges


def test_a_new_student_joins_from_the_board(class_store):
    store, _ = class_store
    at = render()
    at.text_input(key="board_name").input("Grace")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    owner = at.session_state["owner"]
    assert classroom.students(store)[owner] == "Grace"
    assert "You are Grace" in [t.value for t in at.text]


def test_the_teacher_sees_no_join_form_and_the_spotlight(class_store):
    store, ids = class_store
    classroom.save_settings(store, classroom.ClassSettings(spotlight=ids["bo_running"]))
    store.put_setting(TEACHER_BROWSERS, [ADA])  # this browser opened the teacher link
    at = render(ADA)
    assert not at.text_input
    assert "Spotlight" in [h.value for h in at.subheader]
    assert f"<b>Bo</b> · run {ids['bo_running']} · VAE z=20" in [t.value for t in at.text]


def test_an_empty_class_says_what_will_appear(app_env, monkeypatch):
    monkeypatch.setenv(classroom.CLASS_ENV, "1")
    at = render()
    infos = " ".join(i.value for i in at.info)
    assert "No run of the class" in infos and "final score" in infos


def test_the_router_opens_the_board_first_in_class_mode_and_presenter_mode(class_store):
    at = AppTest.from_file(str(PAGE.parent.parent / "dashboard.py"), default_timeout=60)
    at.query_params["present"] = "1"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Class board"
    assert "Active runs (1)" in [h.value for h in at.subheader]


def plotted(at):
    """Every (x, y) point of every figure on the page."""
    points = set()
    for chart in at.get("plotly_chart"):
        for trace in json.loads(chart.proto.spec)["data"]:
            points |= set(zip(trace.get("x", []), trace.get("y", []), strict=False))
    return points


def test_figures_shared_by_every_session_follow_new_rows_and_runs(class_store):
    """The board's figures are built once for all sessions: a new metric row or a newly finished
    run shows at the next redraw, in a session that drew the board before and in a new one."""
    store, ids = class_store
    before = plotted(render(ADA))
    assert (3, 6.0) in before and (4, 4.0) not in before  # the running run's sparkline
    store.append_metrics(ids["bo_running"], [{"step": 4, "recon_loss": 4.0}])
    new = finished(store, ADA, "vae", 8.25, kl_weight=0.3)
    for owner in (ADA, X):
        after = plotted(render(owner))
        assert (4, 4.0) in after and (0.3, 8.25) in after, owner
    assert str(new) in " ".join(str(t["run"].tolist()) for t in tables(render(X)))
