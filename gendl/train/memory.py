"""How much memory a training config needs, checked when the config is built.

A run that would not fit is refused up front with the fields to lower, instead of swapping the
shared classroom machine to a halt or being killed by the kernel mid-run. The estimate counts what
grows with the config, in float32: the weights with their gradients and two Adam moments, and the
activations a step keeps for its backward pass (or the evaluation batch, if larger). The runtime
itself (torch, the data set: ~0.5 GB) comes on top. One run may use at most ``MEMORY_FRACTION`` of
the machine's memory (physical RAM, or the container's cgroup limit if lower).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from gendl.errors import ConfigError

FLOAT_BYTES = 4
MEMORY_FRACTION = 0.5  # several students' runs and the server share one machine
OPTIMIZER_COPIES = 4  # weights, gradients, Adam's two moments

# floats each sample produces in one forward pass (outputs of every leaf module, measured with
# forward hooks; tests/test_validation.py holds these to the models)
GAN_GENERATOR_ACTIVATIONS = {"mlp": 6448, "mlp_bn": 7984, "infogan": 67360, "dcgan": 140064}
GAN_DISCRIMINATOR_ACTIVATIONS = {"mlp": 1810, "mlp_bn": 2322, "infogan": 53762, "dcgan": 112386}
CLASSIFIER_ACTIVATIONS = {"cnn": 45866, "mlp": 3866}
SCORING_BATCH = 1000  # samples per batch when scoring and testing (gendl.metrics)


def total_memory() -> int | None:
    """Bytes of memory this process may use: physical RAM, or a lower cgroup v2 limit; None if
    unknown (then nothing is refused)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        total = None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            total = min(total or int(limit), int(limit))
    except OSError:
        pass
    return total if total and total > 0 else None


def check_memory(config: Any, needed: int, fields: tuple[str, ...]) -> None:
    """Raise ConfigError if ``needed`` bytes exceed one run's share of memory; the message names
    ``fields`` (dotted paths into ``config``) with their values."""
    total = total_memory()
    if total is None or needed <= MEMORY_FRACTION * total:
        return
    values = ", ".join(f"{name}={_field(config, name)!r}" for name in fields)
    raise ConfigError(
        f"{values} would need about {_gb(needed)} of memory; one run may use at most "
        f"{_gb(MEMORY_FRACTION * total)} ({MEMORY_FRACTION:.0%} of this machine's {_gb(total)}): "
        f"lower {', '.join(fields)}"
    )


def _field(config: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        config = getattr(config, part)
    return config


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.1f} GB"


@lru_cache(maxsize=256)
def parameter_count(model_config: Any) -> int:
    """Exact parameter count of the model a config builds, without allocating it (meta device)."""
    from gendl.models import MODEL_KINDS

    model_cls = next(cls for cfg, cls in MODEL_KINDS.values() if isinstance(model_config, cfg))
    with torch.device("meta"):
        return sum(p.numel() for p in model_cls(model_config).parameters())


def _bytes(model_config: Any, activations: float) -> int:
    floats = OPTIMIZER_COPIES * parameter_count(model_config) + activations
    return int(FLOAT_BYTES * floats)


def sequence_bytes(config: Any) -> int:
    """RNN/LSTM: per sample and time step the hand-written LSTM keeps its 4 gates, c, tanh(c) and
    the [h, x, 1] row, and its backward pass as much again (~9H + D floats together, measured),
    the RNN ~2H + D."""
    model = config.model
    per_step = (9 if model.model == "lstm" else 2) * model.hidden_dim + model.input_dim
    samples = max(config.batch_size, config.eval_batch)
    return _bytes(model, samples * (config.seq_length - 1) * per_step)


def vae_bytes(config: Any) -> int:
    """VAE: every layer's output and its ReLU, the latent statistics, and a few 784-wide loss terms
    per sample; the backward pass needs as much again. Fitting a mixture prior holds the points
    (in float64), the upper triangles of their outer products (points, latent (latent + 1) / 2),
    three (points, components) arrays and three (components, latent^2) ones."""
    model = config.model
    per_sample = (
        2 * (sum(model.encoder_dims) + sum(model.decoder_dims)) + 3 * model.latent_dim + 6 * 784
    )
    training = max(2 * config.batch_size, SCORING_BATCH) * per_sample
    k, n, d = model.prior_components, config.prior_fit_points, model.latent_dim
    prior_fit = 2 * n * d + n * d * (d + 1) // 2 + 3 * n * k + 3 * k * d * d if k else 0
    return _bytes(model, max(training, prior_fit))


def gan_bytes(config: Any) -> int:
    """GAN: a step runs D on a real and a fake batch and G once (the measured peak of a step is
    about those three forward passes)."""
    arch = config.model.arch
    per_sample = GAN_GENERATOR_ACTIVATIONS[arch] + 2 * GAN_DISCRIMINATOR_ACTIVATIONS[arch]
    return _bytes(config.model, max(config.batch_size, SCORING_BATCH) * per_sample)


def classifier_bytes(config: Any) -> int:
    """Classifier: one forward pass per step, the backward pass as much again; tests in batches."""
    per_sample = CLASSIFIER_ACTIVATIONS[config.model.arch]
    return _bytes(config.model, max(2 * config.batch_size, SCORING_BATCH) * per_sample)
