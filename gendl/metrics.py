"""Scores for generated digits, judged by an MNIST classifier: inception score and class histogram.

Inception score (Salimans et al. 2016; Barratt and Sharma 2018, eq. 1; seed 003):

    IS = exp( mean_x KL( p(y|x) || p(y) ) ),   p(y) = mean_x p(y|x)

It is 1 when every image gets the same prediction (or every prediction is uniform) and reaches the
number of classes when predictions are confident and the classes balanced. As in the original code,
the samples are cut into ``n_splits`` parts and the mean and standard deviation over parts reported.
"""

from __future__ import annotations

import torch
from torch import nn

from gendl.config import check_float, check_int
from gendl.errors import ConfigError

SPLIT_SIZE = 1000  # samples per split of the standard inception score (10 x 1,000)


def inception_score(
    probs: torch.Tensor, n_splits: int = 10, eps: float = 1e-12
) -> tuple[float, float]:
    """Mean and (population) standard deviation of the IS over ``n_splits`` contiguous parts of
    ``probs`` (N, C). ``eps`` inside the logs makes zero probabilities contribute 0, not NaN."""
    if probs.ndim != 2 or probs.shape[0] == 0:
        raise ConfigError(f"probs must have shape (N, C) with N >= 1, got {tuple(probs.shape)}")
    check_int("n_splits", n_splits, 1, probs.shape[0])
    check_float("eps", eps, 0.0, 1e-3)
    p = (
        probs.detach().to(torch.float64).cpu()
    )  # float64: exp() turns small errors into visible ones
    scores = []
    for part in p.tensor_split(n_splits):
        marginal = part.mean(0, keepdim=True)  # (1, C) p(y) of this part
        kl = (part * ((part + eps).log() - (marginal + eps).log())).sum(1)  # (n,)
        scores.append(kl.mean().exp())
    scores_t = torch.stack(scores)
    return scores_t.mean().item(), scores_t.std(correction=0).item()


def class_histogram(probs_or_labels: torch.Tensor, n_classes: int = 10) -> torch.Tensor:
    """Counts (n_classes,) of predicted classes, from probabilities (N, C) or labels (N,)."""
    check_int("n_classes", n_classes, 1, 100_000)
    values = probs_or_labels.detach().cpu()
    if values.ndim == 2:
        if values.shape[1] != n_classes:
            raise ConfigError(f"probs have {values.shape[1]} classes, expected {n_classes}")
        labels = values.argmax(1)
    elif values.ndim == 1:
        labels = values.long()
        if labels.numel() and (labels.min() < 0 or labels.max() >= n_classes):
            raise ConfigError(f"labels must be in [0, {n_classes - 1}]")
    else:
        raise ConfigError(f"expected probs (N, C) or labels (N,), got {tuple(values.shape)}")
    return torch.bincount(labels, minlength=n_classes)


@torch.no_grad()
def classifier_probs(
    classifier: nn.Module, images: torch.Tensor, batch_size: int = 1000
) -> torch.Tensor:
    """Softmax predictions (N, C) for images (N, 1, 28, 28) in [0, 1], batched, in eval mode (no
    dropout); the classifier's mode is restored afterwards."""
    check_int("batch_size", batch_size, 1, 1_000_000)
    was_training = classifier.training
    classifier.eval()
    try:
        parts = [classifier(chunk).softmax(-1) for chunk in images.split(batch_size)]
    finally:
        classifier.train(was_training)
    return torch.cat(parts)


@torch.no_grad()
def score_generator(
    model: nn.Module,
    classifier: nn.Module,
    n: int,
    generator: torch.Generator | None = None,
    batch_size: int = 1000,
    n_splits: int | None = None,
) -> dict[str, float | list[int]]:
    """Sample ``n`` images from a generative model (anything with ``sample(n, generator)``) in
    batches and score them: ``inception_score``, ``inception_std`` and ``histogram`` (10 counts).

    By default the splits hold 1,000 samples each (2 to 10 splits): the IS of a split grows with
    its size, so a score on 2,000 samples is then comparable with the 10 x 1,000 standard.

    Only the (n, C) predictions are kept, never the images or a gradient graph.
    """
    check_int("n", n, 1, 10_000_000)
    check_int("batch_size", batch_size, 1, 1_000_000)
    if n_splits is None:
        n_splits = min(10, max(2, n // SPLIT_SIZE))
    if n_splits > n:
        raise ConfigError(f"n ({n}) must be at least n_splits ({n_splits})")
    parts = []
    for start in range(0, n, batch_size):
        images = model.sample(min(batch_size, n - start), generator=generator)
        parts.append(classifier_probs(classifier, images, batch_size))
    probs = torch.cat(parts)
    mean, std = inception_score(probs, n_splits)
    return {
        "inception_score": mean,
        "inception_std": std,
        "histogram": class_histogram(probs, probs.shape[1]).tolist(),
    }
