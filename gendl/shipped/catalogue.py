"""The model catalogue shown in the README and on the Overview page, and the shipped checkpoints."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

CHECKPOINT_DIR = Path(__file__).resolve().parents[2] / "checkpoints"
CHECKPOINT_DIR_ENV = "GENDL_CHECKPOINT_DIR"

CATALOGUE: list[dict[str, str]] = [
    {"model": "Vanilla RNN", "seed": "000", "idea": "one tanh state; gradients vanish over time"},
    {"model": "LSTM", "seed": "000", "idea": "gated cell state carries digits across time"},
    {"model": "MLP GAN", "seed": "000, 003", "idea": "generator vs discriminator, BCE loss"},
    {"model": "LSGAN", "seed": "003", "idea": "least-squares loss, steadier gradients"},
    {"model": "DCGAN", "seed": "003, 004", "idea": "convolutions see strokes and edges"},
    {"model": "VAE", "seed": "003", "idea": "encoder/decoder, continuous-Bernoulli likelihood"},
    {"model": "MNIST classifier", "seed": "003", "idea": "judges samples: inception score"},
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
