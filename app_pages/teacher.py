"""Teacher: what the class may do today, the class's runs, and the end of the class.

Only a browser that opened the teacher link (class mode) sees anything here. Every setting goes
through ``gendl.engine.classroom.save_settings``, which checks it against the models' forms and
keeps it in the run store, so a server restart keeps it and a bad lock is refused with its reason.
Which device a model trains on is one of its fields: lock it like any other.
"""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from app_pages.common import engine, is_teacher, reported, teacher_refusal, viewer
from gendl.config import Field, config_to_dict
from gendl.engine.classroom import (
    ClassSettings,
    class_form,
    class_runs,
    load_settings,
    owner_label,
    save_settings,
    students,
)
from gendl.engine.export import end_class, export_runs, store_bytes
from gendl.engine.records import variant
from gendl.errors import GendlError
from gendl.train import FAMILIES, PRESETS, preset_config
from gendl.train.spec import get_path

st.title("Teacher")
if not is_teacher():
    st.error(teacher_refusal(), icon=":material/lock:")
    st.stop()

store = engine().store
settings = load_settings(store)


def save(changed: ClassSettings, done: str) -> None:
    """Store ``changed`` (refused with the reason if a lock or range does not fit its field)."""
    with reported():
        save_settings(store, changed)
        st.toast(done)
        st.rerun()


# ---------------------------------------------------------------- what students may train

st.subheader("Models allowed today")
with st.form("teacher_models_form", border=False):
    models = st.multiselect(
        "models",
        list(PRESETS),
        default=list(settings.models),
        key="teacher_models",
        help="the models students may train; none chosen: every model",
    )
    if st.form_submit_button("Save models"):
        save(settings.replace(models=tuple(models)), "Models saved")

st.subheader("Locked fields and narrowed ranges")
cols = st.columns([1, 2], vertical_alignment="bottom")  # two rows: nothing cut at 1024 px
preset = cols[0].selectbox("model", list(PRESETS), key="teacher_rule_model")
form = FAMILIES[PRESETS[preset][0]].form
path = cols[1].selectbox(
    "field",
    [f.path for f in form],
    format_func=lambda p: f"{form[p].label} ({p})",
    key=f"teacher_rule_field_{preset}",
)
cols = st.columns([1, 2], vertical_alignment="bottom")
how = cols[0].segmented_control(
    "rule", ["lock", "narrow"], default="lock", required=True, key="teacher_rule_how"
)


def rule_input(where: Any, field: Field, how: str, default: Any) -> Any:
    """The locked value, or the narrowed ``[low, high]`` or choices, for ``field``."""
    key = f"teacher_rule_{preset}_{field.path}_{how}"
    if field.kind == "choice":
        if how == "lock":
            return where.selectbox("value", field.choices, field.choices.index(default), key=key)
        return where.multiselect("allowed values", field.choices, [default], key=key)
    number = int if field.kind == "int" else float
    options = {
        "step": number(field.step) if field.step else None,
        "format": "%.1e" if field.log else None,
    }
    start = number(field.low if default is None else default)
    if how == "lock":
        return where.number_input("value", value=start, key=key, **options)
    low, high = where.columns(2)
    return [
        low.number_input("lowest", value=number(field.low), key=f"{key}_low", **options),
        high.number_input("highest", value=number(field.high), key=f"{key}_high", **options),
    ]


def with_rule(preset: str, path: str, how: str, value: Any) -> ClassSettings:
    """The settings with ``path`` of ``preset`` locked or narrowed (a field has one rule)."""
    kind, other = ("locks", "ranges") if how == "lock" else ("ranges", "locks")
    rules = {p: dict(fields) for p, fields in getattr(settings, kind).items()}
    rules.setdefault(preset, {})[path] = value
    return settings.replace(**{kind: rules, other: without(getattr(settings, other), preset, path)})


def without(rules: dict[str, dict[str, Any]], preset: str, path: str) -> dict[str, dict[str, Any]]:
    kept = {
        p: {k: v for k, v in fields.items() if (p, k) != (preset, path)}
        for p, fields in rules.items()
    }
    return {p: fields for p, fields in kept.items() if fields}


defaults = config_to_dict(preset_config(preset)[1])
value = rule_input(cols[1], form[path], how, get_path(defaults, path))
if st.button("Add the rule", key="teacher_rule_add"):
    save(with_rule(preset, path, how, value), f"{preset}: {path} {how}ed")

rules = [
    (rule_preset, kind, rule_path)
    for kind in ("locks", "ranges")
    for rule_preset, fields in getattr(settings, kind).items()
    for rule_path in fields
]
if not rules:
    st.caption("No field is locked or narrowed: students may set every field in its full range.")
for rule_preset, kind, rule_path in rules:
    allowed = class_form(rule_preset, settings)[rule_path].allowed()
    line = st.container(horizontal=True, vertical_alignment="center")
    line.markdown(f"**{rule_preset}** · `{rule_path}`: {allowed}")
    if line.button("Remove", key=f"teacher_remove_{kind}_{rule_preset}_{rule_path}"):
        rest = without(getattr(settings, kind), rule_preset, rule_path)
        save(settings.replace(**{kind: rest}), f"{rule_preset}: {rule_path} free again")

