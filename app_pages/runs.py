"""Runs: every run in the store; filter, overlay their curves, compare configs, export, delete."""

import tempfile
from pathlib import Path

import streamlit as st

from app_pages.common import engine, reported, run_rows, show_figure, viewer
from gendl.engine.classroom import students
from gendl.engine.export import export_run
from gendl.engine.records import FAMILY_NAMES, STATES
from gendl.views.export import sample_grid_gif
from gendl.views.style import label
from gendl.views.training import (
    config_diff,
    filter_runs,
    numeric_keys,
    overlay_figure,
    run_device,
    run_row,
    variant,
)

QUERY = {"bind": "query-params"}

st.title("Runs")
owner = viewer()
cols = st.columns(2)
families = cols[0].multiselect("family", FAMILY_NAMES, key="runs_family", **QUERY)
states = cols[1].multiselect("state", STATES, key="runs_state", **QUERY)


@st.fragment(run_every=2.0)
def history() -> None:
    """The table of runs, refreshed every two seconds while runs train."""
    runs = filter_runs(engine().list(), families, states)
    if not runs:
        st.info("No runs match: start one on the Train page, or widen the filter.")
        return
    names = students(engine().store)
    st.dataframe(
        [run_row(run, owner, names) for run in runs],
        hide_index=True,
        width="stretch",
        column_config={"control": None, "reason": st.column_config.TextColumn(width="large")},
        key="runs_table",
    )


history()
runs = filter_runs(engine().list(), families, states)
if not runs:
    st.stop()
labels = {run.id: f"{run.id} · {run.name or variant(run.family, run.config)}" for run in runs}
by_id = {run.id: run for run in runs}

st.subheader("Compare")
chosen = st.multiselect(
    "runs to compare",
    list(labels),
    format_func=labels.get,
    max_selections=10,
    key="runs_selected",
)
if chosen:
    curves = {labels[i]: run_rows(i, by_id[i].step) for i in chosen}
    devices = {label: run_device(rows) for label, rows in curves.items()}
    st.caption(" · ".join(f"{label} trained on {d}" for label, d in devices.items() if d))
    metrics = numeric_keys(row for rows in curves.values() for row in rows)
    if metrics:
        metric = st.selectbox(
            "metric",
            metrics,
            metrics.index("loss") if "loss" in metrics else 0,
            format_func=label,
            key="runs_metric",
        )
        show_figure(overlay_figure(curves, metric), "runs_overlay")
    else:
        st.caption("The chosen runs have no metrics yet.")
if len(chosen) >= 2:
    a, b = by_id[chosen[0]], by_id[chosen[1]]
    diff = config_diff({"family": a.family, **a.config}, {"family": b.family, **b.config})
    st.markdown(f"**Config differences**, run {a.id} (a) against run {b.id} (b)")
    if diff:
        st.dataframe(diff, hide_index=True, key="runs_diff")
    else:
        st.success("The two configs are identical.")

st.subheader("Export or delete")
cols = st.columns([2, 1, 1, 1, 1])
target = cols[0].selectbox("run", list(labels), format_func=labels.get, key="runs_target")
makes_grids = by_id[target].family in ("gan", "vae")  # they save a sample grid per evaluation


def grid_gif(run_id: int) -> bytes:
    """The run's sample grids over training as a GIF, built when clicked."""
    return sample_grid_gif(
        (step, path) for step, _, path in engine().artifacts(run_id, "sample_grid")
    )


has_grids = makes_grids and bool(engine().artifacts(target, "sample_grid"))
cols[4].download_button(
    "Samples as GIF",
    lambda: grid_gif(target),
    f"run{target}_samples.gif",
    "image/gif",
    key="runs_gif",
    on_click="ignore",
    disabled=not has_grids,
    help="the sample grid at every evaluation, as an animated GIF for slides"
    if has_grids
    else (
        "no sample grid yet: the run's first evaluation saves one"
        if makes_grids
        else "only GAN and VAE runs save sample grids"
    ),
)


def zip_bytes(run_id: int) -> bytes:
    """The run as a zip (config, metrics CSV, sample PNGs, weights), built when clicked."""
    with tempfile.TemporaryDirectory() as directory:
        return export_run(engine().store, run_id, Path(directory) / "run.zip").read_bytes()


cols[1].download_button(
    "Export zip",
    lambda: zip_bytes(target),
    f"run{target}.zip",
    "application/zip",
    key="runs_export",
)
refusal = by_id[target].why_not_controllable(owner)
if refusal is None and by_id[target].active:
    refusal = f"run {target} is {by_id[target].state}: stop it before deleting"
confirm = cols[2].checkbox(
    "confirm delete",
    key=f"runs_confirm_{target}",
    disabled=refusal is not None,
    help=refusal or "deletes the run's metrics and files",
)
if cols[3].button(
    "Delete", disabled=not confirm or refusal is not None, help=refusal, key="runs_delete"
):
    with reported(st):
        engine().delete(target, owner=owner)
        st.toast(f"Deleted run {target}")
        st.rerun()
if refusal is not None:
    st.caption(refusal)
