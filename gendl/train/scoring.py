"""Periodic evaluation shared by the generative families: a sample grid from fixed noise, and the
inception score and class histogram judged by the shipped MNIST classifier."""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn

from gendl.checkpoints import load_model
from gendl.metrics import score_generator
from gendl.shipped.catalogue import CHECKPOINT_DIR
from gendl.train.common import Metrics

SCORER_PATH = CHECKPOINT_DIR / "classifier.pt"


@lru_cache(maxsize=4)
def shipped_classifier(device: torch.device | str = "cpu") -> nn.Module | None:
    """The classifier every score is computed with, on ``device`` (the generator's, so samples
    never leave it), or None before one has been trained."""
    if not SCORER_PATH.is_file():
        return None
    return load_model(SCORER_PATH, kind="classifier").to(device)


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
