"""What the Latent explorer shows: decoded latent paths with the classifier's reading of each
frame, and the 2-D latent map of a VAE. Models in, arrays, PNGs and Plotly figures out.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image
from torch import nn

from gendl.config import check_choice, check_int
from gendl.errors import ConfigError
from gendl.latent import (
    endpoints_for_classes,
    endpoints_from_seeds,
    endpoints_zeros_to_ones,
    interpolate,
)
from gendl.metrics import classifier_probs
from gendl.views.style import COLUMN_WIDTH_PX, LEGEND_WIDTH_PX, tidy

ENDPOINT_MODES = ("seeds", "zeros to ones", "digits")
DIGIT_SEARCH_TRIES = 2000  # a trained generator draws each digit ~200 times in 2000 samples
SLIDER_POSITIONS = 101  # the big digit's slider moves in steps of 0.01 along the path
DIGIT_SCALE = 10  # the big digit is 280 x 280 pixels, each model pixel a 10 x 10 block
GRAY = [[0.0, "black"], [1.0, "white"]]  # MNIST: white strokes on black
CLASS_COLORS = (
    "#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf".split()
)


@dataclass(frozen=True)
class Frames:
    """Decoded points of a latent path, with the classifier's reading when there is a classifier."""

    alphas: np.ndarray  # (n,) position along the path, 0 at z0 and 1 at z1
    latents: np.ndarray  # (n, latent_dim)
    images: np.ndarray  # (n, 28, 28) float32 in [0, 1]
    predicted: np.ndarray | None = None  # (n,) digit
    confidence: np.ndarray | None = None  # (n,) probability of that digit

    def caption(self, index: int) -> str:
        if self.predicted is None or self.confidence is None:
            return "no classifier to read it"
        return f"reads as {self.predicted[index]} ({self.confidence[index]:.0%})"


