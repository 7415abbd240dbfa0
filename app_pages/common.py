"""Streamlit-side pieces shared by pages: the run engine, this session's id, cached resources."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

# before any figure: Plotly checks for pandas in sys.modules without waiting for its import, so a
# session drawing a figure while another session's first table imports pandas met a half-loaded
# module ("partially initialized module 'pandas' has no attribute 'Series"); every page imports
# this module first, and an import statement waits until pandas is whole
import pandas  # noqa: F401
import plotly.graph_objects as go
import streamlit as st

from gendl.engine.classroom import (
    NAME_MAX,
    ClassError,
    check_teacher,
    class_mode,
    join,
    students,
)
from gendl.engine.records import TEACHER
from gendl.engine.runs import RunEngine
from gendl.errors import GendlError
from gendl.views.style import PLOT_CONFIG
from gendl.views.training import curves_figure

TEACHER_BROWSERS = "teacher_browsers"  # store setting: the browsers that opened the teacher link


def engine() -> RunEngine:
    """The engine of this server for ``$GENDL_RUNS_DIR`` (or ``runs/``); its workers train in
    their own processes, never in the server."""
    return _engine(os.environ.get("GENDL_RUNS_DIR", ""))


@st.cache_resource(show_spinner=False)
def _engine(root: str) -> RunEngine:
    return RunEngine(root or None)


def session_owner() -> str:
    """This browser's id: runs started here are controlled only from this browser.

    Derived from the token in Streamlit's per-browser XSRF cookie, so a reload or a second tab keeps
    control of the runs; without the cookie (tests, XSRF protection off) a random id per session.
    """
    if "owner" not in st.session_state:
        token = _xsrf_token(st.context.cookies.get("_streamlit_xsrf", ""))
        st.session_state["owner"] = (
            hashlib.sha256(token).hexdigest()[:32] if token else uuid.uuid4().hex
        )
    return st.session_state["owner"]


def _xsrf_token(cookie: str) -> bytes | None:
    """The secret inside a Tornado v2 XSRF cookie ``2|mask|masked token|time``: the server sends it
    with a new random mask on every page load, the token XOR mask stays."""
    try:
        version, mask, masked, _ = cookie.split("|")
        mask_bytes, masked_bytes = bytes.fromhex(mask), bytes.fromhex(masked)
    except ValueError:
        return None
    if version != "2" or not mask_bytes:
        return None
    return bytes(b ^ mask_bytes[k % len(mask_bytes)] for k, b in enumerate(masked_bytes))


# ---------------------------------------------------------------- class mode: who is looking


def in_class() -> bool:
    """Whether this server serves a class (``python -m gendl class``)."""
    return class_mode()


def is_teacher() -> bool:
    """Whether this browser holds the teacher role: it opened the teacher link (``?teacher=SECRET``)
    once. The secret is taken out of the address bar (the board is projected) and the browser is
    remembered in the store, so a reload or another tab of it stays the teacher's."""
    if not in_class():
        return False
    if st.session_state.get("common_teacher"):
        return True
    given = st.query_params.get("teacher")
    store = engine().store
    if given is not None:
        del st.query_params["teacher"]
        try:
            check_teacher(given)
        except ClassError as exc:
            st.session_state["common_teacher_refused"] = str(exc)
            return False
        browsers = store.setting(TEACHER_BROWSERS, [])
        if session_owner() not in browsers:
            store.put_setting(TEACHER_BROWSERS, [*browsers, session_owner()])
        st.session_state["common_teacher"] = True
        return True
    if session_owner() in store.setting(TEACHER_BROWSERS, []):
        st.session_state["common_teacher"] = True
    return bool(st.session_state.get("common_teacher"))


def teacher_refusal() -> str:
    """Why this browser is not the teacher, for the teacher page."""
    return st.session_state.get(
        "common_teacher_refused", "the teacher page needs the teacher link (it carries the secret)"
    )


def viewer() -> str:
    """Who this session acts as in engine calls: the teacher (class mode, may control every run)
    or this browser (:func:`session_owner`)."""
    return TEACHER if is_teacher() else session_owner()


def student_name() -> str | None:
    """This browser's display name in the class, or None before it joined."""
    return students(engine().store).get(session_owner())


def join_form(key: str) -> str | None:
    """A student's display-name form (once per browser): returns the name once joined."""
    name = student_name()
    if name is not None or is_teacher():
        return name
    with st.form(f"{key}_join", border=True):
        typed = st.text_input(
            "Your display name",
            max_chars=NAME_MAX,
            placeholder="e.g. Ada L.",
            help=f"1 to {NAME_MAX} characters, unique in this class; shown on the class board",
            key=f"{key}_name",
        )
        if st.form_submit_button("Join the class", type="primary"):
            with reported():
                name = join(engine().store, session_owner(), typed)
                st.rerun()
    return name


def refuse_unknown_link_value(key: str, choices: Iterable[str], hint: str = "") -> None:
    """A warning when the URL sets ``key`` to a value not among ``choices``. Call it before the
    widget bound to ``key``: Streamlit drops such a value and shows the default, silently."""
    asked = st.query_params.get(key)
    if asked is not None and asked not in choices:
        st.warning(f"The link's {key}={asked!r} is not one of the choices here; ignored. {hint}")


