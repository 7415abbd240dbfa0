import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import ContinuousBernoulli, Normal
from torch.distributions import kl_divergence as torch_kl

from gendl.errors import ConfigError
from gendl.losses import (
    GAN_LOSSES,
    VAE_LIKELIHOODS,
    continuous_bernoulli_log_norm,
    discriminator_loss,
    gan_losses,
    generator_loss,
    kl_divergence,
    vae_loss,
)

# logits around the 0/0 point of log C (lambda = 0.5), both sides of the series cut-off, and far out
LOGITS = torch.tensor(
    [0.0, 1e-7, -1e-5, 1e-3, -3e-3, 4e-3, 0.05, -0.099, 0.1, -0.101, 0.3, -1.0, 2.5, -5.0, 8.0]
)


def test_kl_matches_torch_distributions():
    mu, logvar = torch.randn(6, 5), torch.randn(6, 5)
    expected = torch_kl(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    assert kl_divergence(mu, logvar).shape == (6,)
    torch.testing.assert_close(kl_divergence(mu, logvar), expected, rtol=1e-5, atol=1e-5)
    assert kl_divergence(torch.zeros(2, 3), torch.zeros(2, 3)).abs().max() == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_continuous_bernoulli_nll_matches_torch_elementwise(dtype):
    logits = LOGITS.to(dtype).repeat(3)
    x = torch.rand(logits.shape, dtype=dtype)
    x[:3] = torch.tensor([0.0, 1.0, 0.5], dtype=dtype)
    ours = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    ours = ours - continuous_bernoulli_log_norm(logits)
    expected = -ContinuousBernoulli(logits=logits).log_prob(x)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)


def test_log_norm_limits_and_gradients():
    # C(0.5) = 2; for large |logit| C -> |logit| (tanh -> 1), where the form in lambda overflows
    assert continuous_bernoulli_log_norm(torch.tensor([0.0])).item() == pytest.approx(math.log(2))
    big = torch.tensor([50.0, -200.0])
    torch.testing.assert_close(continuous_bernoulli_log_norm(big), big.abs().log())
    logits = LOGITS.clone().requires_grad_(True)
    continuous_bernoulli_log_norm(logits).sum().backward()
    # reference gradient: torch's log C in float64, recovered as log_prob(x) + BCE(logits, x)
    ref = LOGITS.double().requires_grad_(True)
    x = torch.full_like(ref, 0.3)
    log_norm = ContinuousBernoulli(logits=ref).log_prob(x) + F.binary_cross_entropy_with_logits(
        ref, x, reduction="none"
    )
    log_norm.sum().backward()
    torch.testing.assert_close(logits.grad.double(), ref.grad, rtol=1e-4, atol=1e-6)


def test_vae_loss_likelihoods_against_independent_references():
    x = torch.rand(4, 1, 28, 28)
    logits, mu, logvar = 3 * torch.randn(4, 784), torch.randn(4, 3), torch.randn(4, 3)
    bce = F.binary_cross_entropy_with_logits(logits, x.view(4, 784), reduction="none").sum(-1)
    kl = torch_kl(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)

    out = vae_loss(x, logits, mu, logvar, "bernoulli")
    torch.testing.assert_close(out["recon"], bce.mean())
    torch.testing.assert_close(out["kl"], kl.mean(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out["loss"], (bce + kl).mean(), rtol=1e-5, atol=1e-4)

    cb = vae_loss(x.view(4, 784), logits, mu, logvar, "continuous_bernoulli", 1.0)
    nll = -ContinuousBernoulli(logits=logits).log_prob(x.view(4, 784)).sum(-1)
    torch.testing.assert_close(cb["recon"], nll.mean(), rtol=1e-5, atol=1e-3)

    half = vae_loss(x, logits, mu, logvar, "continuous_bernoulli", 0.5)
    assert (half["recon"] - out["recon"]).item() == pytest.approx(
        (cb["recon"] - out["recon"]).item() / 2, rel=1e-4
    )
    zero = vae_loss(x, logits, mu, logvar, "continuous_bernoulli", 0.0)
    torch.testing.assert_close(zero["recon"], out["recon"])


def test_gan_losses_against_hand_computed_values():
    real, fake = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    # LS: D 0.5 * mean([0, 1]) + 0.5 * mean([0, 4]); G 0.5 * mean([1, 1])
    assert discriminator_loss("ls", real, fake).item() == pytest.approx(1.25)
    assert generator_loss("ls", fake).item() == pytest.approx(0.5)

    zeros = torch.zeros(3)
    assert discriminator_loss("bce", zeros, zeros).item() == pytest.approx(2 * math.log(2))
    assert generator_loss("bce", zeros).item() == pytest.approx(math.log(2))
    # BCE(s, 1) = log(1 + e^-s), BCE(s, 0) = log(1 + e^s)
    d = discriminator_loss("bce", torch.tensor([2.0]), torch.tensor([-1.0])).item()
    assert d == pytest.approx(math.log1p(math.exp(-2)) + math.log1p(math.exp(-1)))
    assert generator_loss("bce", torch.tensor([-1.0])).item() == pytest.approx(math.log1p(math.e))
    d_fn, g_fn = gan_losses("ls")
    assert d_fn(real, fake).item() == pytest.approx(1.25) and g_fn(fake).item() == 0.5


def test_unknown_names_raise_and_list_the_valid_ones():
    assert GAN_LOSSES == ("bce", "ls")
    with pytest.raises(ConfigError, match="loss must be one of bce, ls; got 'wasserstein'"):
        gan_losses("wasserstein")
    with pytest.raises(ConfigError, match="bce, ls"):
        discriminator_loss("hinge", torch.zeros(2), torch.zeros(2))
    with pytest.raises(ConfigError, match="bce, ls"):
        generator_loss("", torch.zeros(2))
    args = (torch.rand(2, 784), torch.zeros(2, 784), torch.zeros(2, 2), torch.zeros(2, 2))
    with pytest.raises(ConfigError, match=", ".join(VAE_LIKELIHOODS)):
        vae_loss(*args, likelihood="gaussian")
    with pytest.raises(ConfigError, match="log_norm_coef"):
        vae_loss(*args, likelihood="continuous_bernoulli", log_norm_coef=-1.0)
