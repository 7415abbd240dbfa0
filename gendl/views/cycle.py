"""What the "Why GANs cycle" page shows: gradient play on f(x, y) = x y (seed 003) as an animated
path over the saddle, the distance to the saddle per step, and a table of the first steps."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go

from gendl.dynamics import alternating_invariant, game_value, play, simultaneous_growth

COLORS = {"alternating": "#1f77b4", "simultaneous": "#d62728"}
MAX_FRAMES = 120  # longer paths are animated every k-th step, so the figure stays small
VIEW_LIMIT = 6.0  # the view covers at most this many start radii; escaping paths leave it


def cycle_paths(
    lr: float, n_steps: int, updates: Iterable[str], start: tuple[float, float] = (1.0, 1.0)
) -> dict[str, np.ndarray]:
    """Path (n_steps + 1, 2) of (x_t, y_t) for each update rule."""
    return {update: np.array(play(update, lr, n_steps, start), dtype=float) for update in updates}


def _view_half_width(paths: Mapping[str, np.ndarray]) -> float:
    start = next(iter(paths.values()))[0]
    limit = VIEW_LIMIT * max(float(np.hypot(*start)), 0.1)
    reach = max(float(np.abs(path).max()) for path in paths.values())
    return 1.15 * min(reach, limit)


def _invariant_curve(lr: float, start: np.ndarray, n: int = 361) -> np.ndarray | None:
    """The ellipse x^2 + y^2 + lr x y = Q through ``start`` (None when it is not an ellipse)."""
    level = alternating_invariant(float(start[0]), float(start[1]), lr)
    if lr >= 2 or level <= 0:
        return None
    theta = np.linspace(0, 2 * np.pi, n)
    radius = np.sqrt(
        level / (1 + lr * np.sin(theta) * np.cos(theta))
    )  # polar form of the level set
    return np.stack([radius * np.cos(theta), radius * np.sin(theta)], 1)


def _background(half: float) -> go.Contour:
    axis = np.linspace(-half, half, 61)
    return go.Contour(
        x=axis,
        y=axis,
        z=np.outer(axis, axis),  # z[i, j] = y_i x_j = f(x_j, y_i)
        colorscale="RdBu_r",
        opacity=0.35,
        showscale=False,
        contours={"coloring": "heatmap"},
        hovertemplate="f(%{x:.2f}, %{y:.2f}) = %{z:.2f}<extra></extra>",
        name="f = xy",
    )


def _animation_controls(shown: np.ndarray) -> dict[str, Any]:
    """A play/pause pair and a step slider; both animate in the browser, without a rerun."""
    still = {"mode": "immediate", "frame": {"duration": 0, "redraw": False}}
    running = {"frame": {"duration": 120, "redraw": False}, "fromcurrent": True}
    buttons = [
        {"label": "▶ play", "method": "animate", "args": [None, running]},
        {"label": "❚❚ pause", "method": "animate", "args": [[None], still]},
    ]
    steps = [{"label": str(t), "method": "animate", "args": [[str(t)], still]} for t in shown]
    return {
        "updatemenus": [
            {"type": "buttons", "direction": "left", "x": 0, "y": -0.1, "buttons": buttons}
        ],
        "sliders": [
            {"x": 0.2, "len": 0.8, "y": -0.02, "currentvalue": {"prefix": "step "}, "steps": steps}
        ],
    }


def _add_guides(fig: go.Figure, paths: Mapping[str, np.ndarray], lr: float) -> None:
    """The saddle, and the ellipse that alternating steps keep to."""
    start = next(iter(paths.values()))[0]
    ellipse = _invariant_curve(lr, start) if "alternating" in paths else None
    if ellipse is not None:
        dashed = {"dash": "dash", "color": "gray"}
        name = "x² + y² + lr·xy = const"
        fig.add_scatter(
            x=ellipse[:, 0], y=ellipse[:, 1], mode="lines", name=name, line=dashed, hoverinfo="skip"
        )
    cross = {"symbol": "x", "size": 12, "color": "black"}
    fig.add_scatter(x=[0], y=[0], mode="markers", name="saddle: min max xy = 0", marker=cross)


def cycle_figure(paths: Mapping[str, np.ndarray], lr: float) -> go.Figure:
    """The (x, y) paths over the contours of f = xy, animated step by step (play button and slider)."""
    half = _view_half_width(paths)
    fig = go.Figure(_background(half))
    _add_guides(fig, paths, lr)
    animated = []  # index of each path's growing line; its current-point marker follows it
    for update, path in paths.items():
        color = COLORS.get(update, "black")
        faint = {"color": color, "width": 1}
        fig.add_scatter(
            x=path[:, 0], y=path[:, 1], mode="lines", line=faint, opacity=0.25, showlegend=False
        )
        animated.append(len(fig.data))
        line, dot = {"color": color}, {"size": 14, "color": color, "line": {"color": "white"}}
        fig.add_scatter(x=path[:1, 0], y=path[:1, 1], name=update, line=line, marker={"size": 5})
        fig.add_scatter(x=path[:1, 0], y=path[:1, 1], mode="markers", marker=dot, showlegend=False)
    n_steps = len(next(iter(paths.values()))) - 1
    shown = np.unique(np.linspace(0, n_steps, min(n_steps + 1, MAX_FRAMES)).round().astype(int))
    traces = [i for first in animated for i in (first, first + 1)]
    fig.frames = [
        go.Frame(
            data=[
                trace
                for path in paths.values()
                for trace in (
                    go.Scatter(x=path[: t + 1, 0], y=path[: t + 1, 1]),
                    go.Scatter(x=path[t : t + 1, 0], y=path[t : t + 1, 1]),
                )
            ],
            traces=traces,
            name=str(t),
        )
        for t in shown
    ]
    fig.update_layout(
        **_animation_controls(shown),
        height=620,
        margin={"l": 0, "r": 0, "t": 10, "b": 100},
        legend={"orientation": "h", "y": 1.1},
    )
    fig.update_xaxes(range=[-half, half], title="x (minimises xy)", zeroline=False)
    fig.update_yaxes(range=[-half, half], title="y (maximises xy)", scaleanchor="x", zeroline=False)
    return fig


def radius_figure(paths: Mapping[str, np.ndarray], lr: float) -> go.Figure:
    """Distance to the saddle per step (log scale): flat for alternating, a straight line of slope
    log sqrt(1 + lr^2) for simultaneous steps."""
    fig = go.Figure()
    for update, path in paths.items():
        steps = np.arange(len(path))
        color = COLORS.get(update, "black")
        fig.add_scatter(
            x=steps, y=np.hypot(path[:, 0], path[:, 1]), name=update, line={"color": color}
        )
        if update == "simultaneous":
            growth = np.hypot(*path[0]) * simultaneous_growth(lr) ** steps
            dotted = {"dash": "dot", "color": color}
            fig.add_scatter(x=steps, y=growth, name="r₀ · sqrt(1 + lr²)ᵗ", line=dotted)
    fig.update_xaxes(title="step t")
    fig.update_yaxes(title="distance to (0, 0)", type="log")
    fig.update_layout(height=300, margin={"t": 10}, legend={"orientation": "h"})
    return fig


def cycle_table(
    paths: Mapping[str, np.ndarray], lr: float, n_rows: int = 12
) -> list[dict[str, Any]]:
    """The first steps as rows: t, then x, y and f = xy of each update, and the quantity that
    explains its path (the invariant for alternating, the radius for simultaneous)."""
    rows = []
    for t in range(min(n_rows, len(next(iter(paths.values()))))):
        row: dict[str, Any] = {"t": t}
        for update, path in paths.items():
            x, y = (float(v) for v in path[t])
            row |= {f"x ({update})": x, f"y ({update})": y, f"xy ({update})": game_value(x, y)}
            if update == "alternating":
                row["x² + y² + lr·xy (alternating)"] = alternating_invariant(x, y, lr)
            else:
                row[f"radius ({update})"] = float(np.hypot(x, y))
        rows.append(row)
    return rows
