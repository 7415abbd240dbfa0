"""Losses for the generative models, chosen by name so one training loop serves every variant.

GAN losses take raw discriminator scores (logits, shape (B,)):

    bce  non-saturating GAN (Goodfellow et al. 2014; seed 003): D minimises
         BCE(real, 1) + BCE(fake, 0); G minimises BCE(fake, 1), not the saturating -BCE(fake, 0)
    ls   least-squares GAN (Mao et al. 2017, eq. 9; seed 003): D 0.5 (D(x) - 1)^2 + 0.5 D(G(z))^2,
         G 0.5 (D(G(z)) - 1)^2

VAE loss (seed 003): per-image reconstruction summed over pixels plus the closed-form KL to N(0, I),
averaged over the batch. The likelihood is Bernoulli or continuous Bernoulli (Loaiza-Ganem and
Cunningham 2019), whose log-normaliser log C(lambda) can be weighted by a coefficient.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from gendl.config import check_choice, check_float

GAN_LOSSES = ("bce", "ls")
VAE_LIKELIHOODS = ("bernoulli", "continuous_bernoulli")

# ---------------------------------------------------------------- GAN


def _bce_discriminator(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    real = F.binary_cross_entropy_with_logits(real_scores, torch.ones_like(real_scores))
    fake = F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores))
    return real + fake  # seed 003 adds the two batch means


def _bce_generator(fake_scores: torch.Tensor) -> torch.Tensor:
    # non-saturating: strong gradients while D still rejects the fakes
    return F.binary_cross_entropy_with_logits(fake_scores, torch.ones_like(fake_scores))


def _ls_discriminator(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((real_scores - 1) ** 2).mean() + 0.5 * (fake_scores**2).mean()


def _ls_generator(fake_scores: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((fake_scores - 1) ** 2).mean()


DiscriminatorLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
GeneratorLoss = Callable[[torch.Tensor], torch.Tensor]
_GAN_LOSS_FNS: dict[str, tuple[DiscriminatorLoss, GeneratorLoss]] = {
    "bce": (_bce_discriminator, _bce_generator),
    "ls": (_ls_discriminator, _ls_generator),
}


def gan_losses(name: str) -> tuple[DiscriminatorLoss, GeneratorLoss]:
    """The pair ``(d_loss(real_scores, fake_scores), g_loss(fake_scores))`` for ``name``."""
    check_choice("loss", name, GAN_LOSSES)
    return _GAN_LOSS_FNS[name]


def discriminator_loss(
    name: str, real_scores: torch.Tensor, fake_scores: torch.Tensor
) -> torch.Tensor:
    """Scalar loss the discriminator minimises, from scores (B,) on real and generated images
    (computed in float32 whatever the scores' precision)."""
    return gan_losses(name)[0](real_scores.float(), fake_scores.float())


def generator_loss(name: str, fake_scores: torch.Tensor) -> torch.Tensor:
    """Scalar loss the generator minimises, from the discriminator's scores (B,) on its images
    (computed in float32 whatever the scores' precision)."""
    return gan_losses(name)[1](fake_scores.float())


# ---------------------------------------------------------------- VAE


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per sample: (B, latent) -> (B,)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)


# |logit| below which log C uses its series: there the series is off by < 4e-10 (next term
# 31 eta^6 / 90720), while the exact form's float32 gradient loses digits to cancellation
_TAYLOR_BELOW = 0.1


def continuous_bernoulli_log_norm(logits: torch.Tensor) -> torch.Tensor:
    """log C(lambda) elementwise, with lambda = sigmoid(logits).

    C(lambda) = 2 artanh(1 - 2 lambda) / (1 - 2 lambda), which in terms of the logit eta is
    eta / tanh(eta / 2): exact and stable for large |eta|, where the form in lambda rounds lambda to
    0 or 1. At eta = 0 (lambda = 0.5) it is 0/0, so near there the series
    log 2 + eta^2 / 12 - 7 eta^4 / 1440 is used instead (the same idea as the Taylor branch of
    ``torch.distributions.ContinuousBernoulli``).
    """
    small = logits.abs() < _TAYLOR_BELOW
    # the unused branch of torch.where still gets gradients, so keep 0/0 out of it entirely
    safe = torch.where(small, torch.ones_like(logits), logits)
    exact = torch.log(safe / torch.tanh(safe / 2))
    sq = logits.pow(2)
    series = math.log(2.0) + sq / 12 - 7 * sq.pow(2) / 1440
    return torch.where(small, series, exact)


def vae_loss(
    x: torch.Tensor,
    logits: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    likelihood: str = "bernoulli",
    log_norm_coef: float = 1.0,
    kl_weight: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Negative ELBO for images ``x`` in [0, 1] ((B, 1, 28, 28) or (B, 784)) and decoder logits
    (B, 784). Returns scalars ``loss`` (mean over the batch of recon + kl), ``recon`` and ``kl``.

    ``continuous_bernoulli`` subtracts ``log_norm_coef * sum log C(lambda)`` from the Bernoulli
    term; seed 003 suggests tuning that coefficient for a higher inception score. ``kl_weight``
    scales the KL term in ``loss`` (a warm-up from 0 keeps latent units from collapsing early);
    ``kl`` is reported unweighted.
    """
    check_choice("likelihood", likelihood, VAE_LIKELIHOODS)
    check_float("log_norm_coef", log_norm_coef, 0.0, 10.0)
    check_float("kl_weight", kl_weight, 0.0, 10.0)
    logits, mu, logvar = logits.float(), mu.float(), logvar.float()  # float32 under bf16 training
    target = x.reshape(logits.shape)  # (B, 1, 28, 28) -> (B, 784)
    recon = F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)  # (B,)
    if likelihood == "continuous_bernoulli":
        recon = recon - log_norm_coef * continuous_bernoulli_log_norm(logits).sum(-1)
    kl = kl_divergence(mu, logvar)  # (B,)
    return {"loss": (recon + kl_weight * kl).mean(), "recon": recon.mean(), "kl": kl.mean()}
