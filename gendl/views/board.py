"""What the Class board shows: the student link and its QR code, the class's runs, their final
scores as one sweep over the class (a scatter of a hyperparameter against the score, the best per
model marked) and a leaderboard per model. Plain data in (runs, metric rows, display names),
figures, table rows and PNG bytes out.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import plotly.graph_objects as go
import segno
from plotly.subplots import make_subplots

from gendl.engine.classroom import owner_label
from gendl.engine.records import Run, model_name
from gendl.engine.sweep import final_test_acc
from gendl.views.style import RUN_COLORS, label, tidy
from gendl.views.training import CURVES, flatten, series

# the final score of a family's runs: how well the generator's digits are recognised, or the
# test accuracy; each its own panel (an inception score of 1 to 10 and an accuracy of 0 to 1)
SCORE_KEYS = {
    "gan": "inception_score",
    "vae": "inception_score",
    "sequence": "test_acc",
    "classifier": "test_acc",
}
PANELS = ("inception_score", "test_acc")
QR_MIN_PX = 640  # twice what a page shows: still sharp when the browser scales it
KEY_SETTINGS = 4  # settings a leaderboard row lists


def student_link(page_url: str | None, base_path: str = "") -> str | None:
    """The link students open: the server's address as this browser reaches it, without the
    page's path or query (nothing the teacher's address bar holds); ``base_path`` is Streamlit's
    ``server.baseUrlPath``. None when the browser's address is unknown."""
    if not page_url:
        return None
    parts = urlsplit(page_url)
    if not parts.scheme or not parts.netloc:
        return None
    base = base_path.strip("/")
    return f"{parts.scheme}://{parts.netloc}/" + (f"{base}/" if base else "")


def qr_png(text: str, min_px: int = QR_MIN_PX) -> bytes:
    """A black-on-white QR code of ``text`` as PNG, at least ``min_px`` wide (whole pixels per
    module, the standard quiet zone of 4 modules)."""
    code = segno.make(text, error="m", micro=False)
    width, _ = code.symbol_size(scale=1, border=4)
    buffer = io.BytesIO()
    code.save(
        buffer, kind="png", scale=math.ceil(min_px / width), border=4, dark="#000", light="#fff"
    )
    return buffer.getvalue()


def plain(text: str) -> str:
    """``text`` for a Plotly label, where tags such as ``<b>`` would be rendered: as typed."""
    return html.escape(text, quote=False)


# ---------------------------------------------------------------- scores of finished runs


def final_inception_score(rows: Sequence[dict[str, Any]]) -> float | None:
    """The last inception score in a generator's metric rows (its final evaluation), if any."""
    for row in reversed(rows):
        if "inception_score" in row:
            return float(row["inception_score"])
    return None


def final_score(family: str, rows: Sequence[dict[str, Any]]) -> float | None:
    """A finished run's score: the inception score for generators, else the test accuracy."""
    if SCORE_KEYS[family] == "inception_score":
        return final_inception_score(rows)
    return final_test_acc(rows)


@dataclass(frozen=True)
class Result:
    """A finished run of the class with a score: who, which model, its settings (dotted keys)."""

    run_id: int
    student: str
    model: str
    family: str
    score: float
    settings: dict[str, Any]

    @property
    def panel(self) -> str:
        return SCORE_KEYS[self.family]


def results(
    runs: Iterable[Run], scores: dict[int, float | None], names: dict[str, str]
) -> list[Result]:
    """The finished runs of ``runs`` that have a score (``scores``: run id -> final score),
    oldest first; ``names`` gives each owner's display name."""
    found = [
        Result(
            run.id,
            owner_label(run.owner, names),
            model_name(run.family, run.config),
            run.family,
            score,
            flatten(run.config),
        )
        for run in runs
        if run.state == "finished" and (score := scores.get(run.id)) is not None
    ]
    return sorted(found, key=lambda r: r.run_id)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def numeric_fields(found: Sequence[Result]) -> list[str]:
    """The numeric settings of the results by name: first those that differ between runs of one
    model (what students chose), then those that differ only from model to model, then the rest."""
    values: dict[str, dict[str, set[float]]] = {}
    for result in found:
        for key, value in result.settings.items():
            if is_number(value):
                values.setdefault(key, {}).setdefault(result.model, set()).add(value)

    def order(key: str) -> tuple[bool, bool, str]:
        per_model = values[key].values()
        return (max(map(len, per_model)) < 2, len(set().union(*per_model)) < 2, key)

    return sorted(values, key=order)


def best_per_model(found: Sequence[Result]) -> dict[str, Result]:
    """The highest score of each model (the earliest run on a tie)."""
    best: dict[str, Result] = {}
    for result in found:
        if result.model not in best or result.score > best[result.model].score:
            best[result.model] = result
    return best