@contextmanager
def reported(where: Any = None) -> Iterator[None]:
    """Show a gendl error (bad config field, command that does not fit the run) as a message in
    ``where`` (a container; default: here) instead of a traceback."""
    try:
        yield
    except GendlError as exc:
        (where or st).error(str(exc), icon=":material/error:")


def run_rows(run_id: int, run_step: int | None = None) -> list[dict[str, Any]]:
    """All metric rows of a run, read incrementally: each call fetches only rows newer than the
    ones this session already holds. ``run_step`` (the run's current step) below the last held
    row means the run was rewound to a checkpoint, so its rows are read again."""
    held: dict[int, list[dict[str, Any]]] = st.session_state.setdefault("common_rows", {})
    rows = held.setdefault(run_id, [])
    last = rows[-1]["step"] if rows else 0
    if run_step is not None and run_step < last:
        rows.clear()
        last = 0
    rows.extend(engine().metrics_since(run_id, last))
    return rows


def presenting() -> bool:
    """Whether this session shows the pages for a projector (presenter mode): larger text and
    figures, the sidebar collapsed, advanced controls hidden. ``?present=1`` in the URL turns it on."""
    if "present" not in st.session_state:
        st.session_state["present"] = st.query_params.get("present") == "1"
    return bool(st.session_state["present"])


# How much larger presenter mode draws text and figures. Streamlit sizes its text and spacing in
# rem, so the root font size scales the page; Plotly figures are drawn at a size in px and are
# scaled in Python (a CSS zoom would move the points off where Plotly's hover and click find them).
PRESENT_SCALE = 1.25
PLOTLY_FONT_PX = 12  # Plotly's (and Streamlit's chart theme's) font size where a figure sets none
# The page's side margins shrink to 2 rem: Streamlit's 5 rem would take 200 of a projector's 1024 px.
PRESENTER_CSS = (
    f"<style>html {{ font-size: {16 * PRESENT_SCALE:g}px; }} "
    '[data-testid="stMainBlockContainer"] { padding: 3.5rem 2rem 2rem; }</style>'
)


def presenter_controls() -> None:
    """The sidebar's presenter-mode switch, kept in step with ``?present=1`` in the URL (a page
    switch drops the URL's parameters; the link then still opens presenter mode), and presenter
    mode's styles while it is on. Called by the router once per script run, before the page."""
    presenting()
    st.sidebar.toggle(
        "Presenter mode",
        key="present",
        help="Larger text and figures for a projector; the sidebar starts collapsed and advanced "
        "settings are hidden. A link with ?present=1 opens in it.",
    )
    on = presenting()
    if on and st.query_params.get("present") != "1":
        st.query_params["present"] = "1"
    elif not on and "present" in st.query_params:
        del st.query_params["present"]
    if on:
        st.html(PRESENTER_CSS)


def projected(fig: go.Figure) -> go.Figure | dict[str, Any]:
    """``fig`` for ``st.plotly_chart``: as it is, or in presenter mode a copy with every font and
    the height PRESENT_SCALE times larger (the figure itself may be cached, so it is not changed)."""
    if not presenting():
        return fig
    spec = fig.to_dict()
    layout = spec.setdefault("layout", {})
    layout.setdefault("font", {}).setdefault("size", PLOTLY_FONT_PX)
    _scale_fonts(spec, PRESENT_SCALE)
    if layout.get("height"):
        layout["height"] = round(layout["height"] * PRESENT_SCALE)
    return spec


def _scale_fonts(node: Any, scale: float) -> None:
    """Multiply the size of every font (``font``, ``tickfont``, ``textfont``...) below ``node``."""
    if isinstance(node, list):
        for item in node:
            _scale_fonts(item, scale)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("font") and isinstance(value, dict):
                size = value.get("size")
                if isinstance(size, int | float):
                    value["size"] = round(size * scale, 1)
            if key != "template":
                _scale_fonts(value, scale)


def show_figure(figure: Any, key: str, where: Any = None, **kwargs: Any) -> Any:
    """A Plotly figure (in ``where``, default: here) with the dashboard's toolbar, whose camera
    button downloads a 1920 x 1080 PNG for slides; enlarged in presenter mode. Returns the chart's selection state when
    ``on_select`` is given."""
    return (where or st).plotly_chart(projected(figure), key=key, config=PLOT_CONFIG, **kwargs)


def shared_figure(key: tuple, build: Callable[[], go.Figure]) -> go.Figure:
    """The figure ``build`` makes, built once per ``key`` for every session of this server and
    then reused (a Plotly figure takes ~15 ms to build: a class of 30 redrawing the same board
    every 2 s built each figure 30 times). ``key`` names everything the figure shows; figures
    are never changed after they are built, so sessions share the object."""
    return _shared_figure(key, build)


@st.cache_resource(show_spinner=False, max_entries=256)
def _shared_figure(key: tuple, _build: Callable[[], go.Figure]) -> go.Figure:
    return _build()


def rows_key(run_id: int, rows: list[dict[str, Any]]) -> tuple:
    """What a run's figure from ``rows`` (its metric rows, oldest first) depends on."""
    return (run_id, len(rows), repr(rows[-1]) if rows else None)


def run_curves(run: Any, rows: list[dict[str, Any]]) -> go.Figure:
    """A run's live curves (Train page, the board's spotlight), shared by every session."""
    return shared_figure(
        ("curves", run.family, *rows_key(run.id, rows)),
        lambda: curves_figure(run.family, rows, revision=run.id),
    )