def path_endpoints(
    model: nn.Module,
    mode: str,
    *,
    seeds: tuple[int, int] = (0, 1),
    digits: tuple[int, int] = (0, 1),
    search_seed: int = 0,
    min_confidence: float = 0.9,
    classifier: nn.Module | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two latents (d,): from two noise ``seeds``, zeros -> ones, or two ``digits`` the classifier
    recognises (LatentSearchError when the model does not draw one of them)."""
    check_choice("endpoints", mode, ENDPOINT_MODES)
    if mode == "seeds":
        return endpoints_from_seeds(model, *seeds)
    if mode == "zeros to ones":
        return endpoints_zeros_to_ones(model.latent_dim)
    if classifier is None:
        raise ConfigError("endpoints by digit need the classifier checkpoints/classifier.pt")
    return endpoints_for_classes(
        model,
        classifier,
        *digits,
        seed=search_seed,
        min_confidence=min_confidence,
        max_tries=DIGIT_SEARCH_TRIES,
    )


@torch.no_grad()
def decode_frames(
    model: nn.Module,
    latents: torch.Tensor,
    classifier: nn.Module | None = None,
    alphas: np.ndarray | None = None,
) -> Frames:
    """Decode latents (n, d) and let ``classifier`` read every image."""
    images = model.decode(latents.float()).clamp(0, 1)  # (n, 1, 28, 28)
    predicted = confidence = None
    if classifier is not None:
        confidence_t, predicted_t = classifier_probs(classifier, images).max(1)
        predicted, confidence = predicted_t.numpy(), confidence_t.numpy()
    if alphas is None:
        alphas = np.zeros(latents.shape[0])
    return Frames(alphas, latents.numpy(), images[:, 0].numpy(), predicted, confidence)


def decode_point(model: nn.Module, z: Sequence[float], classifier: nn.Module | None) -> Frames:
    """One latent point, e.g. a click on the latent map, decoded and read."""
    return decode_frames(model, torch.tensor([list(z)], dtype=torch.float32), classifier)


def path_frames(
    model: nn.Module,
    z0: torch.Tensor,
    z1: torch.Tensor,
    n_frames: int,
    method: str = "lerp",
    classifier: nn.Module | None = None,
) -> Frames:
    """``n_frames`` evenly spaced frames from z0 to z1 by ``method`` (lerp or slerp)."""
    path = interpolate(z0, z1, n_frames, method)  # (n_frames, d)
    return decode_frames(model, path, classifier, np.linspace(0.0, 1.0, n_frames))


def digit_png(image: np.ndarray, scale: int = DIGIT_SCALE) -> bytes:
    """One (28, 28) image in [0, 1] as a PNG, each pixel a ``scale`` x ``scale`` block (crisp when
    shown large, where a browser would blur a small image)."""
    pixels = np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)
    pixels = pixels.repeat(scale, 0).repeat(scale, 1)  # (28, 28) -> (28 s, 28 s)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class Walk:
    """Everything the explorer shows of one path: the slider's frames (also as PNGs, ready to send)
    and the strip's frames."""

    slider: Frames  # SLIDER_POSITIONS frames
    pngs: list[bytes]
    strip: Frames


def latent_walk(
    model: nn.Module,
    classifier: nn.Module | None,
    *,
    mode: str,
    method: str,
    n_frames: int,
    seeds: tuple[int, int] = (0, 1),
    digits: tuple[int, int] = (0, 1),
    search_seed: int = 0,
    min_confidence: float = 0.9,
) -> Walk:
    """Pick the endpoints by ``mode`` and decode the path between them twice: finely for the
    slider and in ``n_frames`` steps for the strip."""
    z0, z1 = path_endpoints(
        model,
        mode,
        seeds=seeds,
        digits=digits,
        search_seed=search_seed,
        min_confidence=min_confidence,
        classifier=classifier,
    )
    slider = path_frames(model, z0, z1, SLIDER_POSITIONS, method, classifier)
    strip = path_frames(model, z0, z1, n_frames, method, classifier)
    return Walk(slider, [digit_png(image) for image in slider.images], strip)


def strip_figure(frames: Frames, gap: int = 3) -> go.Figure:
    """The frames side by side, each labelled with the digit the classifier reads and how sure it is."""
    n = len(frames.images)
    padded = np.pad(frames.images, ((0, 0), (0, 0), (0, gap)), constant_values=np.nan)
    row = padded.transpose(1, 0, 2).reshape(28, n * (28 + gap))  # (n, 28, 28 + gap) -> (28, ...)
    centers = [i * (28 + gap) + 13.5 for i in range(n)]
    if frames.predicted is not None and frames.confidence is not None:
        pairs = zip(frames.predicted, frames.confidence, strict=True)
        labels = [f"<b>{digit}</b><br>{conf:.0%}" for digit, conf in pairs]
    else:
        labels = [f"{a:.2f}" for a in frames.alphas]
    fig = go.Figure(go.Heatmap(z=row, colorscale=GRAY, zmin=0, zmax=1, showscale=False))
    fig.update_traces(hovertemplate="pixel %{z:.2f}<extra></extra>")
    fig.update_xaxes(tickvals=centers, ticktext=labels, showgrid=False, zeroline=False)
    fig.update_yaxes(autorange="reversed", visible=False, scaleanchor="x", constrain="domain")
    return tidy(fig, height=LEGEND_WIDTH_PX * 28 // (n * (28 + gap)) + 50)  # the strip's aspect


@dataclass(frozen=True)
class LatentMap:
    """A square grid over a 2-D latent space, decoded and read by the classifier."""

    axis: np.ndarray  # (k,) grid coordinates, shared by both latent dimensions
    points: np.ndarray  # (k * k, 2), row by row from the top (largest z2) down
    frames: Frames


def latent_map(
    model: nn.Module, classifier: nn.Module | None, extent: float = 3.0, per_side: int = 21
) -> LatentMap:
    """Decode a ``per_side`` x ``per_side`` grid over [-extent, extent]^2 (the prior's bulk)."""
    if model.latent_dim != 2:
        raise ConfigError(f"a latent map needs a 2-D latent space, got {model.latent_dim}-D")
    check_int("per_side", per_side, 2, 64)
    axis = np.linspace(-extent, extent, per_side)
    z1, z2 = np.meshgrid(axis, axis[::-1])  # (k, k) each; first row is the top of the map
    points = np.stack([z1.ravel(), z2.ravel()], 1)  # (k * k, 2)
    return LatentMap(axis, points, decode_frames(model, torch.from_numpy(points), classifier))


def _mosaic_uri(latent: LatentMap) -> str:
    """All decoded grid images tiled into one PNG data URI, laid under the map's points."""
    k = len(latent.axis)
    tiles = latent.frames.images.reshape(k, k, 28, 28).transpose(0, 2, 1, 3)  # (k, 28, k, 28)
    png = digit_png(tiles.reshape(k * 28, k * 28), scale=1)
    return "data:image/png;base64," + base64.b64encode(png).decode()


def latent_map_figure(
    latent: LatentMap, path: np.ndarray | None = None, clicked: Sequence[float] | None = None
) -> go.Figure:
    """Decoded digits under their latent points, points colored by the class the classifier reads;
    ``path`` (n, 2) draws the current interpolation on top, ``clicked`` (z1, z2) the point last
    decoded. Clicking a point selects it."""
    frames, half = latent.frames, (latent.axis[1] - latent.axis[0]) / 2
    lo, hi = latent.axis[0] - half, latent.axis[-1] + half
    fig = go.Figure()
    classes = frames.predicted if frames.predicted is not None else np.zeros(len(latent.points))
    # a frame per grid cell, sized for a map about 300 px wide (a column of a 1024 px window)
    frame = {"symbol": "square-open", "size": 300 // len(latent.axis), "line": {"width": 1.5}}
    for digit in np.unique(classes):
        mask = classes == digit
        name = f"reads as {digit}" if frames.predicted is not None else "grid point"
        fig.add_scatter(
            x=latent.points[mask, 0],
            y=latent.points[mask, 1],
            mode="markers",
            name=name,
            marker=frame | {"color": CLASS_COLORS[int(digit)]},
            hovertemplate="z = (%{x:.2f}, %{y:.2f})<extra>" + name + "</extra>",
        )
    if path is not None:
        fig.add_scatter(
            x=path[:, 0], y=path[:, 1], mode="lines", name="path", line={"color": "white"}
        )
    if clicked is not None:
        star = {
            "symbol": "star",
            "size": 18,
            "color": "yellow",
            "line": {"color": "black", "width": 1},
        }
        fig.add_scatter(x=[clicked[0]], y=[clicked[1]], mode="markers", name="decoded", marker=star)
    source = _mosaic_uri(latent)
    image = {"source": source, "xref": "x", "yref": "y", "x": lo, "y": hi, "layer": "below"}
    fig.add_layout_image(image | {"sizex": hi - lo, "sizey": hi - lo, "sizing": "stretch"})
    square = {"range": [lo, hi], "showgrid": False, "zeroline": False, "constrain": "domain"}
    fig.update_xaxes(title="z1", **square)
    fig.update_yaxes(title="z2", scaleanchor="x", **square)
    fig.update_layout(clickmode="event+select")
    return tidy(fig, height=440, legend_width=COLUMN_WIDTH_PX)
