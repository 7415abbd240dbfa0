"""Training the VAE of seed 003 (MLP encoder/decoder, continuous-Bernoulli likelihood).

python -m gendl train vae --max-steps 3000
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from gendl.config import Field, check_config, check_int
from gendl.data import BatchStream, load_images
from gendl.errors import ConfigError
from gendl.losses import VAE_LIKELIHOODS, vae_loss
from gendl.models.vae import LATENT_DIM, PRIOR_COMPONENTS, VAE, VAEConfig
from gendl.train.common import (
    Metrics,
    OnStep,
    Trainer,
    adam,
    grad_norm,
    run_trainer,
    scalars,
    seeded_generator,
)
from gendl.train.fields import (
    DATA,
    DEVICE,
    EVAL_EVERY,
    MAX_SECONDS,
    MAX_STEPS,
    N_SCORE_SAMPLES,
    PRECISION,
    SEED,
    batch_size,
    check_generator_run,
    learning_rate,
)
from gendl.train.memory import check_memory, vae_bytes
from gendl.train.scoring import evaluate_generator
from gendl.train.spec import FormSpec

LR_SCHEDULES = ("constant", "cosine")
LIKELIHOOD = Field(
    "likelihood",
    "likelihood",
    "choice",
    choices=VAE_LIKELIHOODS,
    help="how the decoder's output scores a real image: the reconstruction term of the loss",
)
LOG_NORM_COEF = Field(
    "log_norm_coef",
    "weight of log C (continuous Bernoulli)",
    "float",
    0.0,
    10.0,
    0.1,
    help="weight of the continuous Bernoulli's normalising constant; 0 drops it",
    advanced=True,
)
LR = learning_rate()
LR_SCHEDULE = Field(
    "lr_schedule",
    "learning-rate schedule",
    "choice",
    choices=LR_SCHEDULES,
    help="cosine: from the learning rate down to 0 at max steps",
    advanced=True,
)
KL_WEIGHT = Field(
    "kl_weight",
    "KL weight (beta)",
    "float",
    0.0,
    10.0,
    0.05,
    help="Weight of the KL term once warmed up: 1 is the plain ELBO; lower values trade "
    "the fit to N(0, I) for sharper reconstructions.",
)
KL_WARMUP_STEPS = Field(
    "kl_warmup_steps",
    "KL warm-up steps",
    "int",
    0,
    10_000_000,
    100,
    help="the KL weight rises linearly from 0 to its value over these steps",
)
BATCH_SIZE = batch_size(1, 8192)


@dataclass(frozen=True)
class VAETrainConfig:
    model: VAEConfig = field(default_factory=VAEConfig)
    likelihood: str = "continuous_bernoulli"
    log_norm_coef: float = 1.0  # weight of log C(lambda); seed 003 tunes it for a higher score
    lr: float = 1e-3
    lr_schedule: str = "constant"  # or "cosine": from lr down to 0 at max_steps
    kl_weight: float = 1.0  # beta of a beta-VAE: below 1 trades prior fit for sharper decodings
    kl_warmup_steps: int = 0  # the KL weight rises linearly from 0 to kl_weight over these steps
    prior_fit_points: int = 10_000  # training images encoded to fit model.prior_components
    prior_fit_iters: int = 50  # expectation-maximisation steps of each fit
    precision: str = "fp32"  # "bf16": products in bfloat16 (see common.train_step)
    batch_size: int = 128
    max_steps: int | None = 3000
    max_seconds: float | None = None
    eval_every: int = 500
    n_score_samples: int = 2000
    seed: int = 0
    data: str = "mnist"
    device: str = "auto"  # auto (a GPU if there is one), cpu, cuda or cuda:N

    def __post_init__(self) -> None:
        check_config("model", self.model, VAEConfig)
        LIKELIHOOD.check(self.likelihood)
        LOG_NORM_COEF.check(self.log_norm_coef)
        LR.check(self.lr)
        LR_SCHEDULE.check(self.lr_schedule)
        if self.lr_schedule == "cosine" and self.max_steps is None:
            raise ConfigError("lr_schedule 'cosine' needs max_steps (it decays to 0 there)")
        KL_WEIGHT.check(self.kl_weight)
        KL_WARMUP_STEPS.check(self.kl_warmup_steps)
        check_int("prior_fit_points", self.prior_fit_points, 10, 1_000_000)
        check_int("prior_fit_iters", self.prior_fit_iters, 1, 1000)
        if self.prior_fit_points < self.model.prior_components:
            raise ConfigError(
                f"prior_fit_points ({self.prior_fit_points}) must be at least "
                f"model.prior_components ({self.model.prior_components})"
            )
        BATCH_SIZE.check(self.batch_size)
        check_generator_run(self)
        fields = (
            "model.encoder_dims",
            "model.decoder_dims",
            "batch_size",
            "model.prior_components",
            "prior_fit_points",
        )
        check_memory(self, vae_bytes(self), fields)


FORM = FormSpec(
    (
        LATENT_DIM.under("model"),
        LIKELIHOOD,
        LR,
        KL_WEIGHT,
        KL_WARMUP_STEPS,
        PRIOR_COMPONENTS.under("model"),
        BATCH_SIZE,
        DATA,
        SEED,
        N_SCORE_SAMPLES,
        MAX_STEPS,
        MAX_SECONDS,
        EVAL_EVERY,
        PRECISION,
        LOG_NORM_COEF,
        LR_SCHEDULE,
        DEVICE,
    )
)


class VAETrainer(Trainer):
    """Seeds: ``seed`` initialises the weights and orders the data, ``seed + 1`` draws the
    reparameterisation noise, ``seed + 2`` the fixed grid noise and scoring samples."""

    family = "vae"
    stateful = ("model", "optimizer", "scheduler", "noise_rng", "eval_rng")

    def __init__(self, config: VAETrainConfig) -> None:
        super().__init__(config)
        torch.manual_seed(config.seed)
        self.model = VAE(config.model).to(self.device)
        self.optimizer = adam(self.model.parameters(), config.lr)
        self.scheduler = None
        if config.lr_schedule == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                self.optimizer, T_max=config.max_steps
            )
        self.images = load_images(config.data).to(self.device)
        self.batches = BatchStream(self.images, config.batch_size, config.seed)
        self.prior_fitted_at = -1  # step at which the mixture prior was last fitted
        self.noise_rng = seeded_generator(config.seed + 1, self.device)
        self.eval_rng = seeded_generator(config.seed + 2, self.device)
        self.fixed_noise = self.model.sample_latent(64, generator=seeded_generator(config.seed + 2))

    def step(self, part: str = "all") -> Metrics:
        self.check_part(part)
        images, _ = self.batches.batch(self.step_count)
        self.model.train()
        mu, logvar = self.model.encode(images)
        z = self.model.reparameterize(mu, logvar, generator=self.noise_rng)
        logits = self.model.decode_logits(z)  # (B, 784)
        cfg = self.config
        ramp = min(1.0, (self.step_count + 1) / cfg.kl_warmup_steps) if cfg.kl_warmup_steps else 1.0
        kl_weight = cfg.kl_weight * ramp
        losses = vae_loss(images, logits, mu, logvar, cfg.likelihood, cfg.log_norm_coef, kl_weight)
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        norm = grad_norm(self.model.parameters())
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.step_count += 1
        return scalars(
            {
                "loss": losses["loss"],
                "recon_loss": losses["recon"],
                "kl_loss": losses["kl"],
                "grad_norm": norm,
            }
        )

    def fit_prior(self) -> None:
        """Fit the mixture prior (if the model has one) to the encoder means of a fixed, seeded
        subset of the training images; a no-op if it already matches the current weights."""
        prior = self.model.prior
        if prior is None or self.prior_fitted_at == self.step_count:
            return
        rng = seeded_generator(self.config.seed + 3)
        n = min(self.config.prior_fit_points, len(self.images.images))
        pick = torch.randperm(len(self.images.images), generator=rng)[:n].to(self.device)
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            mu, _ = self.model.encode(self.images.images[pick])  # (n, latent)
        self.model.train(was_training)
        if torch.isfinite(mu).all():  # weights gone to NaN: the loss check reports that
            prior.fit(mu, self.config.prior_fit_iters, generator=rng)
        self.prior_fitted_at = self.step_count

    def export_model(self) -> VAE:
        self.fit_prior()
        return self.model

    def evaluate(self) -> Metrics:
        model = self.export_model()
        noise = self.fixed_noise
        if model.prior is not None:  # the same draws, from the mixture as it is fitted now
            noise = model.sample_latent(64, generator=seeded_generator(self.config.seed + 2))
        return evaluate_generator(model, noise, self.config.n_score_samples, self.eval_rng)


def train_vae(config: VAETrainConfig, on_step: OnStep | None = None) -> tuple[VAE, list[Metrics]]:
    """Train the VAE; return the model (eval mode) and its history."""
    trainer = VAETrainer(config)
    history = run_trainer(trainer, on_step)
    return trainer.export_model().eval(), history
