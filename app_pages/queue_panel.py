"""The Train page's "Your runs" (class mode): a student's active runs with their place in the fair
queue and when each should start, computed once for all sessions (a class of 30 redraws it 15
times a second)."""

from typing import Any

import streamlit as st

from app_pages.common import engine, viewer
from gendl.engine.classroom import running_quota
from gendl.engine.records import ACTIVE_STATES, variant
from gendl.train.timing import cache_dir
from gendl.views.queue import store_queue


@st.cache_data(ttl=0.5, show_spinner=False, max_entries=1)
def queue_snapshot() -> tuple[list, dict, dict]:
    """The store's queue (``RunStore.queue_state``), read at most twice a second for all sessions."""
    return engine().store.queue_state()


@st.cache_data(ttl=1.0, show_spinner=False, max_entries=8)
def queue_now(slots: int, queue: tuple) -> dict[int, Any]:
    """Every queued run's place and ETA, computed once a second for all sessions (a class of 30
    polls it 30 times a second), and at once when the queue (``queue``, its key) changes."""
    store = engine().store
    return store_queue(store, slots, running_quota(store), cache_dir())


def your_runs(shown: Any) -> None:
    """This session's active runs, oldest first: state, and for a queued one its place in the
    fair queue and when it should start; "Show" switches the curves below to it."""
    store = engine().store
    mine = store.list_runs(ACTIVE_STATES, owner=viewer())[::-1]
    if not mine:
        return
    queued, active, _ = queue_snapshot()
    spots = queue_now(
        engine().pool.max_workers, (tuple(queued), tuple(sorted(active.items(), key=str)))
    )
    st.markdown("**Your runs**")
    for run in mine:
        text = f"Run {run.id} · {variant(run.family, run.config)} · **{run.state}**"
        if run.id in spots:
            text += f" · {spots[run.id]}"
        line = st.container(horizontal=True, vertical_alignment="center")
        line.markdown(text)
        line.button(
            "Show",
            key=f"train_show_{run.id}",
            disabled=shown is not None and shown.id == run.id,
            on_click=st.session_state.__setitem__,
            args=("train_run", run.id),
        )
