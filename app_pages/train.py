"""Train: pick a model and its hyperparameters, start a run, and watch it learn live.

The run trains in a worker process of the engine; a fragment polls its new metric rows once a
second, so the page never waits for training and the run goes on while other pages are open.
In class mode a student joins first, fills the form with the class's locks and ranges, may queue
runs up to the class's quota and sees each one's place in the queue; only a run's owner (or the
teacher) controls it.
"""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from app_pages.common import (
    engine,
    in_class,
    is_teacher,
    join_form,
    presenting,
    run_curves,
    run_rows,
    show_figure,
    viewer,
)
from app_pages.form import allowed_presets, checked, preset_form, read_form, render_form
from app_pages.queue_panel import queue_snapshot, your_runs
from gendl.config import config_to_dict
from gendl.errors import ConfigError, GendlError
from gendl.train import PRESETS, preset_config
from gendl.train.timing import cache_dir
from gendl.views.estimates import estimate_seconds, format_duration, progress
from gendl.views.training import run_place, variant

st.title("Train a model")
if in_class() and not is_teacher() and join_form("train") is None:
    st.stop()  # a student starts runs once the class knows their name


allowed = allowed_presets()
if st.session_state.get("train_preset") not in (None, *allowed):
    del st.session_state["train_preset"]  # the teacher no longer allows it
preset = st.segmented_control(
    "model",
    allowed,
    default="lstm" if "lstm" in allowed else allowed[0],
    key="train_preset",
    required=True,
    bind="query-params",
)
family = PRESETS[preset][0]


def form_args(preset: str) -> tuple[Any, dict[str, Any], str, bool]:
    """The form of ``preset``, the preset's full config as its defaults, its widgets' key prefix
    (keyed per model, so that each widget starts at its model's preset value), and whether the
    advanced fields are hidden."""
    form = preset_form(preset)
    return form, config_to_dict(preset_config(preset)[1]), f"train_{preset}", presenting()


st.subheader("Hyperparameters")
values, problems = render_form(*form_args(preset))
config = None
try:
    config = checked(preset, values)
except ConfigError as exc:
    st.error(f"Cannot start: {exc}", icon=":material/error:")
else:
    with st.spinner("Timing a few training steps on this machine (once per model)..."):
        seconds = format_duration(estimate_seconds(family, config, cache_dir()))
    early = ", less if it solves the task first" if family == "sequence" else ""
    st.markdown(f"Estimated duration **about {seconds}**{early}")


def run_from_link(asked: str) -> int | None:
    """The run named by the URL's ``train_run``, or None with a warning why it is ignored."""
    if not (asked.isascii() and asked.isdigit() and len(asked) <= 12):
        st.warning(f"The link's train_run={asked!r} is not a run id; ignored.")
        return None
    try:
        return engine().status(int(asked)).id
    except GendlError:
        st.warning(f"The link's train_run={asked} names no run in the store; ignored.")
        return None


if "train_run" not in st.session_state and "train_run" in st.query_params:
    linked = run_from_link(st.query_params.pop("train_run"))
    if linked is not None:
        st.session_state["train_run"] = linked


def current_run() -> Any:
    """This session's run (also in the URL as ``train_run``), or None; a deleted run is forgotten."""
    run_id = st.session_state.get("train_run")
    if run_id is None:
        return None
    try:
        run = engine().status(run_id)
    except GendlError:
        del st.session_state["train_run"]
        st.query_params.pop("train_run", None)
        return None
    st.query_params["train_run"] = str(run_id)
    return run


def command(action: Callable[[], Any], config: dict[str, Any] | None = None) -> None:
    """A control's ``on_click``: it runs before the rerun its click causes, so the buttons and the
    status drawn next come from one reading of the run, taken after the command; a refused command
    leaves its message, shown while the form holds the same config (the live part redraws every
    second or two, and a student should read why a run was refused)."""
    st.session_state.pop("train_refused", None)
    st.session_state.pop("train_tried", None)
    try:
        action()
    except GendlError as exc:  # kept with the config it was about (Start: the one it tried)
        tried = st.session_state.get("train_tried", config)
        st.session_state["train_refused"] = (str(exc), tried)


def busy(run: Any, owner: str) -> bool:
    """Whether ``run`` is this session's active run and bars another: one at a time per session,
    except in class mode, where the engine holds each owner to the class's quota."""
    return not in_class() and run is not None and run.active and run.owner == owner


def start_run(owner: str) -> None:
    """Start a run from what the form holds at the click: a value typed just before the click
    arrives with it, and a refused one queues nothing (the message names the field or rule)."""
    # checked again at the click: a second click, or a click Streamlit delivers again after a
    # preempted fragment run (seen under load), must not queue a duplicate
    if busy(current_run(), owner):
        return
    asked = st.session_state["train_preset"]
    try:
        config = checked(asked, read_form(*form_args(asked)))
    except ConfigError as exc:
        raise ConfigError(f"Cannot start: {exc}") from None
    # in class mode a student may queue several runs: the same config again within 2 s is the
    # same click delivered twice
    last = st.session_state.get("train_last_start")
    if last is not None and last[1] == config and time.monotonic() - last[0] < 2.0:
        return
    st.session_state["train_tried"] = config
    family = PRESETS[asked][0]
    st.session_state["train_run"] = engine().start(family, config, owner=owner, name=asked)
    st.session_state["train_last_start"] = (time.monotonic(), config)
    queue_snapshot.clear()  # every session sees the new run's place at its next redraw


