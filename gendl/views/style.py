"""How every figure and table of the dashboard speaks and looks: plain display names for the stored
metric keys, the course's write-ups in words, run colours, and one layout for legends and ticks
that stays readable in a 1024 x 768 window and on a projector."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import plotly.graph_objects as go

from gendl.train.vae import VAETrainConfig

# Stored metric keys (what the trainers log, kept in the run store) -> what a figure or table says.
METRIC_LABELS = {
    "loss": "loss",
    "train_acc": "training accuracy",
    "test_acc": "test accuracy",
    "grad_norm": "gradient norm",
    "d_loss": "discriminator loss",
    "g_loss": "generator loss",
    "d_real_score": "discriminator on real digits",
    "d_fake_score": "discriminator on generated digits",
    "d_grad_norm": "discriminator gradient norm",
    "g_grad_norm": "generator gradient norm",
    "recon_loss": "reconstruction",
    "kl_loss": "KL divergence",
    "inception_score": "inception score",
    "inception_std": "inception score spread",
    "elapsed_s": "seconds",
    "step": "training step",
}

# What each course write-up under the project's seeds did, for text that cites one.
COURSE_WORDS = {
    "000": "course assignment 3",  # one student's report: RNN, LSTM, GAN
    "001": "course assignment 3",
    "002": "course assignment 3",
    "003": "the course's VAE/GAN notebook",  # VAE, inception score, GAN losses, DCGAN
    "004": "course assignment 3",
}
_SEED = re.compile(r"\bseeds? (\d{3})((?:\s*(?:,|and|/)\s*\d{3})*)")

# Twelve well separated colours (D3's category10 without its grey, then black, navy, pink).
RUN_COLORS = (
    "#1f77b4 #d62728 #2ca02c #ff7f0e #9467bd #17becf "
    "#8c564b #e377c2 #bcbd22 #000000 #000080 #ff1493".split()
)

# Plotly's toolbar: "download as PNG" at projector resolution; only the buttons a teacher uses.
PLOT_CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "toImageButtonOptions": {"format": "png", "width": 1920, "height": 1080, "scale": 1},
    "modeBarButtonsToRemove": [
        "lasso2d",
        "select2d",
        "autoScale2d",
        "toggleSpikelines",
        "hoverClosestCartesian",
        "hoverCompareCartesian",
        "zoomIn2d",
        "zoomOut2d",
    ],
}
MODEBAR_PX = 34  # the toolbar's strip at the top of a figure; legends sit below it
LEGEND_ROW_PX = 22
LEGEND_WIDTH_PX = 620  # a full-width figure's legend in a 1024 x 768 window, sidebar open
COLUMN_WIDTH_PX = 380  # the legend of a figure in a column of the page (GAN cycle, latent map)


def label(key: str) -> str:
    """The display name of a stored metric key (the key itself when there is none)."""
    return METRIC_LABELS.get(key, key.replace("_", " "))


def course_words(text: str) -> str:
    """``"VAE (seed 003, latent 20)"`` -> ``"VAE (the course's VAE/GAN notebook, latent 20)"``."""

    def words(match: re.Match[str]) -> str:
        seeds = [match.group(1), *re.findall(r"\d{3}", match.group(2))]
        return " and ".join(dict.fromkeys(COURSE_WORDS.get(s, f"write-up {s}") for s in seeds))

    return _SEED.sub(words, text)


def likelihood_text(train_config: dict[str, Any]) -> str:
    """What a VAE's reconstruction term trains with: the continuous Bernoulli needs a non-zero
    weight on its log C term, otherwise the loss is the plain Bernoulli one."""
    default = VAETrainConfig()
    chosen = train_config.get("likelihood", default.likelihood)
    weight = train_config.get("log_norm_coef", default.log_norm_coef)
    if chosen == "continuous_bernoulli" and weight != 0:
        return f"continuous Bernoulli (log C weight {weight:g})"
    return "Bernoulli (binary cross-entropy)"


def legend_rows(names: list[str], width_px: int = LEGEND_WIDTH_PX) -> int:
    """How many rows a horizontal legend of ``names`` takes at ``width_px`` (about 7 px a letter)."""
    rows, used = 1, 0
    for name in names:
        entry = 45 + 7 * len(name)
        if used and used + entry > width_px:
            rows, used = rows + 1, 0
        used += entry
    return rows


def tidy(
    fig: go.Figure, height: int | None = None, legend_width: int = LEGEND_WIDTH_PX
) -> go.Figure:
    """The dashboard's layout: a horizontal legend above the plot area and below the toolbar
    (never over an axis title), margins that fit the tick labels, and flat series centred in
    their range so the ticks stay round numbers."""
    shown = [t.name for t in fig.data if t.name and t.showlegend is not False]
    if len(fig.data) == 1 and fig.layout.showlegend is None:
        shown = []  # Plotly draws no legend for a lone trace
    top = MODEBAR_PX + (LEGEND_ROW_PX * legend_rows(shown, legend_width) + 8 if shown else 0)
    if any(note.yref == "paper" and (note.y or 0) >= 1 for note in fig.layout.annotations):
        top += LEGEND_ROW_PX  # subplot titles sit above the plot area too
    fig.update_layout(
        legend={
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": 1.0,
            "yanchor": "bottom",
        },
        margin={"t": top, "b": 10, "l": 10, "r": 10},
        font={"size": 13},
    )
    if height is not None:
        fig.update_layout(height=height + top)
    fig.update_xaxes(automargin=True, title_standoff=8)
    fig.update_yaxes(automargin=True, title_standoff=8)
    _steady_flat_axes(fig)
    return fig


def _steady_flat_axes(fig: go.Figure) -> None:
    """A series that never changes (or one point) gets a range centred on it, where Plotly's
    automatic one would zoom into float noise and label ticks like 999.9995 or -0.004."""
    values: dict[tuple[str, str], list[float]] = {}
    for trace in fig.data:
        if trace.type not in ("scatter", "bar"):
            continue
        for letter in ("x", "y"):
            axis = getattr(trace, f"{letter}axis", None) or letter
            data = getattr(trace, letter, None)
            data = () if data is None else data
            numbers = [float(v) for v in data if isinstance(v, (int, float, np.number))]
            values.setdefault((letter, axis), []).extend(numbers)
    for (letter, axis), numbers in values.items():
        if numbers and max(numbers) - min(numbers) <= 1e-9 * max(1.0, abs(max(numbers))):
            name = f"{letter}axis{axis[1:]}"
            if fig.layout[name].range is None and fig.layout[name].type in (None, "-", "linear"):
                fig.layout[name].range = nice_range(numbers)


def nice_range(values: list[float], pad: float = 0.5) -> list[float]:
    """An axis range around ``values`` that shows a single value as a point in the middle."""
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        span = max(abs(lo) * 0.1, pad)
        return [lo - span, hi + span]
    margin = 0.05 * (hi - lo)
    return [lo - margin, hi + margin]
