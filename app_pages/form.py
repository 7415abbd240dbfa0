"""A training family's form spec (``gendl.train.spec.FormSpec``) drawn as widgets, and which form
and models this session gets (in class mode a student's have the class's rules applied).

Each field becomes a select box, a slider or a number box with the spec's label, help and range;
a number box accepts any typed value, and a value the spec refuses is reported under its field
(the value and the allowed range) instead of being silently replaced.
"""

from typing import Any

import streamlit as st

from app_pages.common import engine, in_class, is_teacher
from gendl.config import Field, config_to_dict, deep_merge
from gendl.engine.classroom import class_form, load_settings
from gendl.errors import ConfigError
from gendl.train import FAMILIES, PRESETS, build_config
from gendl.train.spec import FormSpec, get_path, set_path

COLUMNS = 4


def follows_class() -> bool:
    """Whether this session's runs follow the class's rules (a student's, in class mode)."""
    return in_class() and not is_teacher()


def allowed_presets() -> list[str]:
    """The models this session may train: the teacher's choice for a student, else all."""
    models = load_settings(engine().store).models if follows_class() else ()
    return [p for p in PRESETS if p in models] if models else list(PRESETS)


def preset_form(preset: str) -> FormSpec:
    """The form of ``preset``; a student's has the class's locks, ranges and budget cap."""
    if follows_class():
        return class_form(preset, load_settings(engine().store))
    return FAMILIES[PRESETS[preset][0]].form


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
                value = widget(col, field, start_value(field, defaults), prefix)
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
        default = start_value(field, defaults)
        key = f"{prefix}_{field.name}"
        value = default if field.locked else st.session_state.get(key, default)
        values = deep_merge(values, set_path(field.path, submitted(field, value)))
    return values


def shows(field: Field, value: Any) -> bool:
    """Whether ``field``'s widget can show ``value``: a select box only its choices, a slider
    only its range; a number box any number (a refused one is reported under it)."""
    if field.kind == "choice":
        return value in field.choices
    if field.slider:
        return field.low <= value <= field.high
    return True


def submitted(field: Field, value: Any) -> Any:
    """A widget's value as the config takes it: an optional field's 0 ("no limit") is None."""
    return None if field.optional and value == 0 else value


def start_value(field: Field, defaults: dict[str, Any]) -> Any:
    """Where a field's widget starts: its locked value, else the default, moved to the nearest
    allowed value where a narrowed range or choice list leaves the default out."""
    default = get_path(defaults, field.path)
    if field.kind == "choice":
        return default if default in field.choices else field.choices[0]
    if default is None and not field.optional:  # a budget the class caps: start at the cap
        return field.high
    if field.locked or (default is not None and default < field.low):
        return field.low
    return field.high if default is not None and default > field.high else default


def widget(where: Any, field: Field, default: Any, prefix: str) -> Any:
    """One field's widget; an optional field's 0 ("no limit") comes back as None. A locked field
    is drawn disabled at its value (not bound to the URL); a value held from before a range or
    choice list was narrowed, which a slider or select box cannot show, is dropped."""
    key = f"{prefix}_{field.name}"
    held = st.session_state.get(key)
    if held is not None and (field.locked or not shows(field, held)):
        del st.session_state[key]
    common = {
        "help": f"{field.help} ({field.allowed()})" if field.help else field.allowed(),
        "key": key,
        "disabled": field.locked,
    }
    if not field.locked:
        common["bind"] = "query-params"
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


def checked(preset: str, values: dict[str, Any]) -> dict[str, Any]:
    """The full config of ``preset`` with the form's ``values``; ConfigError names what is wrong."""
    family, preset_values = PRESETS[preset]
    problems = preset_form(preset).problems(values)
    if problems:
        raise ConfigError("; ".join(problems.values()))
    return config_to_dict(build_config(family, deep_merge(preset_values, values)))
