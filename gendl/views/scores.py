"""What the Class histogram and scores page shows: which digits a generator draws and how clearly
(inception score), for fresh samples, for real MNIST, and over a run's training time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch
from torch import nn

from gendl.data import load_images
from gendl.metrics import class_histogram, classifier_probs, inception_score, score_generator
from gendl.views.style import label, tidy


def sample_scores(
    model: nn.Module, classifier: nn.Module, n: int, seed: int = 0
) -> dict[str, float | list[int]]:
    """Inception score, its std over 10 splits and the class histogram of ``n`` seeded samples."""
    return score_generator(model, classifier, n, generator=torch.Generator().manual_seed(seed))


def real_mnist_scores(classifier: nn.Module) -> dict[str, float | list[int]]:
    """The same scores for the 10,000 real MNIST test digits: what a perfect generator would get."""
    probs = classifier_probs(classifier, load_images("mnist", train=False).images)  # (10000, 10)
    mean, std = inception_score(probs)
    return {
        "inception_score": mean,
        "inception_std": std,
        "histogram": class_histogram(probs).tolist(),
    }


def histogram_figure(histograms: Mapping[str, Sequence[int]]) -> go.Figure:
    """Share of each predicted digit per named source, against the uniform 1/10 of real MNIST."""
    fig = go.Figure()
    for name, counts in histograms.items():
        share = np.asarray(counts, dtype=float) / max(1, sum(counts))
        fig.add_bar(x=list(range(10)), y=share, name=name, hovertemplate="%{y:.1%}")
    fig.add_hline(y=0.1, line_dash="dash", annotation_text="uniform", line_color="gray")
    fig.update_xaxes(title="digit the classifier reads", dtick=1)
    fig.update_yaxes(title="share of samples", tickformat=".0%", rangemode="tozero")
    fig.update_layout(barmode="group")
    return tidy(fig, height=320)


@dataclass(frozen=True)
class ScoreHistory:
    """The scores a run logged at its evaluation steps."""

    steps: np.ndarray  # (k,)
    inception_score: np.ndarray  # (k,)
    inception_std: np.ndarray  # (k,)
    histograms: np.ndarray  # (k, 10) counts; rows of zeros where a step logged none


def score_history(rows: Sequence[Mapping[str, Any]]) -> ScoreHistory:
    """Pick the evaluation rows (those with ``inception_score``) out of a run's metric rows."""
    rows = [row for row in rows if isinstance(row.get("inception_score"), (int, float))]
    hist = [row.get("class_histogram") for row in rows]
    return ScoreHistory(
        np.array([row["step"] for row in rows], dtype=int),
        np.array([row["inception_score"] for row in rows], dtype=float),
        np.array([row.get("inception_std", 0.0) for row in rows], dtype=float),
        np.array([h if isinstance(h, list) and len(h) == 10 else [0] * 10 for h in hist], float),
    )


def history_figure(history: ScoreHistory, reference: float | None = None) -> go.Figure:
    """Inception score over training steps with a +-std band, and real MNIST's as a line. The
    step axis starts at 0, so a single evaluation shows as a point where training stands."""
    upper = history.inception_score + history.inception_std
    lower = history.inception_score - history.inception_std
    fig = go.Figure()
    one_point = len(history.steps) == 1  # drawn as a point with an error bar, not a band
    if not one_point:
        fig.add_scatter(
            x=np.concatenate([history.steps, history.steps[::-1]]),
            y=np.concatenate([upper, lower[::-1]]),
            fill="toself",
            mode="lines",
            name="± one standard deviation",
            line={"width": 0},
            fillcolor="rgba(31,119,180,0.2)",
            hoverinfo="skip",
        )
    fig.add_scatter(
        x=history.steps,
        y=history.inception_score,
        mode="lines+markers",
        name=label("inception_score"),
        line={"color": "#1f77b4"},
        marker={"size": 10 if one_point else 6},
        error_y={"array": history.inception_std, "visible": one_point},
    )
    if reference is not None:
        fig.add_hline(
            y=reference, line_dash="dash", annotation_text="real MNIST", line_color="gray"
        )
    last = int(history.steps.max()) if len(history.steps) else 1
    fig.update_xaxes(title=label("step"), range=[0, 1.05 * max(last, 1)])
    top = max([*(upper if len(upper) else [0.0]), reference or 0.0, 1.0])
    fig.update_yaxes(title=label("inception_score"), range=[0, 1.1 * top])
    return tidy(fig, height=280)


def histogram_heatmap(history: ScoreHistory) -> go.Figure:
    """Share of each predicted digit (rows) at every evaluation step (columns): a generator that
    collapses onto a few modes shows up as bright rows among dark ones."""
    totals = history.histograms.sum(1, keepdims=True)
    share = np.divide(
        history.histograms, totals, out=np.zeros_like(history.histograms), where=totals > 0
    )
    fig = go.Figure(
        go.Heatmap(
            x=[str(s) for s in history.steps],
            y=list(range(10)),
            z=share.T,
            zmin=0,
            zmax=max(0.2, float(share.max(initial=0.0))),  # twice uniform at least
            colorscale="Viridis",
            colorbar={"title": "share", "tickformat": ".0%"},
            hovertemplate="step %{x}, digit %{y}: %{z:.1%}<extra></extra>",
        )
    )
    fig.update_xaxes(title=label("step"), type="category")
    fig.update_yaxes(title="digit the classifier reads", dtick=1)
    return tidy(fig, height=280)
