"""GAN generators and discriminators for MNIST; the architecture is a config field, not a file.

    mlp      seed 003 vanilla GAN: G z-1024-1024-784 (ReLU, Tanh), D 784-256-256-1 (LeakyReLU 0.01)
    mlp_bn   seed 000: G z-128-256-512-1024-784 (BatchNorm, LeakyReLU 0.2), D 784-512-256-1
    infogan  seed 003 "DCGAN": InfoGAN generator (FC, ConvT), conv discriminator (Conv, MaxPool, FC)
    dcgan    seed 004: ConvT generator 4x4 -> 7x7 -> 14x14 -> 28x28, strided conv discriminator

Every generator maps noise (B, latent_dim) to images (B, 1, 28, 28) in [-1, 1] (Tanh); every
discriminator maps such images to raw scores (B,). No discriminator ends in a Sigmoid (seeds 000 and
004 had one): the losses in :mod:`gendl.losses` take logits, which is numerically safer and is what
the least-squares loss of seed 003 expects anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from gendl.config import Field, check_int

NOISES = ("uniform", "normal")
IMAGE_SHAPE = (1, 28, 28)
N_PIXELS = 28 * 28


@dataclass(frozen=True)
class GANConfig:
    arch: str = "mlp"
    latent_dim: int = 100
    noise: str = (
        "uniform"  # seed 003: uniform in [-1, 1]; seed 000 and 004 draw standard normal noise
    )

    def __post_init__(self) -> None:
        ARCH.check(self.arch)
        LATENT_DIM.check(self.latent_dim)
        NOISE.check(self.noise)


# ---------------------------------------------------------------- building blocks


def _mlp(
    dims: tuple[int, ...], activation: Callable[[], nn.Module], batchnorm_from: int | None = None
) -> list[nn.Module]:
    """Linear layers through ``dims``; hidden layer ``i >= batchnorm_from`` gets BatchNorm1d before
    its activation (seed 000 order), and the last layer has no activation."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if i == len(dims) - 2:
            break
        if batchnorm_from is not None and i >= batchnorm_from:
            layers.append(nn.BatchNorm1d(n_out))
        layers.append(activation())
    return layers


def _mlp_generator(
    latent_dim: int,
    hidden: tuple[int, ...],
    activation: Callable[[], nn.Module],
    batchnorm_from: int | None = None,
) -> nn.Sequential:
    return nn.Sequential(
        *_mlp(
            (latent_dim, *hidden, N_PIXELS), activation, batchnorm_from
        ),  # (B, latent) -> (B, 784)
        nn.Tanh(),
        nn.Unflatten(1, IMAGE_SHAPE),  # (B, 784) -> (B, 1, 28, 28)
    )


def _mlp_discriminator(hidden: tuple[int, ...], slope: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Flatten(),  # (B, 1, 28, 28) -> (B, 784)
        *_mlp((N_PIXELS, *hidden, 1), partial(nn.LeakyReLU, slope)),  # -> (B, 1)
        nn.Flatten(0),  # -> (B,)
    )


def _infogan_generator(latent_dim: int) -> nn.Sequential:
    # seed 003 (InfoGAN paper, appendix C.1): ReLU *before* BatchNorm, as the seed has it
    return nn.Sequential(
        nn.Linear(latent_dim, 1024),
        nn.ReLU(),
        nn.BatchNorm1d(1024),
        nn.Linear(1024, 7 * 7 * 128),
        nn.ReLU(),
        nn.BatchNorm1d(7 * 7 * 128),
        nn.Unflatten(1, (128, 7, 7)),  # (B, 6272) -> (B, 128, 7, 7)
        nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1),  # -> (B, 64, 14, 14)
        nn.ReLU(),
        nn.BatchNorm2d(64),
        nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1),  # -> (B, 1, 28, 28)
        nn.Tanh(),
    )


def _conv_discriminator() -> nn.Sequential:
    # seed 003: the TensorFlow MNIST tutorial network, 1,102,721 parameters
    return nn.Sequential(
        nn.Conv2d(1, 32, 5),  # (B, 1, 28, 28) -> (B, 32, 24, 24)
        nn.LeakyReLU(0.01),
        nn.MaxPool2d(2),  # -> (B, 32, 12, 12)
        nn.Conv2d(32, 64, 5),  # -> (B, 64, 8, 8)
        nn.LeakyReLU(0.01),
        nn.MaxPool2d(2),  # -> (B, 64, 4, 4)
        nn.Flatten(),  # -> (B, 1024)
        nn.Linear(4 * 4 * 64, 4 * 4 * 64),
        nn.LeakyReLU(0.01),
        nn.Linear(4 * 4 * 64, 1),  # -> (B, 1)
        nn.Flatten(0),  # -> (B,)
    )


