"""The model catalogue shown in the README and on the Overview page, and the shipped checkpoints."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

CHECKPOINT_DIR = Path(__file__).resolve().parents[2] / "checkpoints"
CHECKPOINT_DIR_ENV = "GENDL_CHECKPOINT_DIR"

CATALOGUE: list[dict[str, str]] = [
    {
        "model": "Vanilla RNN",
        "idea": "one tanh state; gradients vanish over time",
        "from the course": "assignment 3, part I",
    },
    {
        "model": "LSTM",
        "idea": "gated cell state carries digits across time",
        "from the course": "assignment 3, part I",
    },
    {
        "model": "MLP GAN",
        "idea": "generator vs discriminator, binary cross-entropy loss",
        "from the course": "assignment 3, part II; VAE/GAN notebook",
    },
    {
        "model": "LSGAN",
        "idea": "least-squares loss, steadier gradients",
        "from the course": "VAE/GAN notebook",
    },
    {
        "model": "DCGAN",
        "idea": "convolutions see strokes and edges",
        "from the course": "VAE/GAN notebook; assignment 3, part II",
    },
    {
        "model": "VAE",
        "idea": "encoder/decoder, Bernoulli likelihood, closed-form KL",
        "from the course": "VAE/GAN notebook, part I",
    },
    {
        "model": "MNIST classifier",
        "idea": "judges samples: inception score",
        "from the course": "VAE/GAN notebook, part II",
    },
]


def checkpoint_dir() -> Path:
    """``$GENDL_CHECKPOINT_DIR`` (read at call time), else ``checkpoints/``."""
    return Path(os.environ.get(CHECKPOINT_DIR_ENV) or CHECKPOINT_DIR)


def shipped_checkpoints(directory: Path = CHECKPOINT_DIR) -> list[dict[str, Any]]:
    """Entries of ``checkpoints/manifest.json`` (file, kind, scores), or none if it is absent."""
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        return []
    try:
        entries = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
