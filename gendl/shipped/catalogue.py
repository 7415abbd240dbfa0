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
        "from the course": "assignment 3, part I: the baseline on palindromes",
        "idea": "one tanh state; gradients vanish over time",
    },
    {
        "model": "LSTM",
        "from the course": "assignment 3, part I: an LSTM written by hand",
        "idea": "gated cell state carries digits across time",
    },
    {
        "model": "MLP GAN",
        "from the course": "assignment 3, part II, and the VAE and GAN notebook",
        "idea": "generator vs discriminator, binary cross-entropy loss",
    },
    {
        "model": "LSGAN",
        "from the course": "the VAE and GAN notebook",
        "idea": "least-squares loss, steadier gradients",
    },
    {
        "model": "DCGAN",
        "from the course": "the VAE and GAN notebook; assignment 3, part II",
        "idea": "convolutions see strokes and edges",
    },
    {
        "model": "VAE",
        "from the course": "the VAE and GAN notebook, part I",
        "idea": "encoder/decoder, Bernoulli likelihood (binary cross-entropy), closed-form KL",
    },
    {
        "model": "MNIST classifier",
        "from the course": "the VAE and GAN notebook, part II",
        "idea": "judges samples: inception score",
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
