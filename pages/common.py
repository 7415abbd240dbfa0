"""Streamlit-side pieces shared by pages: the run engine, this session's id, cached resources."""

from __future__ import annotations

import uuid

import streamlit as st

from gendl.runs import RunEngine


@st.cache_resource
def engine() -> RunEngine:
    """One engine per server process; runs train in its worker processes, not in the server."""
    return RunEngine()


def session_owner() -> str:
    """A random id for this browser session: runs started here are controlled only from here."""
    if "owner" not in st.session_state:
        st.session_state["owner"] = uuid.uuid4().hex
    return st.session_state["owner"]
