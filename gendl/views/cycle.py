"""What the "Why GANs cycle" page shows: gradient play on f(x, y) = x y (seed 003) as an animated
path over the saddle, the distance to the saddle per step, and a table of the first steps."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go

from gendl.dynamics import alternating_invariant, play, simultaneous_growth
from gendl.views.style import COLUMN_WIDTH_PX, tidy

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


def _add_background(fig: go.Figure, half: float) -> None:
    """Quadrants shaded by the sign of f = xy and level curves xy = +-c. Layout shapes and a static
    line trace, because Plotly's animation drops contour traces from the view."""
    for sign_x, sign_y in ((1, 1), (-1, -1), (-1, 1), (1, -1)):
        color = "rgba(214,39,40,0.07)" if sign_x == sign_y else "rgba(31,119,180,0.07)"
        x0, y0 = sorted((0, sign_x * half)), sorted((0, sign_y * half))
        rect = {"x0": x0[0], "x1": x0[1], "y0": y0[0], "y1": y0[1], "fillcolor": color}
        fig.add_shape(type="rect", layer="below", line_width=0, **rect)
    x, y = [], []
    for level in half**2 * np.array([0.02, 0.08, 0.2, 0.4]):
        branch = np.geomspace(level / half, half, 40)  # x from where y = level / x leaves the view
        for sign_x, sign_y in ((1, 1), (-1, -1), (-1, 1), (1, -1)):
            x += [*(sign_x * branch), None]
            y += [*(sign_y * level / branch), None]
    thin = {"color": "rgba(0,0,0,0.15)", "width": 1}
    fig.add_scatter(
        x=x,
        y=y,
        mode="lines",
        line=thin,
        name="levels of f = xy",
        hoverinfo="skip",
        showlegend=False,
    )
    for (x_text, y_text), text in zip(
        ((0.6, 0.85), (-0.6, 0.85)), ("xy > 0: y is winning", "xy < 0: x is winning"), strict=True
    ):
        fig.add_annotation(x=x_text * half, y=y_text * half, text=text, showarrow=False)


def _animation_controls(shown: np.ndarray) -> dict[str, Any]:
    """A play/pause pair and a step slider; both animate in the browser, without a rerun."""
    still = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}}
    running = {"frame": {"duration": 120, "redraw": True}, "fromcurrent": True}
    buttons = [
        {"label": "▶ play", "method": "animate", "args": [None, running]},
        {"label": "❚❚ pause", "method": "animate", "args": [[None], still]},
    ]
    steps = [{"label": str(t), "method": "animate", "args": [[str(t)], still]} for t in shown]
    return {
        "updatemenus": [
            {
                "type": "buttons",
                "direction": "left",
                "x": 0,
                "xanchor": "left",
                "y": -0.16,
                "buttons": buttons,
            }
        ],
        "sliders": [
            {
                "x": 0.45,
                "len": 0.55,
                "y": -0.13,
                "currentvalue": {"prefix": "step "},
                "steps": steps,
            }
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
    fig = go.Figure()
    _add_background(fig, half)
    _add_guides(fig, paths, lr)
    animated = []  # index of each path's growing line; its current-point marker follows it
    for update, path in paths.items():
        color = COLORS.get(update, "black")
        faint = {"color": color, "width": 1}
        fig.add_scatter(
            x=path[:, 0], y=path[:, 1], mode="lines", line=faint, opacity=0.45, showlegend=False
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
    fig.update_layout(**_animation_controls(shown))
    fig.update_xaxes(range=[-half, half], title="x (minimises xy)", zeroline=False)
    fig.update_yaxes(range=[-half, half], title="y (maximises xy)", scaleanchor="x", zeroline=False)
    tidy(fig, height=480, legend_width=COLUMN_WIDTH_PX)
    fig.update_layout(margin={"b": 130})  # room for the play button and step slider
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
    fig.update_yaxes(title="distance to (0, 0)", type="log", tickformat="~g")
    return tidy(fig, height=260)


def cycle_table(
    paths: Mapping[str, np.ndarray], lr: float, n_rows: int = 12
) -> list[dict[str, Any]]:
    """The first steps as rows: t, then x and y of each update with the quantity that explains its
    path: the invariant x² + y² + lr·xy of alternating steps, the radius of simultaneous ones."""
    rows = []
    for t in range(min(n_rows, len(next(iter(paths.values()))))):
        row: dict[str, Any] = {"t": t}
        for update, path in paths.items():
            x, y = (float(v) for v in path[t])
            short = update[:3]
            row |= {f"x {short}": x, f"y {short}": y}
            if update == "alternating":
                row["x²+y²+lr·xy"] = alternating_invariant(x, y, lr)
            else:
                row[f"radius {short}"] = float(np.hypot(x, y))
        rows.append(row)
    return rows
