"""What the Train and Runs pages show: live curves, run tables and config diffs (duration
estimates and progress: gendl/views/estimates.py). Plain data in (config dicts, metric rows), Plotly figures or table rows out.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from typing import Any

import plotly.graph_objects as go

from gendl.engine.classroom import owner_label
from gendl.engine.records import Run
from gendl.engine.records import variant as variant  # re-exported for the run tables' pages
from gendl.views.style import RUN_COLORS, label, tidy

# per family: metrics on the left axis (losses) and on the right axis (accuracies, scores)
CURVES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "gan": (("d_loss", "g_loss"), ("inception_score",)),
    "vae": (("recon_loss",), ("kl_loss",)),
    "sequence": (("loss",), ("train_acc", "test_acc")),
    "classifier": (("loss",), ("train_acc", "test_acc")),
}
MAX_POINTS = 2000  # per dense curve; longer histories are thinned evenly
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")  # losses first, then the right axis


# ---------------------------------------------------------------- curves


def series(
    rows: Sequence[dict[str, Any]], key: str, max_points: int = MAX_POINTS
) -> tuple[list[int], list[float]]:
    """``(steps, values)`` of rows holding a number under ``key``, thinned to ``max_points``."""
    points = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
    if len(points) > max_points:
        stride = math.ceil(len(points) / max_points)
        points = points[::stride] + ([points[-1]] if (len(points) - 1) % stride else [])
    return [p[0] for p in points], [p[1] for p in points]


def run_device(rows: Iterable[dict[str, Any]]) -> str | None:
    """Where a run trained: the device its latest worker recorded (a resumed run may move)."""
    devices = [row["device"] for row in rows if isinstance(row.get("device"), str)]
    return devices[-1] if devices else None


def numeric_keys(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Metric names with number values (not ``step`` or ``elapsed_s``), in first-seen order."""
    keys: dict[str, None] = {}
    for row in rows:
        for key, value in row.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                keys.setdefault(key)
    return [k for k in keys if k not in ("step", "elapsed_s")]


def curves_figure(family: str, rows: Sequence[dict[str, Any]], revision: Any = None) -> go.Figure:
    """The family's live curves: losses on the left axis, accuracies or scores on the right one.

    Sparse metrics (test accuracy, inception score: only at evaluations) are drawn with markers.
    ``revision`` keeps the user's zoom while new rows arrive (Plotly's ``uirevision``).
    """
    left, right = CURVES[family]
    fig = go.Figure()
    for axis, keys in (("y", left), ("y2", right)):
        for key in keys:
            color = COLORS[(left + right).index(key)]
            steps, values = series(rows, key)
            if not steps:
                continue  # not logged by this run (no inception score without the classifier)
            sparse = len(steps) < 0.5 * len(rows)
            fig.add_trace(
                go.Scatter(
                    x=steps,
                    y=values,
                    name=label(key),
                    yaxis=axis,
                    mode="lines+markers" if sparse else "lines",
                    line={"color": color, "dash": "dot" if axis == "y2" else "solid"},
                )
            )
    fig.update_layout(
        xaxis_title="training step",
        yaxis={"title": " / ".join(map(label, left))},
        yaxis2={
            "title": " / ".join(map(label, right)),
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
        },
        uirevision=revision,
    )
    return tidy(fig, height=320)


def overlay_figure(curves: dict[str, Sequence[dict[str, Any]]], metric: str) -> go.Figure:
    """One line per run (name -> rows) of ``metric`` against step, each run its own colour."""
    fig = go.Figure()
    for k, (name, rows) in enumerate(curves.items()):
        steps, values = series(rows, metric)
        color = RUN_COLORS[k % len(RUN_COLORS)]
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=values,
                name=name,
                mode="lines+markers" if len(steps) < 30 else "lines",
                line={"color": color},
            )
        )
    fig.update_layout(xaxis_title="training step", yaxis_title=label(metric))
    return tidy(fig, height=340)


# ---------------------------------------------------------------- run tables


def run_row(run: Run, viewer: str | None, names: dict[str, str] | None = None) -> dict[str, Any]:
    """One line of a runs table as ``viewer`` sees it: ``owner`` in words (a student's name from
    ``names``, "teacher", "command line", "you"), ``control`` whether ``viewer`` may control it."""
    return {
        "id": run.id,
        "name": run.name or "",
        "family": run.family,
        "variant": variant(run.family, run.config),
        "state": run.state,
        "step": run.step,
        "created": dt.datetime.fromtimestamp(run.created).strftime("%Y-%m-%d %H:%M:%S"),
        "owner": owner_words(run, viewer, names or {}),
        "control": run.controllable_by(viewer),
        "where": run.where,
        "reason": run.reason or "",
    }


def owner_words(run: Run, viewer: str | None, names: dict[str, str]) -> str:
    """Whose run it is, for ``viewer``: "you", a student's name, "teacher", "command line", or
    "a session"; a shared run says so."""
    mine = viewer is not None and run.owner == viewer and not run.owned_by_cli
    words = "you" if mine else owner_label(run.owner, names)
    return words + (" (shared)" if run.shared else "")


def run_place(run: Run, rows: Sequence[dict[str, Any]]) -> str:
    """Where a run trains: the machine (this one, or a Dask worker's address) and, once its
    first row is in, the device, ``this machine, cpu (AMD EPYC 7B13, 1 thread)``."""
    device = next((row["device"] for row in rows if "device" in row), None)
    return run.where + (f", {device}" if device else "")


def filter_runs(
    runs: Iterable[Run], families: Sequence[str] = (), states: Sequence[str] = ()
) -> list[Run]:
    """Runs of any of ``families`` and any of ``states`` (an empty selection keeps all)."""
    return [
        run
        for run in runs
        if (not families or run.family in families) and (not states or run.state in states)
    ]


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config dicts as dotted keys: ``{"model": {"arch": "mlp"}}`` -> ``model.arch``."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_diff(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Fields whose values differ (or exist in only one config), as ``{field, a, b}`` rows;
    values are shown as text so one column can hold numbers, strings and lists."""
    flat_a, flat_b = flatten(a), flatten(b)
    missing = "(absent)"
    return [
        {"field": key, "a": str(flat_a.get(key, missing)), "b": str(flat_b.get(key, missing))}
        for key in sorted(flat_a.keys() | flat_b.keys())
        if flat_a.get(key, missing) != flat_b.get(key, missing)
    ]
