"""The Gaussian-mixture prior of the VAE: EM recovers a known mixture, sampling follows the fitted
parameters, and the VAE trainer's options (mixture prior, KL warm-up, cosine schedule) do what they
say, checked against hand computations."""

import math

import pytest
import torch

from gendl.checkpoints import load_model, save_checkpoint
from gendl.errors import ConfigError
from gendl.losses import vae_loss
from gendl.models.latent_prior import GaussianMixturePrior
from gendl.models.vae import VAE, VAEConfig
from gendl.train import build_config, make_trainer
from gendl.train.common import run_trainer

VAE_SMALL = {
    "batch_size": 8,
    "n_score_samples": 0,
    "data": "fake",
    "eval_every": 100,
    "model": {"encoder_dims": [16], "decoder_dims": [16], "latent_dim": 2},
}

# three well separated 2-D Gaussians with known weights, means and covariances
TRUE_WEIGHTS = torch.tensor([0.5, 0.3, 0.2])
TRUE_MEANS = torch.tensor([[-6.0, 0.0], [6.0, 0.0], [0.0, 8.0]])
TRUE_TRILS = torch.tensor(
    [[[1.0, 0.0], [0.5, 0.5]], [[0.3, 0.0], [0.0, 2.0]], [[1.0, 0.0], [0.0, 1.0]]]
)


