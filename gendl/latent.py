"""Walks through a generative model's latent space: paths between two latents and ways to pick them.

Paths are (n_steps, latent_dim) tensors that start at ``z0`` and end at ``z1`` exactly; decode
them with ``model.decode(path)``. Endpoints come from two noise seeds, from the zeros -> ones walk
of seed 000, or from a search for latents the classifier reads as two chosen digits (seed 001: "if
they are from different classes, we can use them").

``slerp`` (Shoemake 1985; White 2016, "Sampling generative networks") keeps interpolated Gaussian
latents at a typical norm, where ``lerp`` cuts through the low-norm middle the prior rarely draws.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from gendl.config import check_choice, check_float, check_int
from gendl.errors import ConfigError, GendlError
from gendl.metrics import classifier_probs

INTERPOLATIONS = ("lerp", "slerp")
MIN_STEPS, MAX_STEPS = 2, 256
_PARALLEL_SIN = 1e-6  # |sin(angle)| below this: the great circle is undefined, so slerp falls back


class LatentSearchError(GendlError):
    """No sampled latent decodes to the requested digit with the requested confidence."""


def _endpoints(z0: torch.Tensor, z1: torch.Tensor, n_steps: int) -> tuple[torch.Tensor, ...]:
    """Both endpoints as float64 vectors (d,) and the mixing weights alpha (n_steps, 1)."""
    check_int("n_steps", n_steps, MIN_STEPS, MAX_STEPS)
    a, b = (z[0] if z.ndim == 2 and z.shape[0] == 1 else z for z in (z0, z1))  # (1, d) -> (d,)
    if a.ndim != 1 or a.shape != b.shape:
        raise ConfigError(
            "endpoints must be two vectors (d,) or (1, d) of the same size, "
            f"got {tuple(z0.shape)} and {tuple(z1.shape)}"
        )
    alpha = torch.linspace(0, 1, n_steps, dtype=torch.float64, device=a.device).unsqueeze(1)
    return a.to(torch.float64), b.to(a.device, torch.float64), alpha


def lerp_path(z0: torch.Tensor, z1: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Straight line (n_steps, d): (1 - alpha) z0 + alpha z1 for alpha = 0 ... 1 (seed 000)."""
    a, b, alpha = _endpoints(z0, z1, n_steps)
    path = (1 - alpha) * a + alpha * b  # (n_steps, d); alpha = 0 and 1 reproduce a and b exactly
    return path.to(z0.dtype)


def slerp_path(z0: torch.Tensor, z1: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Spherical path (n_steps, d): the direction moves along the great circle from z0 to z1 at
    constant angular speed while the norm goes linearly from |z0| to |z1|.

    For equal norms this is the classic slerp. If either endpoint is zero or the two are (anti)
    parallel, the great circle is undefined and the straight line is returned instead.
    """
    a, b, alpha = _endpoints(z0, z1, n_steps)
    norm_a, norm_b = a.norm(), b.norm()
    if norm_a == 0 or norm_b == 0:
        return lerp_path(z0, z1, n_steps)
    u, v = a / norm_a, b / norm_b
    omega = torch.arccos(torch.clamp(u @ v, -1.0, 1.0))  # angle between the directions
    if torch.sin(omega).abs() < _PARALLEL_SIN:
        return lerp_path(z0, z1, n_steps)
    weights_u = torch.sin((1 - alpha) * omega) / torch.sin(omega)  # (n_steps, 1)
    weights_v = torch.sin(alpha * omega) / torch.sin(omega)
    norms = (1 - alpha) * norm_a + alpha * norm_b  # (n_steps, 1)
    path = (weights_u * u + weights_v * v) * norms  # (n_steps, d)
    path[0], path[-1] = a, b  # exact endpoints, free of rounding in the normalise-and-rescale
    return path.to(z0.dtype)


_PATHS: dict[str, Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]] = {
    "lerp": lerp_path,
    "slerp": slerp_path,
}


def interpolate(
    z0: torch.Tensor, z1: torch.Tensor, n_steps: int, method: str = "lerp"
) -> torch.Tensor:
    """Path (n_steps, d) from ``z0`` to ``z1`` by ``method`` (lerp or slerp)."""
    check_choice("method", method, INTERPOLATIONS)
    return _PATHS[method](z0, z1, n_steps)


# ---------------------------------------------------------------- endpoints


def endpoints_from_seeds(
    model: nn.Module, seed_a: int, seed_b: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two latents (d,) from the model's noise distribution, by seeds ``seed_a``, ``seed_b``."""
    check_int("seed_a", seed_a, 0, 2**63 - 1)
    check_int("seed_b", seed_b, 0, 2**63 - 1)
    z_a = model.sample_latent(1, generator=torch.Generator().manual_seed(seed_a))  # (1, d)
    z_b = model.sample_latent(1, generator=torch.Generator().manual_seed(seed_b))
    return z_a[0], z_b[0]


def endpoints_zeros_to_ones(latent_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The all-zeros and all-ones latents (d,) of seed 000's interpolation."""
    check_int("latent_dim", latent_dim, 1, 100_000)
    return torch.zeros(latent_dim), torch.ones(latent_dim)


def endpoints_for_classes(
    model: nn.Module,
    classifier: nn.Module,
    digit_a: int,
    digit_b: int,
    seed: int = 0,
    min_confidence: float = 0.9,
    max_tries: int = 10_000,
    batch_size: int = 256,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents (d,) that ``model`` decodes to images ``classifier`` reads as ``digit_a`` and
    ``digit_b`` with probability >= ``min_confidence`` (seed 001).

    Draws up to ``max_tries`` latents from ``torch.Generator().manual_seed(seed)`` in batches and
    keeps the first hit per digit (two different latents when the digits are equal). Raises
    :class:`LatentSearchError` naming the digit when none qualifies.
    """
    check_int("digit_a", digit_a, 0, 9)
    check_int("digit_b", digit_b, 0, 9)
    check_int("seed", seed, 0, 2**63 - 1)
    check_float("min_confidence", min_confidence, 0.0, 1.0)
    check_int("max_tries", max_tries, 1, 10_000_000)
    check_int("batch_size", batch_size, 1, 100_000)
    need = {digit_a: 1, digit_b: 1} if digit_a != digit_b else {digit_a: 2}
    found: dict[int, list[torch.Tensor]] = {digit: [] for digit in need}
    rng = torch.Generator().manual_seed(seed)
    tried = 0
    while tried < max_tries and any(len(found[d]) < need[d] for d in need):
        z = model.sample_latent(min(batch_size, max_tries - tried), generator=rng)  # (b, d)
        tried += z.shape[0]
        with torch.no_grad():
            probs = classifier_probs(classifier, model.decode(z))  # (b, 10)
        confidence, predicted = probs.max(1)
        for latent, conf, digit in zip(z, confidence.tolist(), predicted.tolist(), strict=True):
            if conf >= min_confidence and len(found.get(digit, ())) < need.get(digit, 0):
                found[digit].append(latent)
    for digit in need:
        if len(found[digit]) < need[digit]:
            raise LatentSearchError(
                f"no latent among {tried} samples decodes to digit {digit} with confidence "
                f">= {min_confidence:g}; lower min_confidence, raise max_tries or train longer"
            )
    return found[digit_a][0], found[digit_b][-1]
