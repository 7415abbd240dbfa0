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
