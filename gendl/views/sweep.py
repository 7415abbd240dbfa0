"""What the RNN vs LSTM page shows: accuracy against sequence length (mean, band over seeds, each
seed), the training curves of every cell, and where along the input the gradient vanishes.

The shipped results are the sweep CLI's JSON (``python -m gendl sweep ... --json``):
``{"wall_s": ..., "results": [{"model", "length", "test_acc_mean", "test_acc_std", "n_seeds",
"steps_mean"}, ...]}``, written by ``gendl.engine.sweep.summary``, which also summarizes a live sweep.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gendl.errors import GendlError
from gendl.views.style import label, tidy

CHANCE = 0.1  # ten digits: guessing the last one is right one time in ten
COLORS = {"rnn": "#d62728", "lstm": "#1f77b4"}
RESULT_KEYS = ("model", "length", "test_acc_mean", "test_acc_std")


def load_sweep_result(path: str | Path) -> dict[str, Any] | None:
    """A sweep JSON file, or None if it does not exist; a malformed one raises GendlError."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        results = data["results"]
        if not all(all(key in r for key in RESULT_KEYS) for r in results):
            raise ValueError(f"each result needs {', '.join(RESULT_KEYS)}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GendlError(f"{path.name} is not a sweep result: {exc}") from exc
    return data


def result_table(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sweep's result as a table for a slide or a spreadsheet: a row per model and length
    with mean and standard deviation of the test accuracy over the seeds, RNN rows first."""
    ordered = sorted(results, key=lambda r: (r["model"] != "rnn", r["model"], r["length"]))
    return [
        {
            "model": r["model"].upper(),
            "sequence length": r["length"],
            "test accuracy (mean)": r["test_acc_mean"],
            "test accuracy (std)": r.get("test_acc_std"),
            "seeds": r.get("n_seeds"),
        }
        for r in ordered
    ]


def accuracy_figure(
    results: Sequence[dict[str, Any]], points: Sequence[dict[str, Any]] = ()
) -> go.Figure:
    """Test accuracy against sequence length: per model a mean line with a band of one standard
    deviation over seeds, one marker per seed (``points``), and the chance line."""
    fig = go.Figure()
    for model in sorted({r["model"] for r in results}, reverse=True):  # rnn first, then lstm
        cells = sorted(
            (r for r in results if r["model"] == model and r["test_acc_mean"] is not None),
            key=lambda r: r["length"],
        )
        lengths = [r["length"] for r in cells]
        means = [r["test_acc_mean"] for r in cells]
        stds = [r.get("test_acc_std") or 0.0 for r in cells]
        color = COLORS.get(model, "#7f7f7f")
        band_y = [m + s for m, s in zip(means, stds, strict=True)]
        band_y += [m - s for m, s in zip(means[::-1], stds[::-1], strict=True)]
        fig.add_trace(
            go.Scatter(
                x=lengths + lengths[::-1],
                y=band_y,
                mode="lines",
                fill="toself",
                fillcolor=color,
                opacity=0.2,
                line={"width": 0},
                hoverinfo="skip",
                legendgroup=model,
                showlegend=False,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=lengths,
                y=means,
                mode="lines+markers",
                name=model.upper(),
                legendgroup=model,
                line={"color": color},
            )
        )
        seeds = [p for p in points if p["model"] == model and p.get("test_acc") is not None]
        if seeds:
            fig.add_trace(
                go.Scatter(
                    x=[p["length"] for p in seeds],
                    y=[p["test_acc"] for p in seeds],
                    mode="markers",
                    marker={"color": color, "size": 7, "opacity": 0.6},
                    name=f"{model.upper()}, each seed",
                    legendgroup=model,
                    text=[f"seed {p['seed']}" for p in seeds],
                )
            )
    fig.add_hline(y=CHANCE, line_dash="dash", line_color="gray", annotation_text="chance")
    fig.update_layout(
        xaxis_title="sequence length",
        yaxis={"title": label("test_acc"), "range": [0, 1.05], "tickformat": ".0%"},
    )
    return tidy(fig, height=340)


DASHES = ("solid", "dot", "dash", "longdash", "dashdot")


def sweep_curves_figure(
    runs: Sequence[tuple[str, str, int, Sequence[dict[str, Any]]]], metric: str
) -> go.Figure:
    """One line of ``metric`` against step per ``(name, model, length, rows)``: the color says
    the model, the dash pattern the sequence length."""
    lengths = sorted({length for _, _, length, _ in runs})
    fig = go.Figure()
    for name, model, length, rows in runs:
        points = [(r["step"], r[metric]) for r in rows if isinstance(r.get(metric), (int, float))]
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in points],
                y=[p[1] for p in points],
                name=name,
                mode="lines",
                line={
                    "color": COLORS.get(model, "#7f7f7f"),
                    "dash": DASHES[lengths.index(length) % len(DASHES)],
                    "width": 1.5,
                },
                opacity=0.7,
            )
        )
    fig.update_layout(xaxis_title="training step", yaxis_title=label(metric))
    return tidy(fig, height=320)


def grad_norm_grid(rows: Sequence[dict[str, Any]]) -> tuple[list[int], list[list[float]]]:
    """Steps and log10 of the per-time-step input gradient norms logged at each evaluation."""
    steps, grid = [], []
    for row in rows:
        norms = row.get("input_grad_norms")
        if norms:
            steps.append(row["step"])
            grid.append([math.log10(v) if v > 0 else ZERO_NORM for v in norms])
    return steps, grid


def grad_norm_heatmap(rows_by_model: dict[str, Sequence[dict[str, Any]]]) -> go.Figure:
    """Side by side per model: training step (rows) by input position (columns), colored by
    log10 |d loss / d x_t|. A vanishing gradient is a dark left edge: early digits stop mattering.

    Each panel has the steps its model evaluated at (an LSTM that solves the task early has few
    rows, and they fill its panel). One colour scale for all panels, spanning the 2nd to 98th
    percentile of the logged values, so a few near-zero norms do not wash the rest out."""
    grids = {model: grad_norm_grid(rows) for model, rows in rows_by_model.items()}
    values = [v for _, grid in grids.values() for row in grid for v in row if v > ZERO_NORM]
    width = max((len(row) for _, grid in grids.values() for row in grid), default=0)
    titles = [m.upper() for m in grids]
    fig = make_subplots(rows=1, cols=len(grids), subplot_titles=titles, horizontal_spacing=0.08)
    for col, (steps, grid) in enumerate(grids.values(), start=1):
        fig.add_trace(
            go.Heatmap(
                z=grid,
                x=list(range(width)),
                y=[str(step) for step in steps],  # evenly spaced evaluations: a row each
                coloraxis="coloraxis",
                hovertemplate="t=%{x}<br>step %{y}<br>log10 norm %{z:.2f}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text="input position t", row=1, col=col)
        fig.update_yaxes(type="category", title_text="training step", row=1, col=col)
    if width:
        fig.update_xaxes(range=[-0.5, width - 0.5], dtick=max(1, width // 10))
    low, high = _percentiles(values, 2, 98)
    fig.update_layout(
        coloraxis={
            "colorscale": "Viridis",
            "cmin": low,
            "cmax": high,
            "colorbar": {"title": {"text": "log10<br>norm"}, "thickness": 14},
        },
    )
    return tidy(fig, height=340)


ZERO_NORM = -12.0  # log10 of a norm that is exactly zero


def _percentiles(
    values: Sequence[float], low: float, high: float
) -> tuple[float, float] | tuple[None, None]:
    if not values:
        return None, None
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]  # noqa: E731
    lo, hi = pick(low), pick(high)
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)