def model_colors(found: Sequence[Result]) -> dict[str, str]:
    return {
        m: RUN_COLORS[k % len(RUN_COLORS)] for k, m in enumerate(sorted({r.model for r in found}))
    }


def sweep_figure(found: Sequence[Result], field: str) -> go.Figure:
    """``field`` against the final score, a point per run coloured by model, each model's best a
    star; a panel per score (inception score, test accuracy). Each point's ``customdata`` is its
    run id, for a click to select."""
    panels = [p for p in PANELS if any(r.panel == p for r in found)] or [PANELS[0]]
    fig = make_subplots(rows=1, cols=len(panels), horizontal_spacing=0.12)
    colors, best = model_colors(found), best_per_model(found)
    star = {"size": 20, "symbol": "star", "line": {"width": 1.5, "color": "#000"}}
    for col, panel in enumerate(panels, start=1):
        shown = [r for r in found if r.panel == panel and is_number(r.settings.get(field))]
        for model in sorted({r.model for r in shown}):
            points = [r for r in shown if r.model == model]
            dots = _points(points, field, model, {"size": 10, "opacity": 0.75})
            stars = _points([r for r in points if best[model] is r], field, model, star)
            stars.showlegend = False  # the caption says what a star is
            for trace in (dots, stars):
                trace.marker.color = colors[model]
                fig.add_trace(trace, row=1, col=col)
        fig.update_xaxes(title_text=field, range=one_value_range(shown, field), row=1, col=col)
        fig.update_yaxes(title_text=label(panel), row=1, col=col)
    return tidy(fig, height=360)


def one_value_range(shown: Sequence[Result], field: str) -> list[float] | None:
    """An x range around the one value every run of a panel has (Plotly would centre such an axis
    on 0 and label it -0.4 to 0.4); None (Plotly's own) when the runs differ."""
    values = {r.settings[field] for r in shown}
    if len(values) != 1:
        return None
    (value,) = values
    half = abs(value) / 2 or 1.0
    return [value - half, value + half]


def _points(group: Sequence[Result], field: str, name: str, marker: dict[str, Any]) -> go.Scatter:
    return go.Scatter(
        x=[r.settings[field] for r in group],
        y=[r.score for r in group],
        mode="markers",
        name=name,
        legendgroup=name,
        marker=marker,
        customdata=[r.run_id for r in group],
        text=[plain(r.student) for r in group],
        hovertemplate=f"%{{text}}<br>{field} = %{{x:.4g}}<br>score %{{y:.3f}}<extra>run %{{customdata}}</extra>",
    )


# ---------------------------------------------------------------- leaderboards


def key_settings(found: Sequence[Result]) -> list[str]:
    """The settings that tell these runs apart (differ between them), by name."""
    keys = sorted({key for r in found for key in r.settings})
    return [k for k in keys if len({repr(r.settings.get(k)) for r in found}) > 1][:KEY_SETTINGS]


def leaderboards(found: Sequence[Result]) -> dict[str, list[dict[str, Any]]]:
    """Per model (by name), its runs best first: rank (ties share one), student, score, run id
    and the settings that differ between the model's runs."""
    boards = {}
    for model in sorted({r.model for r in found}):
        runs = sorted((r for r in found if r.model == model), key=lambda r: (-r.score, r.run_id))
        keys = key_settings(runs)
        rows, rank = [], 0
        for k, result in enumerate(runs):
            if k == 0 or result.score < runs[k - 1].score:
                rank = k + 1
            settings = ", ".join(f"{key}={result.settings.get(key)}" for key in keys)
            rows.append(
                {
                    "rank": rank,
                    "student": result.student,
                    label(result.panel): round(result.score, 4),
                    "run": result.run_id,
                    "settings": settings or "the preset's",
                }
            )
        boards[model] = rows
    return boards


# ---------------------------------------------------------------- active runs


def sparkline_figure(family: str, rows: Sequence[dict[str, Any]], height: int = 110) -> go.Figure:
    """A run's losses (the left axis of its live curves) as a small figure for a grid of runs."""
    fig = go.Figure()
    for key in CURVES[family][0]:
        steps, values = series(rows, key, max_points=300)
        if steps:
            fig.add_trace(
                go.Scatter(x=steps, y=values, name=label(key), mode="lines", line={"width": 1.5})
            )
    fig.update_layout(
        height=height,
        margin={"t": 6, "b": 4, "l": 4, "r": 4},
        showlegend=False,
        font={"size": 11},
        xaxis={"showticklabels": False, "showgrid": False},
        yaxis={"automargin": True, "nticks": 3},
        hovermode="x",
    )
    return fig