def step_run(run_id: int, part: str, owner: str) -> None:
    engine().step(run_id, st.session_state["train_step_n"], part, owner=owner)


def controls(run: Any, config: dict[str, Any] | None) -> None:
    """Start a new run with ``config``; pause, resume, single-step or stop the current ``run``.
    The buttons flow in a row that wraps, so none is clipped in a narrow window."""
    owner = viewer()
    row, steps_row = (st.container(horizontal=True, vertical_alignment="bottom") for _ in "ab")
    state = run.state if run is not None else None
    active, paused = run is not None and run.active, state == "paused"
    is_gan = run is not None and run.family == "gan"
    refusal = run.why_not_controllable(owner) if run is not None else None
    row.button(
        "Start",
        icon=":material/play_arrow:",
        type="primary",
        disabled=config is None or busy(run, owner),
        help="Queues another run, up to the class's quota"
        if in_class()
        else "One run at a time per session: stop it to start another",
        key="train_start",
        on_click=command,
        args=(lambda: start_run(owner), config),
    )
    run_id = run.id if run is not None else None
    for label, icon, action, enabled in (
        ("Pause", ":material/pause:", engine().pause, active and not paused),
        ("Resume", ":material/resume:", engine().resume, state in ("paused", "interrupted")),
        ("Stop", ":material/stop:", engine().stop, active),
    ):
        row.button(
            label,
            icon=icon,
            disabled=not enabled or refusal is not None,
            help=refusal,
            key=f"train_{label.lower()}",
            on_click=command,
            args=(lambda action=action: action(run_id, owner=owner), config),
        )
    n = steps_row.number_input(
        "steps per click",
        1,
        1000,
        1,
        key="train_step_n",
        help="steps per click of the step buttons, while the run is paused",
        width=130,
    )
    steps = (("Step", "all", True), ("D step", "d", is_gan), ("G step", "g", is_gan))
    for label, part, offered in steps:
        steps_row.button(
            f"{label} ×{n}",
            icon=":material/skip_next:",
            disabled=not (paused and offered) or refusal is not None,
            help=refusal,
            key=f"train_step_{part}",
            on_click=command,
            args=(lambda part=part: step_run(run_id, part, owner), config),
        )
    if refusal is not None:
        st.caption(refusal)
    refused, at = st.session_state.get("train_refused", (None, None))
    if refused is not None and at != config:  # the form changed since: the message is old
        st.session_state.pop("train_refused")
        refused = None
    if refused is not None:
        st.error(refused, icon=":material/error:")


def poll_seconds(run: Any) -> float:
    """How often the live part redraws: every second while the run trains, else every 2 s (a
    class of 30 on one server: each redraw costs the server ~20 ms)."""
    return 1.0 if run is not None and run.state == "running" else 2.0


def live(config: dict[str, Any] | None) -> None:
    """Controls, status, progress, curves and sample grid of this session's current run."""
    run = current_run()  # after any command just given: controls and status agree
    if poll_seconds(run) != st.session_state.get("train_poll"):
        st.rerun(scope="app")  # the fragment is drawn again at the pace the run now needs
    controls(run, config)
    if in_class():
        your_runs(run)
    if run is None:
        st.info("Set the hyperparameters and press Start; the curves appear here.")
    else:
        show_run(run)


def show_run(run: Any) -> None:
    rows = run_rows(run.id, run.step)
    last = rows[-1] if rows else {"step": 0, "elapsed_s": 0.0}
    fraction, eta = progress(
        last["step"], last["elapsed_s"], run.config["max_steps"], run.config["max_seconds"]
    )
    what = f"Run {run.id} · {run.name or run.family} ({variant(run.family, run.config)})"
    what += f" · **{run.state}** · step {run.step} · on {run_place(run, rows)}"
    st.markdown(what + (f" · {run.reason}" if run.reason else ""))
    text = f"{fraction:.0%} of budget"
    if run.state in ("queued", "running"):
        text += f" · ETA {format_duration(eta)}"
    elif run.state == "paused":
        text += " · paused (the time budget waits too)"
    else:
        text = run.state
    st.progress(1.0 if run.state == "finished" else fraction, text=text)
    if not rows:  # queued or starting: no figure to draw yet (most of a class's runs wait)
        st.caption("The curves appear here from the run's first steps.")
        return
    left, right = st.columns([3, 1]) if run.family in ("gan", "vae") else (st.container(), None)
    show_figure(run_curves(run, rows), "train_curves", left)
    if right is not None:
        sample_grid(right, run.id)


def sample_grid(where: Any, run_id: int) -> None:
    """The latest sample grid from fixed noise, with a slider back through the saved ones."""
    grids = {step: path for step, _, path in engine().artifacts(run_id, "sample_grid")}
    if not grids:
        where.caption("The sample grid appears at the first evaluation.")
        return
    step = max(grids)
    if len(grids) > 1:
        step = where.select_slider("grid at step", list(grids), value=step, key="train_grid_step")
    try:
        png = Path(grids[step]).read_bytes()
    except OSError:  # deleted from the run's folder, or the folder was moved
        where.warning(f"The sample grid of step {step} is missing: {Path(grids[step]).name}.")
        return
    where.image(png, caption=f"fixed noise, step {step}", width="stretch")


st.session_state["train_poll"] = poll_seconds(current_run())
st.fragment(run_every=st.session_state["train_poll"])(live)(config)
