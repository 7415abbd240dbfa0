"""Class board: the class's runs on one projected page (class mode), read-only for students.

The join panel (student link and QR code), every active run of the class as a small multiple, the
teacher's spotlighted run large, and the class's finished runs as one sweep with a leaderboard per
model. The live parts refresh every 2 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from app_pages.common import (
    engine,
    is_teacher,
    join_form,
    presenting,
    rows_key,
    run_curves,
    run_rows,
    shared_figure,
    show_figure,
)
from gendl.engine.classroom import class_runs, load_settings, owner_label, students
from gendl.engine.records import ACTIVE_STATES, Run, variant
from gendl.engine.store import StoreError
from gendl.views.board import (
    best_per_model,
    final_score,
    leaderboards,
    numeric_fields,
    qr_png,
    results,
    sparkline_figure,
    student_link,
    sweep_figure,
)

GRID_FAMILIES = ("gan", "vae")  # the families that save sample grids
# a display name of 32 characters fits at 1024 px; settings take the rest
COLUMNS = {
    "rank": st.column_config.NumberColumn(width=50),
    "student": st.column_config.TextColumn(width=240),
    "run": st.column_config.NumberColumn(width=50),
}


def link_here() -> str:
    """The student link: this browser's view of the server, else the configured address."""
    base = st.get_option("server.baseUrlPath") or ""
    link = student_link(st.context.url, base)
    if link is None:
        host = st.get_option("browser.serverAddress") or "localhost"
        link = student_link(f"http://{host}:{st.get_option('browser.serverPort')}", base)
    return link or ""


def join_panel() -> None:
    link = link_here()
    with st.container(border=True):
        code, words = st.columns(2, vertical_alignment="center")
        code.image(qr_png(link), width="stretch", caption="Scan to join", output_format="PNG")
        with words:
            st.subheader("Join the class")
            st.markdown("Open this address in your browser (same network as this screen):")
            st.code(link, language=None)
            name = join_form("board")
            if is_teacher():
                st.caption("You are the teacher: the Teacher page sets what the class may do.")
            elif name is not None:
                st.text(f"You are {name}")


def latest_grid(run_id: int) -> bytes | None:
    """The PNG bytes of a run's newest sample grid, if it saved one (and it is still on disk)."""
    grids = engine().artifacts(run_id, "sample_grid")
    try:
        return Path(grids[-1][2]).read_bytes() if grids else None
    except OSError:
        return None


def run_card(run: Run, names: dict[str, str]) -> None:
    """One small multiple: whose run, which model, state and step, the losses, the samples."""
    with st.container(border=True):
        st.text(owner_label(run.owner, names))
        st.caption(
            f"run {run.id} · {variant(run.family, run.config)} · {run.state} · step {run.step}"
        )
        rows = run_rows(run.id, run.step)
        if rows:
            figure = shared_figure(
                ("spark", run.family, *rows_key(run.id, rows)),
                lambda: sparkline_figure(run.family, rows),
            )
            show_figure(figure, key=f"board_spark_{run.id}")
        grid = latest_grid(run.id) if run.family in GRID_FAMILIES else None
        if grid is not None:
            st.image(grid, width="stretch")


def spotlight(names: dict[str, str]) -> None:
    """The teacher's spotlighted run, large: its live curves and latest samples."""
    chosen = load_settings(engine().store).spotlight
    if chosen is None:
        return
    try:
        run = engine().status(chosen)
    except StoreError:
        return  # deleted since
    if not class_runs([run], names):
        return
    st.subheader("Spotlight")
    st.text(f"{owner_label(run.owner, names)} · run {run.id} · {variant(run.family, run.config)}")
    st.caption(f"{run.state} · step {run.step}")
    rows = run_rows(run.id, run.step)
    grid = latest_grid(run.id) if run.family in GRID_FAMILIES else None
    left, right = st.columns([3, 1]) if grid is not None else (st.container(), None)
    show_figure(run_curves(run, rows), "board_spotlight", left)
    if right is not None:
        right.image(grid, caption="latest samples", width="stretch")


@st.fragment(run_every=2.0)
def live() -> None:
    names = students(engine().store)
    spotlight(names)
    active = class_runs(engine().store.list_runs(ACTIVE_STATES), names)
    st.subheader(f"Active runs ({len(active)})")
    if not active:
        st.info("No run of the class is queued or training. Runs appear here once started.")
        return
    active.sort(key=lambda run: (run.state == "queued", run.id))  # training first
    per_row = 3 if presenting() else 4
    for start in range(0, len(active), per_row):
        for column, run in zip(st.columns(per_row), active[start : start + per_row], strict=False):
            with column:
                run_card(run, names)


@st.cache_data(show_spinner=False, max_entries=10_000)
def score_of(root: str, run_id: int, updated: float, family: str) -> float | None:
    """A finished run's final score, read once per run (and again only if it changed)."""
    return final_score(family, engine().metrics_since(run_id, 0))


def chosen_run(event: Any) -> int | None:
    """The run of the point clicked in the class sweep, kept until another is clicked."""
    points = event.selection.points if event is not None else []
    if points:
        data = points[0].get("customdata")
        st.session_state["board_chosen"] = data[0] if isinstance(data, list) else data
    return st.session_state.get("board_chosen")


def run_details(run_id: int, names: dict[str, str]) -> None:
    try:
        run = engine().status(run_id)
    except StoreError:
        return
    with st.container(border=True):
        st.text(
            f"Run {run.id} by {owner_label(run.owner, names)}: {variant(run.family, run.config)}"
        )
        settings, samples = st.columns([2, 1])
        settings.json(run.config, expanded=1)
        grid = latest_grid(run.id) if run.family in GRID_FAMILIES else None
        if grid is not None:
            samples.image(grid, caption="final samples", width="stretch")


@st.fragment(run_every=2.0)
def class_sweep() -> None:
    store = engine().store
    names = students(store)
    finished = class_runs(store.list_runs(("finished",)), names)
    root = str(store.root)
    scores = {run.id: score_of(root, run.id, run.updated, run.family) for run in finished}
    found = results(finished, scores, names)
    st.subheader("The class as a sweep")
    if not found:
        st.info("Each finished run of the class appears here with its final score.")
        return
    field = st.selectbox("Hyperparameter", numeric_fields(found), key="board_field")
    shown = tuple((r.run_id, r.student, r.score) for r in found)  # a run's settings never change
    figure = shared_figure(("sweep", field, shown), lambda: sweep_figure(found, field))
    event = show_figure(figure, "board_sweep", on_select="rerun", selection_mode="points")
    best = ", ".join(f"{model}: run {r.run_id}" for model, r in best_per_model(found).items())
    st.caption(f"Stars mark the best run of each model ({best}). Click a point for its run.")
    chosen = chosen_run(event)
    if chosen is not None:
        run_details(chosen, names)
    st.subheader("Leaderboards")
    for model, rows in leaderboards(found).items():
        st.markdown(f"**{model}**")
        st.dataframe(
            rows, hide_index=True, width="stretch", column_config=COLUMNS, key=f"board_{model}"
        )


st.title("Class board")
join_panel()
live()
class_sweep()