def _three_clusters(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    comp = torch.multinomial(TRUE_WEIGHTS, n, replacement=True, generator=g)
    eps = torch.randn(n, 2, 1, generator=g)
    return TRUE_MEANS[comp] + (TRUE_TRILS[comp] @ eps).squeeze(-1)


def _matched(prior):
    """The fitted components in the order of the true ones (nearest mean)."""
    order = torch.cdist(TRUE_MEANS, prior.means).argmin(1)
    assert sorted(order.tolist()) == [0, 1, 2]
    return order


def test_unfitted_mixture_is_the_standard_normal():
    prior = GaussianMixturePrior(4, 3)
    z = prior.sample(20_000, torch.Generator().manual_seed(0))
    assert z.mean(0).abs().max() < 0.03
    assert torch.allclose(torch.cov(z.T), torch.eye(3), atol=0.04)


def test_em_recovers_a_known_mixture():
    prior = GaussianMixturePrior(3, 2).fit(
        _three_clusters(6000), generator=torch.Generator().manual_seed(1)
    )
    order = _matched(prior)
    assert torch.allclose(prior.weights[order], TRUE_WEIGHTS, atol=0.02)
    assert torch.allclose(prior.means[order], TRUE_MEANS, atol=0.1)
    covs = prior.scale_tril @ prior.scale_tril.transpose(1, 2)
    true_covs = TRUE_TRILS @ TRUE_TRILS.transpose(1, 2)
    assert torch.allclose(covs[order], true_covs, atol=0.15)


def _literal_em(z, means, iters):
    """EM for a full-covariance mixture written from the textbook equations, one component at a
    time in float64, from the given initial means (weights 1/K, covariances the fit's start)."""
    z = z.double()
    n, dim = z.shape
    k = len(means)
    means = means.double().clone()
    covs = torch.eye(dim, dtype=z.dtype).repeat(k, 1, 1) * z.var(0).mean()
    weights = torch.full((k,), 1.0 / k, dtype=z.dtype)
    for _ in range(iters):
        dens = torch.stack(
            [
                torch.distributions.MultivariateNormal(
                    means[j], covs[j] + 1e-4 * torch.eye(dim, dtype=z.dtype)
                ).log_prob(z)
                for j in range(k)
            ],
            1,
        )  # (n, k)
        resp = torch.softmax(dens + weights.log(), 1)
        mass = resp.sum(0)
        weights = mass / n
        means = (resp.T @ z) / mass[:, None]
        covs = torch.stack(
            [((z - means[j]).T * resp[:, j]) @ (z - means[j]) / mass[j] for j in range(k)]
        )
    return weights, means, covs


@pytest.mark.parametrize("offset", [0.0, 1000.0], ids=["centred", "far-from-origin"])
def test_em_steps_match_the_textbook_equations(offset):
    points = _three_clusters(3000, seed=4) * torch.tensor([1.0, 0.5]) + offset  # (3000, 2)
    noise = torch.randn(3000, 1, generator=torch.Generator().manual_seed(6))
    points = torch.cat([points, points[:, :1] * 0.3 - points[:, 1:] + noise], 1)  # (3000, 3)
    for iters in (1, 4):
        prior = GaussianMixturePrior(3, 3).fit(
            points, iters, generator=torch.Generator().manual_seed(5)
        )
        start = points[torch.randperm(3000, generator=torch.Generator().manual_seed(5))[:3]]
        weights, means, covs = _literal_em(points, start, iters)
        fitted_covs = prior.scale_tril.double() @ prior.scale_tril.double().transpose(1, 2)
        assert torch.allclose(prior.weights.double(), weights, atol=1e-4)
        assert torch.allclose(prior.means.double(), means, atol=1e-3, rtol=1e-6)
        assert torch.allclose(fitted_covs - 1e-4 * torch.eye(3), covs, atol=2e-3, rtol=1e-3)


def test_samples_follow_the_fitted_parameters():
    prior = GaussianMixturePrior(3, 2).fit(
        _three_clusters(6000), generator=torch.Generator().manual_seed(1)
    )
    z = prior.sample(30_000, torch.Generator().manual_seed(2))
    nearest = torch.cdist(z, prior.means).argmin(1)
    share = torch.bincount(nearest, minlength=3).float() / len(z)
    assert torch.allclose(share, prior.weights, atol=0.015)


def test_fit_needs_as_many_points_as_components():
    with pytest.raises(ValueError, match="at least 5 points"):
        GaussianMixturePrior(5, 2).fit(torch.zeros(4, 2))


def test_vae_samples_from_its_fitted_prior_and_the_checkpoint_keeps_it(tmp_path):
    model = VAE(VAEConfig(latent_dim=2, encoder_dims=(8,), decoder_dims=(8,), prior_components=3))
    model.prior.fit(_three_clusters(3000), generator=torch.Generator().manual_seed(0))
    z = model.sample_latent(5000, torch.Generator().manual_seed(3))
    assert torch.cdist(z, model.prior.means).min(1).values.median() < 2.0
    save_checkpoint(tmp_path / "vae.pt", model)
    loaded = load_model(tmp_path / "vae.pt", kind="vae")
    assert torch.equal(loaded.prior.means, model.prior.means)
    again = loaded.sample_latent(5000, torch.Generator().manual_seed(3))
    assert torch.equal(again, z)


def test_the_standard_vae_has_no_mixture_and_samples_n01():
    model = VAE(VAEConfig(latent_dim=2, encoder_dims=(8,), decoder_dims=(8,)))
    assert model.prior is None
    z = model.sample_latent(4, torch.Generator().manual_seed(0))
    assert torch.equal(z, torch.randn(4, 2, generator=torch.Generator().manual_seed(0)))


def _trained_with_prior(points, components, **extra):
    """A tiny mixture VAE trained a few steps and exported, with the encoder means of the
    trainer's seeded subset of ``points`` images (encoded by hand) and the subset's generator,
    for an independent fit on the same points."""
    config = {**VAE_SMALL, "max_steps": 3, "prior_fit_points": points, **extra}
    config["model"] = {**VAE_SMALL["model"], "prior_components": components}
    trainer = make_trainer("vae", config)
    run_trainer(trainer)
    exported = trainer.export_model()
    rng = torch.Generator().manual_seed(trainer.config.seed + 3)
    pick = torch.randperm(len(trainer.images.images), generator=rng)[:points]
    with torch.no_grad():
        mu, _ = exported.encode(trainer.images.images[pick])
    return exported, mu, rng


def test_trainer_fits_the_prior_to_the_encoder_means_on_export():
    exported, mu, rng = _trained_with_prior(200, 2)
    reference = GaussianMixturePrior(2, 2).fit(mu, generator=rng)
    assert torch.allclose(exported.prior.means, reference.means, atol=1e-5)
    assert not torch.allclose(exported.prior.means, torch.zeros(2, 2))


def test_trainer_fits_with_the_configured_number_of_em_steps():
    exported, mu, rng = _trained_with_prior(100, 3, prior_fit_iters=1)
    state = rng.get_state()
    one, two = (
        GaussianMixturePrior(3, 2).fit(mu, iters, generator=torch.Generator().set_state(state))
        for iters in (1, 2)
    )
    assert torch.equal(exported.prior.means, one.means)
    assert not torch.equal(one.means, two.means)  # the count matters, so the test can tell


def test_kl_warmup_scales_only_the_kl_term_of_the_loss():
    x = torch.rand(4, 784)
    logits, mu, logvar = torch.randn(4, 784), torch.randn(4, 3), torch.randn(4, 3)
    full = vae_loss(x, logits, mu, logvar, "bernoulli")
    half = vae_loss(x, logits, mu, logvar, "bernoulli", kl_weight=0.5)
    assert torch.allclose(half["loss"], full["recon"] + 0.5 * full["kl"])
    assert torch.equal(half["kl"], full["kl"])


def test_trainer_warms_the_kl_weight_up_linearly():
    trainer = make_trainer("vae", {**VAE_SMALL, "max_steps": 4, "kl_warmup_steps": 4})
    for step in range(4):
        before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        metrics = trainer.step()
        weight = (step + 1) / 4
        # the reported loss is recon + weight * kl at the weights the step started from
        assert metrics["loss"] == pytest.approx(
            metrics["recon_loss"] + weight * metrics["kl_loss"], rel=1e-5
        )
        assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())


