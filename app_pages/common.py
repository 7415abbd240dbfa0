"""Streamlit-side pieces shared by pages: the run engine, this session's id, cached resources."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st

from gendl.engine.runs import RunEngine
from gendl.errors import GendlError
from gendl.views.style import PLOT_CONFIG


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


def show_figure(figure: Any, key: str, where: Any = None, **kwargs: Any) -> Any:
    """A Plotly figure (in ``where``, default: here) with the dashboard's toolbar, whose camera
    button downloads a 1920 x 1080 PNG for slides. Returns the chart's selection state when
    ``on_select`` is given."""
    return (where or st).plotly_chart(figure, key=key, config=PLOT_CONFIG, **kwargs)
