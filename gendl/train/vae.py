"""Training the VAE of seed 003 (MLP encoder/decoder, continuous-Bernoulli likelihood).

python -m gendl train vae --max-steps 3000
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from gendl.config import check_choice, check_config, check_float, check_int
from gendl.data import DATASETS, BatchStream, load_images
from gendl.errors import ConfigError
from gendl.losses import VAE_LIKELIHOODS, vae_loss
from gendl.models.vae import VAE, VAEConfig
from gendl.train.common import (
    Metrics,
    OnStep,
    Trainer,
    check_budget,
    grad_norm,
    run_trainer,
    seeded_generator,
)
from gendl.train.memory import check_memory, vae_bytes
from gendl.train.scoring import evaluate_generator


@dataclass(frozen=True)
class VAETrainConfig:
    model: VAEConfig = field(default_factory=VAEConfig)
    likelihood: str = "continuous_bernoulli"
    log_norm_coef: float = 1.0  # weight of log C(lambda); seed 003 tunes it for a higher score
    lr: float = 1e-3
    batch_size: int = 128
    max_steps: int | None = 3000
    max_seconds: float | None = None
    eval_every: int = 500
    n_score_samples: int = 2000
    seed: int = 0
    data: str = "mnist"

    def __post_init__(self) -> None:
        check_config("model", self.model, VAEConfig)
        check_choice("likelihood", self.likelihood, VAE_LIKELIHOODS)
        check_float("log_norm_coef", self.log_norm_coef, 0.0, 10.0)
        check_float("lr", self.lr, 0.0, 1.0, low_inclusive=False)
        check_int("batch_size", self.batch_size, 1, 8192)
        check_budget(self.max_steps, self.max_seconds)
        check_int("eval_every", self.eval_every, 1, 10_000_000)
        check_int("n_score_samples", self.n_score_samples, 0, 100_000)
        if 0 < self.n_score_samples < 10:  # the inception score needs 10 splits
            raise ConfigError(
                f"n_score_samples must be 0 or in [10, 100000], got {self.n_score_samples}"
            )
        check_int("seed", self.seed, 0, 2**31 - 1)
        check_choice("data", self.data, DATASETS)
        fields = ("model.encoder_dims", "model.decoder_dims", "batch_size")
        check_memory(self, vae_bytes(self), fields)


class VAETrainer(Trainer):
    """Seeds: ``seed`` initialises the weights and orders the data, ``seed + 1`` draws the
    reparameterisation noise, ``seed + 2`` the fixed grid noise and scoring samples."""

    family = "vae"
    stateful = ("model", "optimizer", "noise_rng", "eval_rng")

    def __init__(self, config: VAETrainConfig) -> None:
        super().__init__(config)
        torch.manual_seed(config.seed)
        self.model = VAE(config.model)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.batches = BatchStream(load_images(config.data), config.batch_size, config.seed)
        self.noise_rng = seeded_generator(config.seed + 1)
        self.eval_rng = seeded_generator(config.seed + 2)
        self.fixed_noise = self.model.sample_latent(64, generator=seeded_generator(config.seed + 2))

    def step(self, part: str = "all") -> Metrics:
        self.check_part(part)
        images, _ = self.batches.batch(self.step_count)
        self.model.train()
        mu, logvar = self.model.encode(images)
        z = self.model.reparameterize(mu, logvar, generator=self.noise_rng)
        logits = self.model.decode_logits(z)  # (B, 784)
        cfg = self.config
        losses = vae_loss(images, logits, mu, logvar, cfg.likelihood, cfg.log_norm_coef)
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        norm = grad_norm(self.model.parameters())
        self.optimizer.step()
        self.step_count += 1
        return {
            "loss": losses["loss"].item(),
            "recon_loss": losses["recon"].item(),
            "kl_loss": losses["kl"].item(),
            "grad_norm": norm,
        }

    def evaluate(self) -> Metrics:
        return evaluate_generator(
            self.model, self.fixed_noise, self.config.n_score_samples, self.eval_rng
        )


def train_vae(config: VAETrainConfig, on_step: OnStep | None = None) -> tuple[VAE, list[Metrics]]:
    """Train the VAE; return the model (eval mode) and its history."""
    trainer = VAETrainer(config)
    history = run_trainer(trainer, on_step)
    return trainer.model.eval(), history
