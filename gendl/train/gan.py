"""One training loop for every GAN variant: the loss (bce, ls) and architecture are config fields.

python -m gendl train gan      # seed 003 MLP GAN, non-saturating BCE
python -m gendl train lsgan    # same networks, least-squares loss
python -m gendl train dcgan    # InfoGAN generator + conv discriminator
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

from gendl.config import Field, check_config
from gendl.data import BatchStream, load_images
from gendl.losses import GAN_LOSSES, discriminator_loss, generator_loss
from gendl.models.gan import ARCH, GAN, LATENT_DIM, NOISE, GANConfig
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
from gendl.train.memory import check_memory, gan_bytes
from gendl.train.scoring import evaluate_generator
from gendl.train.spec import FormSpec

LOSS = Field(
    "loss",
    "loss",
    "choice",
    choices=GAN_LOSSES,
    help="bce: the original GAN's cross-entropy; ls: least squares (LSGAN), steadier gradients",
)
LR_D = learning_rate("lr_d", "learning rate D", " of the discriminator")
LR_G = learning_rate("lr_g", "learning rate G", " of the generator")
BETA1 = Field(
    "beta1",
    "Adam beta1",
    "float",
    0.0,
    0.999,
    0.05,
    help="momentum of both optimizers; the DCGAN paper's 0.5 keeps D from winning early",
    advanced=True,
)
D_STEPS = Field(
    "d_steps",
    "D steps per G step",
    "int",
    1,
    20,
    1,
    help="discriminator updates before each generator update",
    slider=True,
)
EMA_DECAY = Field(
    "ema_decay",
    "moving average of G (decay)",
    "float",
    0.0,
    0.9999,
    0.001,
    help="above 0, the generator that is scored and saved averages the trained one's weights, "
    "which smooths out the oscillation of GAN training",
    advanced=True,
)
BATCH_SIZE = batch_size(2, 8192, "; BatchNorm needs two")


@dataclass(frozen=True)
class GANTrainConfig:
    model: GANConfig = field(default_factory=GANConfig)
    loss: str = "bce"
    lr_d: float = 1e-3  # seed 003: Adam 1e-3 for both networks
    lr_g: float = 1e-3
    beta1: float = 0.5  # seed 003 / DCGAN paper; beta1 = 0.9 lets D win early and G stalls
    d_steps: int = 1  # discriminator updates per generator update
    # > 0: the generator that is scored and saved is an exponential moving average of the trained
    # one's weights (Yazici et al. 2019), which smooths out the oscillation of GAN training
    ema_decay: float = 0.0
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
        check_config("model", self.model, GANConfig)
        LOSS.check(self.loss)
        LR_D.check(self.lr_d)
        LR_G.check(self.lr_g)
        BETA1.check(self.beta1)
        D_STEPS.check(self.d_steps)
        EMA_DECAY.check(self.ema_decay)
        BATCH_SIZE.check(self.batch_size)
        check_generator_run(self)
        check_memory(self, gan_bytes(self), ("model.arch", "batch_size"))


FORM = FormSpec(
    (
        ARCH.under("model"),
        LATENT_DIM.under("model"),
        LOSS,
        D_STEPS,
        LR_D,
        LR_G,
        BATCH_SIZE,
        DATA,
        SEED,
        N_SCORE_SAMPLES,
        MAX_STEPS,
        MAX_SECONDS,
        EVAL_EVERY,
        PRECISION,
        BETA1,
        EMA_DECAY,
        NOISE.under("model"),
        DEVICE,
    )
)


class GANTrainer(Trainer):
    """``step("all")`` is ``d_steps`` discriminator updates then one generator update; ``"d"`` and
    ``"g"`` update one network alone (for single-stepping a paused run). Seeds: ``seed`` initialises
    and orders the data, ``seed + 1`` draws training noise, ``seed + 2`` the fixed grid noise."""

    family = "gan"
    parts = ("all", "d", "g")
    stateful = ("model", "opt_d", "opt_g", "noise_rng", "eval_rng", "ema")

    def __init__(self, config: GANTrainConfig) -> None:
        super().__init__(config)
        torch.manual_seed(config.seed)
        self.model = GAN(config.model).to(self.device)
        betas = (config.beta1, 0.999)
        self.opt_d = adam(self.model.discriminator.parameters(), config.lr_d, betas)
        self.opt_g = adam(self.model.generator.parameters(), config.lr_g, betas)
        images = load_images(config.data).to(self.device)
        self.batches = BatchStream(images, config.batch_size, config.seed)
        self.real_batches_used = 0
        self.noise_rng = seeded_generator(config.seed + 1, self.device)
        self.eval_rng = seeded_generator(config.seed + 2, self.device)
        self.fixed_noise = self.model.sample_latent(64, generator=seeded_generator(config.seed + 2))
        self.ema = None
        if config.ema_decay > 0:
            self.ema = copy.deepcopy(self.model.generator).requires_grad_(False)

    def _fake(self) -> torch.Tensor:
        z = self.model.sample_latent(self.config.batch_size, generator=self.noise_rng)
        return self.model.generate(z)  # (B, 1, 28, 28) in [-1, 1]

    def _step_d(self) -> Metrics:
        # batch index = D updates so far, so a resumed run sees the same real batches
        real, _ = self.batches.batch(self.real_batches_used)
        self.real_batches_used += 1
        real = 2 * real - 1  # [0, 1] -> [-1, 1], the generator's range (seed 003 preprocess_img)
        with torch.no_grad():
            fake = self._fake()
        d = self.model.discriminator
        real_scores, fake_scores = d(real), d(fake)
        loss = discriminator_loss(self.config.loss, real_scores, fake_scores)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        norm = grad_norm(d.parameters())
        self.opt_d.step()
        return {
            "d_loss": loss,
            "d_real_score": real_scores.float().mean(),
            "d_fake_score": fake_scores.float().mean(),
            "d_grad_norm": norm,
        }

    def _step_g(self) -> Metrics:
        scores = self.model.discriminator(self._fake())
        loss = generator_loss(self.config.loss, scores)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        norm = grad_norm(self.model.generator.parameters())
        self.opt_g.step()
        return {"g_loss": loss, "g_grad_norm": norm}

    def step(self, part: str = "all") -> Metrics:
        self.check_part(part)
        self.model.train()
        metrics: Metrics = {}
        if part in ("all", "d"):
            for _ in range(self.config.d_steps if part == "all" else 1):
                metrics.update(self._step_d())
        if part in ("all", "g"):
            metrics.update(self._step_g())
            self._update_ema()
        self.step_count += 1
        return scalars(metrics)

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.ema is None:
            return
        # warm-up as in TensorFlow's ExponentialMovingAverage: early averages forget the random init
        decay = min(self.config.ema_decay, (1 + self.step_count) / (10 + self.step_count))
        generator = self.model.generator
        for average, current in zip(self.ema.parameters(), generator.parameters(), strict=True):
            average.lerp_(current, 1 - decay)
        for average, current in zip(self.ema.buffers(), generator.buffers(), strict=True):
            average.copy_(current)  # BatchNorm statistics: the latest, not averaged

    def export_model(self) -> GAN:
        """The trained GAN, its generator replaced by the weight average when ``ema_decay > 0``."""
        if self.ema is None:
            return self.model
        model = copy.deepcopy(self.model)
        model.generator.load_state_dict(self.ema.state_dict())
        return model

    def evaluate(self) -> Metrics:
        return evaluate_generator(
            self.export_model(), self.fixed_noise, self.config.n_score_samples, self.eval_rng
        )

    def state_dict(self) -> dict:
        return {**super().state_dict(), "real_batches_used": self.real_batches_used}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.real_batches_used = state["real_batches_used"]


def train_gan(config: GANTrainConfig, on_step: OnStep | None = None) -> tuple[GAN, list[Metrics]]:
    """Train a GAN variant; return the model (eval mode; averaged if ``ema_decay``) and history."""
    trainer = GANTrainer(config)
    history = run_trainer(trainer, on_step)
    return trainer.export_model().eval(), history
