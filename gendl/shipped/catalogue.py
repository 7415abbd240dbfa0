"""The model catalogue shown in the README and on the Overview page, and the shipped checkpoints."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gendl.errors import GendlError

CHECKPOINT_DIR = Path(__file__).resolve().parents[2] / "checkpoints"
CHECKPOINT_DIR_ENV = "GENDL_CHECKPOINT_DIR"
MANIFEST_NAME = "manifest.json"
CLASSIFIER_NAME = "classifier.pt"  # the shipped classifier every inception score is judged by

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


def classifier_path() -> Path:
    """The scoring classifier in the checkpoint directory (which follows the environment)."""
    return checkpoint_dir() / CLASSIFIER_NAME


def read_manifest(directory: Path | None = None) -> list[dict[str, Any]]:
    """The entries (objects) of ``directory/manifest.json`` (default: the checkpoint directory), an
    empty list if there is no such file; an unreadable file or one that is not a JSON list raises
    GendlError naming it. Entries that are not objects are skipped."""
    path = (directory or checkpoint_dir()) / MANIFEST_NAME
    if not path.is_file():
        return []
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GendlError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(entries, list):
        raise GendlError(f"{path}: expected a JSON list of entries")
    return [entry for entry in entries if isinstance(entry, dict)]


def shipped_checkpoints(directory: Path | None = None) -> list[dict[str, Any]]:
    """What the dashboard lists: the manifest's entries, or none when it is absent or damaged
    (the checkpoint files themselves are still found by scanning the directory)."""
    try:
        return read_manifest(directory)
    except GendlError:
        return []
