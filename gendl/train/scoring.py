"""Periodic evaluation shared by the generative families: a sample grid from fixed noise, and the
inception score and class histogram judged by the shipped MNIST classifier."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from gendl.checkpoints import load_model
from gendl.metrics import score_generator
from gendl.shipped.catalogue import classifier_path
from gendl.train.common import Metrics


def shipped_classifier(device: torch.device | str = "cpu") -> nn.Module | None:
    """The classifier every score is computed with (``classifier.pt`` in the checkpoint directory,
    which follows ``$GENDL_CHECKPOINT_DIR``), on ``device`` (the generator's, so samples never
    leave it), or None before one has been trained."""
    path = classifier_path()
    if not path.is_file():
        return None
    stat = path.stat()
    return _load_classifier(path, stat.st_mtime_ns, stat.st_size, str(device))


@lru_cache(maxsize=4)
def _load_classifier(path: Path, mtime_ns: int, size: int, device: str) -> nn.Module:
    """One load per file version and device: a retrained classifier is picked up, an unchanged
    one reused."""
    return load_model(path, kind="classifier").to(device)


def evaluate_generator(
    model: nn.Module, fixed_noise: torch.Tensor, n_samples: int, generator: torch.Generator
) -> Metrics:
    """``sample_grid`` (n, 1, 28, 28) decoded from fixed noise, plus IS and histogram if scorable."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        metrics: Metrics = {"sample_grid": model.decode(fixed_noise).clamp(0, 1)}
    classifier = shipped_classifier(fixed_noise.device)
    if classifier is not None and n_samples > 0:
        scores = score_generator(model, classifier, n_samples, generator=generator)
        metrics.update(
            inception_score=scores["inception_score"],
            inception_std=scores["inception_std"],
            class_histogram=list(scores["histogram"]),
        )
    model.train(was_training)
    return metrics