def _dcgan_generator(latent_dim: int) -> nn.Sequential:
    # seed 004: bias-free transposed convolutions, each followed by BatchNorm and ReLU
    def up(n_in: int, n_out: int, kernel: int, stride: int, padding: int) -> list[nn.Module]:
        conv = nn.ConvTranspose2d(n_in, n_out, kernel, stride, padding, bias=False)
        return [conv, nn.BatchNorm2d(n_out), nn.ReLU()]

    return nn.Sequential(
        nn.Unflatten(1, (latent_dim, 1, 1)),  # (B, latent) -> (B, latent, 1, 1)
        *up(latent_dim, 512, 4, 1, 0),  # -> (B, 512, 4, 4)
        *up(512, 256, 3, 2, 1),  # -> (B, 256, 7, 7)
        *up(256, 128, 4, 2, 1),  # -> (B, 128, 14, 14)
        nn.ConvTranspose2d(128, 1, 4, 2, 1, bias=False),  # -> (B, 1, 28, 28)
        nn.Tanh(),
    )


def _dcgan_discriminator() -> nn.Sequential:
    # seed 004: strided convolutions, LeakyReLU 0.2, BatchNorm on all but the first block
    def down(n_in: int, n_out: int, kernel: int, batchnorm: bool) -> list[nn.Module]:
        conv = nn.Conv2d(n_in, n_out, kernel, stride=2, padding=1, bias=False)
        norm = [nn.BatchNorm2d(n_out)] if batchnorm else []
        return [conv, *norm, nn.LeakyReLU(0.2)]

    return nn.Sequential(
        *down(1, 128, 4, batchnorm=False),  # (B, 1, 28, 28) -> (B, 128, 14, 14)
        *down(128, 256, 4, batchnorm=True),  # -> (B, 256, 7, 7)
        *down(256, 512, 3, batchnorm=True),  # -> (B, 512, 4, 4)
        nn.Conv2d(512, 1, 4, bias=False),  # -> (B, 1, 1, 1)
        nn.Flatten(0),  # -> (B,)
    )


# arch -> (generator builder taking latent_dim, discriminator builder)
_ARCHS: dict[str, tuple[Callable[[int], nn.Module], Callable[[], nn.Module]]] = {
    "mlp": (
        partial(_mlp_generator, hidden=(1024, 1024), activation=nn.ReLU),
        partial(_mlp_discriminator, hidden=(256, 256), slope=0.01),
    ),
    "mlp_bn": (
        # seed 000: no BatchNorm after the first hidden layer, BatchNorm after the other three
        partial(
            _mlp_generator,
            hidden=(128, 256, 512, 1024),
            activation=partial(nn.LeakyReLU, 0.2),
            batchnorm_from=1,
        ),
        partial(_mlp_discriminator, hidden=(512, 256), slope=0.2),
    ),
    "infogan": (_infogan_generator, _conv_discriminator),
    "dcgan": (_dcgan_generator, _dcgan_discriminator),
}
GAN_ARCHS = tuple(_ARCHS)
ARCH = Field(
    "arch",
    "architecture",
    "choice",
    choices=GAN_ARCHS,
    help="mlp, mlp_bn (BatchNorm in G): fully connected; infogan, dcgan: convolutional, slower",
)
LATENT_DIM = Field(
    "latent_dim", "latent size", "int", 1, 1024, help="numbers in the noise vector G starts from"
)
NOISE = Field(
    "noise",
    "noise distribution",
    "choice",
    choices=NOISES,
    help="uniform in [-1, 1] or standard normal",
    advanced=True,
)


# ---------------------------------------------------------------- the model


class GAN(nn.Module):
    """A generator and a discriminator. ``generate`` gives images in [-1, 1] for training;
    ``decode`` and ``sample`` give images in [0, 1] for viewing and scoring."""

    def __init__(self, config: GANConfig = GANConfig()) -> None:
        super().__init__()
        self.config = config
        build_generator, build_discriminator = _ARCHS[config.arch]
        self.generator = build_generator(config.latent_dim)
        self.discriminator = build_discriminator()
        # convolution weights in channels-last layout, so oneDNN runs the convolutions and the max
        # pooling without layout conversions: an InfoGAN-style DCGAN step in bf16 on 2 cores takes
        # 124 ms instead of 173 (NCHW max pooling alone cost 4 ms a call); a no-op for the MLPs
        self.to(memory_format=torch.channels_last)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Noise (n, latent_dim) from the configured distribution, drawn with ``generator`` on its
        device (the CPU without one: a CPU seed gives the same noise on any model's device), then
        moved to the model's."""
        check_int("n", n, 1, 10_000_000)
        shape = (n, self.config.latent_dim)
        device = generator.device if generator is not None else torch.device("cpu")
        if self.config.noise == "uniform":
            z = torch.rand(shape, generator=generator, device=device) * 2 - 1  # seed 003
        else:
            z = torch.randn(shape, generator=generator, device=device)
        return z.to(next(self.parameters()).device)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Raw generator output (B, 1, 28, 28) in [-1, 1], in the module's current mode."""
        return self.generator(z)

    def discriminate(self, images: torch.Tensor) -> torch.Tensor:
        """Scores (B,) (logits) for images (B, 1, 28, 28) in [-1, 1]."""
        return self.discriminator(images)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generate(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, 1, 28, 28) in [0, 1], generated in eval mode so BatchNorm uses its running
        statistics (any batch size, even 1); the module's mode is restored afterwards."""
        was_training = self.training
        self.eval()
        try:
            return (self.generator(z) + 1) / 2  # seed 003 deprocess_img
        finally:
            self.train(was_training)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images (n, 1, 28, 28) in [0, 1] from fresh noise."""
        return self.decode(self.sample_latent(n, generator))
