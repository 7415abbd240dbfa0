"""What every figure and table shares: plain names, legends clear of axis titles and toolbar,
sensible ranges for flat or one-point series, distinct run colours, words for the write-ups."""

from __future__ import annotations

import itertools

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from torch.distributions import Bernoulli, ContinuousBernoulli

from gendl.losses import vae_loss
from gendl.shipped.catalogue import CATALOGUE
from gendl.views import cycle
from gendl.views.explore import Frames, LatentMap, latent_map_figure
from gendl.views.overview import shipped_rows
from gendl.views.scores import ScoreHistory, histogram_figure, history_figure
from gendl.views.style import (
    LEGEND_ROW_PX,
    METRIC_LABELS,
    MODEBAR_PX,
    PLOT_CONFIG,
    course_words,
    legend_rows,
    likelihood_text,
    tidy,
)
from gendl.views.sweep import accuracy_figure, grad_norm_heatmap, sweep_curves_figure
from gendl.views.training import CURVES, curves_figure, overlay_figure

ROWS = [
    {
        "step": s,
        **{key: 1.0 / s for keys in CURVES.values() for side in keys for key in side},
        "input_grad_norms": [10.0**-k for k in range(5)],
    }
    for s in range(10, 110, 10)
]


def _latent_map() -> LatentMap:
    axis = np.linspace(-1, 1, 3)
    z1, z2 = np.meshgrid(axis, axis[::-1])
    points = np.stack([z1.ravel(), z2.ravel()], 1)
    frames = Frames(np.zeros(9), points, np.zeros((9, 28, 28)), np.arange(9) % 10, np.ones(9))
    return LatentMap(axis, points, frames)


def every_figure() -> dict[str, go.Figure]:
    paths = cycle.cycle_paths(0.3, 20, ("alternating", "simultaneous"))
    history = ScoreHistory(
        np.array([500, 1000]), np.array([5.0, 7.0]), np.ones(2), np.ones((2, 10))
    )
    results = [
        {"model": m, "length": n, "test_acc_mean": 0.9, "test_acc_std": 0.1}
        for m in ("rnn", "lstm")
        for n in (5, 10)
    ]
    figures = {f"curves {family}": curves_figure(family, ROWS) for family in CURVES}
    runs = {f"run {k} · a long run name here": ROWS for k in range(6)}
    return figures | {
        "overlay": overlay_figure(runs, "loss"),
        "accuracy": accuracy_figure(results),
        "sweep curves": sweep_curves_figure([("rnn L=5", "rnn", 5, ROWS)], "test_acc"),
        "heatmap": grad_norm_heatmap({"rnn": ROWS, "lstm": ROWS[:2]}),
        "histogram": histogram_figure({"VAE (2000 samples)": [200] * 10, "real MNIST": [1] * 10}),
        "history": history_figure(history, 9.7),
        "cycle": cycle.cycle_figure(paths, 0.3),
        "radius": cycle.radius_figure(paths, 0.3),
        "latent map": latent_map_figure(_latent_map(), np.zeros((3, 2)), clicked=(0.5, 0.5)),
    }


@pytest.mark.parametrize("family", CURVES)
def test_curves_use_the_display_names_never_the_stored_keys(family):
    fig = curves_figure(family, ROWS)
    names = [trace.name for trace in fig.data]
    stored = [key for side in CURVES[family] for key in side]
    assert names == [METRIC_LABELS[key] for key in stored]
    titles = f"{fig.layout.yaxis.title.text} {fig.layout.yaxis2.title.text}"
    assert not any(key in titles or key in names for key in stored if "_" in key)


def test_vae_curves_say_reconstruction_and_kl_divergence():
    names = [trace.name for trace in curves_figure("vae", ROWS).data]
    assert names == ["reconstruction", "KL divergence"]


@pytest.mark.parametrize("name", list(every_figure()))
def test_legend_sits_above_the_plot_below_the_toolbar_clear_of_axis_titles(name):
    """Axis titles lie beside or below the plot area; a horizontal legend anchored at its top
    edge (paper y = 1, growing upwards) cannot meet them, and the top margin holds the legend's
    rows under the toolbar's strip."""
    fig = every_figure()[name]
    shown = [t.name for t in fig.data if t.name and t.showlegend is not False]
    legend, margin = fig.layout.legend, fig.layout.margin
    if len(fig.data) < 2:
        return
    assert (legend.orientation, legend.yanchor, legend.xanchor) == ("h", "bottom", "left")
    assert legend.y >= 1.0 and legend.x == 0
    assert margin.t >= MODEBAR_PX + LEGEND_ROW_PX * legend_rows(shown)
    assert not fig.layout.title.text  # the page says what a figure is; nothing else sits on top