st.subheader("Quota and budget")
with st.form("teacher_quota_form", border=False):
    cols = st.columns(4)
    running = cols[0].number_input(
        "running per student", value=settings.quota_running, step=1, key="teacher_quota_running"
    )
    queued = cols[1].number_input(
        "queued per student", value=settings.quota_queued, step=1, key="teacher_quota_queued"
    )
    steps = cols[2].number_input(
        "max steps per run (0: no cap)",
        value=settings.max_steps or 0,
        step=100,
        key="teacher_max_steps",
    )
    seconds = cols[3].number_input(
        "max seconds per run (0: no cap)",
        value=float(settings.max_seconds or 0),
        step=60.0,
        key="teacher_max_seconds",
    )
    if st.form_submit_button("Save quota and budget"):
        capped = {"max_steps": int(steps) or None, "max_seconds": float(seconds) or None}
        quota = {"quota_running": int(running), "quota_queued": int(queued)}
        save(settings.replace(**quota, **capped), "Quota and budget saved")

# ---------------------------------------------------------------- the class's runs

names = students(store)
runs = class_runs(store.list_runs(), names)
active = [run for run in runs if run.active]
st.subheader("The class's runs")
st.caption(f"{len(names)} students joined · {len(active)} runs active · {len(runs)} runs in all")


def every(action: Callable[..., None], chosen: list[Any], done: str) -> None:
    """``action`` on each chosen run as the teacher; a run that ended meanwhile is skipped."""
    refused = 0
    for run in chosen:
        try:
            action(run.id, owner=viewer())
        except GendlError:
            refused += 1
    ended = f" ({refused} had ended)" if refused else ""
    st.toast(f"{done} {len(chosen) - refused} runs{ended}")
    st.rerun()  # the buttons drawn again from the runs' new states


row = st.container(horizontal=True)
unpaused = [run for run in active if run.state != "paused"]
paused = [run for run in active if run.state == "paused"]
if row.button("Pause all", icon=":material/pause:", disabled=not unpaused, key="teacher_pause"):
    every(engine().pause, unpaused, "Paused")
if row.button("Resume all", icon=":material/resume:", disabled=not paused, key="teacher_resume"):
    every(engine().resume, paused, "Resumed")
if row.button("Stop all", icon=":material/stop:", disabled=not active, key="teacher_stop"):
    every(engine().stop, active, "Stopped")

shown = {run.id: run for run in runs if run.active or run.state == "finished"}
choices = [None, *shown]
if st.session_state.get("teacher_spotlight") not in choices:
    st.session_state.pop("teacher_spotlight", None)  # its run was deleted


def spotlight_label(run_id: int | None) -> str:
    if run_id is None:
        return "none"
    run = shown[run_id]
    who = owner_label(run.owner, names)
    return f"Run {run_id} · {who} · {variant(run.family, run.config)} · {run.state}"


def spotlight_changed() -> None:
    chosen = st.session_state["teacher_spotlight"]
    with reported():
        save_settings(store, load_settings(store).replace(spotlight=chosen))


st.selectbox(
    "spotlight on the class board",
    choices,
    choices.index(settings.spotlight) if settings.spotlight in choices else 0,
    format_func=spotlight_label,
    key="teacher_spotlight",
    on_change=spotlight_changed,
)

# ---------------------------------------------------------------- the end of the class

st.subheader("End the class")
st.markdown(f"The run store takes **{store_bytes(store) / 1e6:,.1f} MB** on disk ({store.root}).")
ids = [run.id for run in runs]
if st.button("Export the class's runs as one zip", disabled=not ids, key="teacher_export"):
    with reported():
        out = store.root / "exports" / time.strftime("class-%Y%m%d-%H%M%S.zip")
        st.session_state["teacher_exported"] = (str(export_runs(store, ids, out)), ids)
exported = st.session_state.get("teacher_exported")
if exported is not None:
    zip_path = Path(exported[0])
    st.download_button(
        f"Download {zip_path.name} ({zip_path.stat().st_size / 1e6:,.1f} MB)",
        lambda: zip_path.read_bytes(),
        zip_path.name,
        "application/zip",
        key="teacher_download",
        on_click="ignore",
        icon=":material/download:",
    )
    st.caption(f"{len(exported[1])} runs, also kept on the server: {zip_path}")

why = None
if active:
    why = f"stop all first: {len(active)} class runs are still active"
elif ids and (exported is None or sorted(exported[1]) != sorted(ids)):
    why = "export the class's runs first: the zip must hold every run that will be deleted"
confirm = st.checkbox(
    f"delete the class's {len(ids)} runs and the list of {len(names)} students",
    disabled=why is not None,
    key=f"teacher_end_confirm_{exported[0] if exported else ''}",
)
if st.button(
    "End the class",
    type="primary",
    disabled=why is not None or not confirm,
    help=why,
    key="teacher_end",
):
    with reported():
        end_class(store, ids)
        st.session_state.pop("teacher_exported", None)
        st.toast(f"Class ended: {len(ids)} runs and {len(names)} students deleted")
        st.rerun()
if why is not None:
    st.caption(why)