def test_the_kl_weight_is_the_level_the_warm_up_rises_to():
    config = {**VAE_SMALL, "max_steps": 4, "kl_warmup_steps": 2, "kl_weight": 0.1}
    trainer = make_trainer("vae", config)
    for weight in (0.05, 0.1, 0.1):
        metrics = trainer.step()
        assert metrics["loss"] == pytest.approx(
            metrics["recon_loss"] + weight * metrics["kl_loss"], rel=1e-5
        )


def test_cosine_schedule_reaches_zero_at_max_steps():
    trainer = make_trainer(
        "vae", {**VAE_SMALL, "max_steps": 4, "lr": 0.01, "lr_schedule": "cosine"}
    )
    lrs = []
    for _ in range(4):
        trainer.step()
        lrs.append(trainer.optimizer.param_groups[0]["lr"])
    expected = [0.01 * 0.5 * (1 + math.cos(math.pi * s / 4)) for s in range(1, 5)]
    assert lrs == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lr_schedule": "step"}, "lr_schedule"),
        ({"lr_schedule": "cosine", "max_steps": None, "max_seconds": 5}, "max_steps"),
        ({"kl_warmup_steps": -1}, "kl_warmup_steps"),
        ({"prior_fit_points": 5}, "prior_fit_points"),
        ({"prior_fit_iters": 0}, "prior_fit_iters"),
        ({"kl_weight": -0.5}, "kl_weight"),
        ({"kl_weight": float("nan")}, "kl_weight"),
        ({"model": {"prior_components": 300}}, "prior_components"),
        ({"model": {"prior_components": 50}, "prior_fit_points": 20}, "prior_fit_points"),
    ],
)
def test_bad_vae_options_are_refused_by_name(overrides, field):
    with pytest.raises(ConfigError, match=field):
        build_config("vae", overrides)


@pytest.mark.parametrize(
    "points",
    [
        torch.ones(100, 3),  # one point repeated
        torch.linspace(0, 1, 100)[:, None] * torch.tensor([[1.0, 2.0, 3.0]]),  # on a line
        torch.randn(100, 3, generator=torch.Generator().manual_seed(0)) * 1e8,  # huge latents
    ],
    ids=["repeated", "line", "huge"],
)
def test_degenerate_points_still_give_a_proper_mixture(points):
    prior = GaussianMixturePrior(4, 3).fit(points, generator=torch.Generator().manual_seed(0))
    covs = prior.scale_tril @ prior.scale_tril.transpose(1, 2)
    assert torch.isfinite(prior.means).all() and torch.isfinite(covs).all()
    assert (torch.linalg.eigvalsh(covs.double()) > 0).all()
    assert torch.isfinite(prior.sample(10, torch.Generator().manual_seed(1))).all()


def test_fit_refuses_points_that_are_not_finite():
    with pytest.raises(ValueError, match="not all finite"):
        GaussianMixturePrior(2, 2).fit(torch.tensor([[0.0, float("nan")], [1.0, 1.0]]))


def test_a_mixture_fit_that_would_not_fit_in_memory_is_refused_before_training():
    # the outer products of a million 512-dimensional latents: half a terabyte of float32
    with pytest.raises(ConfigError, match="prior_fit_points"):
        build_config(
            "vae",
            {"model": {"latent_dim": 512, "prior_components": 1}, "prior_fit_points": 1_000_000},
        )
    build_config(
        "vae", {"model": {"latent_dim": 512, "prior_components": 1}, "prior_fit_points": 100}
    )


def test_the_sample_grid_of_a_mixture_vae_comes_from_the_fitted_mixture():
    config = {**VAE_SMALL, "max_steps": 2, "prior_fit_points": 200}
    config["model"] = {**VAE_SMALL["model"], "prior_components": 2}
    trainer = make_trainer("vae", config)
    run_trainer(trainer)
    grid = trainer.evaluate()["sample_grid"]
    model = trainer.export_model()
    z = model.prior.sample(64, torch.Generator().manual_seed(trainer.config.seed + 2))
    with torch.no_grad():
        assert torch.equal(grid, model.decode(z).clamp(0, 1))