def test_legend_rows_grow_with_the_names():
    assert legend_rows(["loss"]) == 1
    assert legend_rows([f"run {k} · a long run name here" for k in range(6)]) >= 2


def test_one_point_history_is_a_point_on_an_axis_from_zero():
    history = ScoreHistory(np.array([1000]), np.array([6.5]), np.array([0.2]), np.ones((1, 10)))
    fig = history_figure(history)
    score = next(t for t in fig.data if t.name == "inception score")
    assert "markers" in score.mode and score.error_y.visible  # a point with its spread
    assert len(fig.data) == 1  # no band of zero width
    low, high = fig.layout.xaxis.range
    assert low == 0 and 1000 < high <= 1200  # the point sits near the right, where training is
    low, high = fig.layout.yaxis.range
    assert low == 0 and 6.7 < high < 10


def test_a_flat_series_gets_a_range_centred_on_it():
    """Plotly's own range around a constant zooms into rounding noise (ticks like -0.004)."""
    fig = tidy(go.Figure(go.Scatter(x=np.array([999]), y=np.array([0.0]))))
    assert fig.layout.xaxis.range[0] < 999 < fig.layout.xaxis.range[1]
    assert fig.layout.xaxis.range[1] - fig.layout.xaxis.range[0] >= 1
    assert fig.layout.yaxis.range == (-0.5, 0.5)


def _rgb(color: str) -> np.ndarray:
    return np.array([int(color[k : k + 2], 16) for k in (1, 3, 5)], dtype=float)


def test_runs_get_distinct_colours():
    fig = overlay_figure({f"run {k}": ROWS for k in range(10)}, "loss")
    colors = [trace.line.color for trace in fig.data]
    assert len(set(colors)) == 10
    closest = min(np.linalg.norm(_rgb(a) - _rgb(b)) for a, b in itertools.combinations(colors, 2))
    assert closest > 70  # not two shades of one blue (RGB distance; 255 = black to red)


def test_png_download_is_projector_sized():
    options = PLOT_CONFIG["toImageButtonOptions"]
    assert (options["format"], options["width"], options["height"]) == ("png", 1920, 1080)
    assert PLOT_CONFIG["displaylogo"] is False


def test_likelihood_text_says_what_the_loss_computes():
    """Compared with torch.distributions: a continuous Bernoulli with log C weighted 0 is the
    Bernoulli negative log-likelihood, and only then does the text say Bernoulli."""
    torch.manual_seed(0)
    x, logits = torch.rand(4, 784), torch.randn(4, 784)
    mu, logvar = torch.zeros(4, 2), torch.zeros(4, 2)
    bernoulli = -Bernoulli(logits=logits, validate_args=False).log_prob(x).sum(-1).mean()
    continuous = -ContinuousBernoulli(logits=logits, validate_args=False).log_prob(x).sum(-1).mean()
    for coef in (0.0, 1.0):
        config = {"likelihood": "continuous_bernoulli", "log_norm_coef": coef}
        recon = vae_loss(x, logits, mu, logvar, "continuous_bernoulli", coef)["recon"]
        says = likelihood_text(config)
        reference = bernoulli if says.startswith("Bernoulli") else continuous
        torch.testing.assert_close(recon, reference, rtol=1e-4, atol=1e-3)
    assert likelihood_text({"likelihood": "continuous_bernoulli", "log_norm_coef": 0.0}).startswith(
        "Bernoulli"
    )


def test_tables_speak_of_the_course_in_words():
    assert course_words("MLP GAN (seed 000 networks)") == "MLP GAN (course assignment 3 networks)"
    assert "seed" not in course_words("seeds 000, 003")
    assert not any("seed" in key for row in CATALOGUE for key in row)
    entry = {
        "name": "VAE (seed 003, latent 20)",
        "kind": "vae",
        "train_config": {"likelihood": "continuous_bernoulli", "log_norm_coef": 0.0},
    }
    (row,) = shipped_rows([entry])
    assert row["name"] == "VAE (the course's VAE/GAN notebook, latent 20); Bernoulli likelihood"
