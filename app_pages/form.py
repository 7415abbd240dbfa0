"""A training family's form spec (``gendl.train.spec.FormSpec``) drawn as widgets.

Each field becomes a select box, a slider or a number box with the spec's label, help and range;
a number box accepts any typed value, and a value the spec refuses is reported under its field
(the value and the allowed range) instead of being silently replaced.
"""

from typing import Any

import streamlit as st

from gendl.config import Field, deep_merge
from gendl.train.spec import FormSpec, get_path, set_path

COLUMNS = 4


def render_form(
    form: FormSpec, defaults: dict[str, Any], prefix: str, hide_advanced: bool = False
) -> tuple[dict[str, Any], dict[str, str]]:
    """Draw ``form``'s fields, starting at ``defaults`` (a full config dict); widget keys and URL
    query parameters are ``{prefix}_{name}``. Returns the values as a nested config dict and the
    refused fields' messages by path. ``hide_advanced`` leaves advanced fields at their defaults."""
    shown = [f for f in form if not f.advanced]
    advanced = [f for f in form if f.advanced]
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    groups = [(st.container(), shown)]
    if advanced and not hide_advanced:
        groups.append((st.expander("More settings"), advanced))
    for where, fields in groups:
        with where:
            for i, field in enumerate(fields):
                if i % COLUMNS == 0:
                    cols = st.columns(COLUMNS)
                col = cols[i % COLUMNS]
                value = widget(col, field, get_path(defaults, field.path), prefix)
                values = deep_merge(values, set_path(field.path, value))
                problem = form.problem(field.path, value)
                if problem is not None:
                    problems[field.path] = problem
                    col.error(problem.split(" ", 1)[1])  # under its field: "must be in [1, 10]..."
    return values, problems


def read_form(
    form: FormSpec, defaults: dict[str, Any], prefix: str, hide_advanced: bool = False
) -> dict[str, Any]:
    """The values ``form``'s widgets hold now, as ``render_form`` returns them; read from the
    session state, so that a button's callback sees a value typed just before its click (both
    arrive in one rerun, before the widgets are drawn again)."""
    values: dict[str, Any] = {}
    for field in form:
        if field.advanced and hide_advanced:
            continue
        default = get_path(defaults, field.path)
        value = st.session_state.get(f"{prefix}_{field.name}", default)
        values = deep_merge(values, set_path(field.path, submitted(field, value)))
    return values


def submitted(field: Field, value: Any) -> Any:
    """A widget's value as the config takes it: an optional field's 0 ("no limit") is None."""
    return None if field.optional and value == 0 else value


def widget(where: Any, field: Field, default: Any, prefix: str) -> Any:
    """One field's widget; an optional field's 0 ("no limit") comes back as None."""
    common = {
        "help": f"{field.help} ({field.allowed()})" if field.help else field.allowed(),
        "key": f"{prefix}_{field.name}",
        "bind": "query-params",
        "disabled": field.locked,
    }
    if field.kind == "choice":
        index = field.choices.index(default) if default in field.choices else 0
        return where.selectbox(field.label, field.choices, index, **common)
    number = int if field.kind == "int" else float
    if field.slider and not field.locked:
        value = number(default)
        step = number(field.step or 1)
        return where.slider(
            field.label, number(field.low), number(field.high), value, step, **common
        )
    shown = number(0 if default is None else default)
    step = number(field.step or 1)
    value = where.number_input(
        field.label + (" (0: no limit)" if field.optional else ""),
        value=shown,
        step=step,
        format="%.1e" if field.log else None,
        **common,
    )
    return submitted(field, value)
