"""Files a teacher takes to slides: animated GIFs of a latent walk or of a run's sample grids over
training, and result tables as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from gendl.errors import ConfigError

GIF_FRAME_MS = 250  # four frames a second: each digit stays long enough to read
GIF_HOLD_MS = 1500  # the last frame stays, so the loop's end is visible
GIF_MIN_SIDE = 280  # MNIST digits are scaled up by whole pixels to at least this size


def animated_gif(
    frames: Sequence[np.ndarray | Image.Image],
    captions: Sequence[str] | None = None,
    frame_ms: int = GIF_FRAME_MS,
) -> bytes:
    """An endlessly looping GIF of ``frames`` (arrays (H, W) in [0, 1] or PIL images), each scaled
    by whole pixels to at least GIF_MIN_SIDE and, given ``captions``, with its caption below."""
    if len(frames) == 0:
        raise ConfigError("an animated GIF needs at least one frame, got 0")
    if captions is not None and len(captions) != len(frames):
        raise ConfigError(f"captions: {len(captions)} for {len(frames)} frames; give one each")
    images = [_upscaled(_as_image(frame)) for frame in frames]
    if captions is not None:
        images = [_captioned(image, text) for image, text in zip(images, captions, strict=True)]
    durations = [frame_ms] * (len(images) - 1) + [GIF_HOLD_MS]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=durations,
        loop=0,
        disposal=1,
        optimize=False,
    )
    return buffer.getvalue()


def _as_image(frame: np.ndarray | Image.Image) -> Image.Image:
    if isinstance(frame, Image.Image):
        return frame.convert("L")
    pixels = np.rint(np.clip(np.asarray(frame, dtype=float), 0, 1) * 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="L")


def _upscaled(image: Image.Image) -> Image.Image:
    factor = max(1, -(-GIF_MIN_SIDE // max(image.size)))  # ceil: small digits become big blocks
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


def _captioned(image: Image.Image, text: str) -> Image.Image:
    framed = Image.new("L", (image.width, image.height + 24), 255)
    framed.paste(image, (0, 0))
    ImageDraw.Draw(framed).text((6, image.height + 6), text, fill=0)
    return framed


def sample_grid_gif(grids: Iterable[tuple[int, str | Path]]) -> bytes:
    """A run's sample grids ``(step, png path)`` over training as one GIF, each frame captioned
    with its step; missing files are skipped (a run deleted while the GIF is built)."""
    frames, captions = [], []
    for step, path in grids:
        if Path(path).is_file():
            with Image.open(path) as image:
                frames.append(image.convert("L"))
            captions.append(f"step {step:,}")
    return animated_gif(frames, captions)


def table_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows of one table as CSV text: a header of every column in first-seen order, then a line
    per row (an empty cell where a row lacks a column)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
