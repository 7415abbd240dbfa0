"""The variational autoencoder of seed 003: MLP encoder and decoder on flattened MNIST.

The encoder q(z|x) maps 2x - 1 (seed 003 preprocess_img) through ReLU layers to the mean and log
variance of a diagonal Gaussian; the decoder p(x|z) maps z to per-pixel logits. ``sigmoid(logits)``
is both the Bernoulli mean and the continuous-Bernoulli parameter lambda; ``decode`` shows it.
The losses (Bernoulli or continuous Bernoulli, closed-form KL) live in :mod:`gendl.losses`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gendl.config import Field, check_int, check_int_tuple
from gendl.models.latent_prior import GaussianMixturePrior

N_PIXELS = 28 * 28
LATENT_DIM = Field(
    "latent_dim", "latent size", "int", 1, 512, help="numbers in the code each image is squeezed to"
)
PRIOR_COMPONENTS = Field(
    "prior_components",
    "mixture prior components (0: sample N(0, I))",
    "int",
    0,
    256,
    help="Samples come from a Gaussian mixture fitted to where the encoder puts the training "
    "digits, instead of the N(0, I) the VAE was trained towards.",
)


@dataclass(frozen=True)
class VAEConfig:
    latent_dim: int = 20  # seed 003 Z_DIM
    encoder_dims: tuple[int, ...] = (512, 256, 128)  # seed 003: four Linear layers
    decoder_dims: tuple[int, ...] = (400, 600, 800)
    # 0: sample z ~ N(0, I); K > 0: from a K-component Gaussian mixture fitted to the encoder
    # means of the training set (gendl.models.latent_prior), which is N(0, I) until fitted
    prior_components: int = 0

    def __post_init__(self) -> None:
        LATENT_DIM.check(self.latent_dim)
        PRIOR_COMPONENTS.check(self.prior_components)
        check_int_tuple("encoder_dims", self.encoder_dims, 1, 4096)
        check_int_tuple("decoder_dims", self.decoder_dims, 1, 4096)


def _relu_mlp(dims: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for n_in, n_out in zip(dims[:-1], dims[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])  # seed 003: no non-linearity on the last layer


class VAE(nn.Module):
    """Images (B, 1, 28, 28) or (B, 784) in [0, 1] -> (logits (B, 784), mu, logvar (B, latent))."""

    def __init__(self, config: VAEConfig = VAEConfig()) -> None:
        super().__init__()
        self.config = config
        self.encoder = _relu_mlp((N_PIXELS, *config.encoder_dims, 2 * config.latent_dim))
        self.decoder = _relu_mlp((config.latent_dim, *config.decoder_dims, N_PIXELS))
        self.prior: GaussianMixturePrior | None = None
        if config.prior_components:
            self.prior = GaussianMixturePrior(config.prior_components, config.latent_dim)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log variance (B, latent_dim) of q(z|x)."""
        x = x.reshape(x.shape[0], -1)  # (B, 1, 28, 28) -> (B, 784)
        if x.shape[1] != N_PIXELS:
            raise ValueError(f"VAE.encode expects 784 pixels per image, got {x.shape[1]}")
        out = self.encoder(2 * x - 1)  # (B, 2 * latent)
        mu, logvar = out.chunk(2, dim=1)  # seed 003: first half mean, second half log variance
        return mu, logvar

    def reparameterize(
        self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z = mu + sigma * eps with eps ~ N(0, I): a sample that gradients flow through.

        ``eps`` is drawn with ``generator`` on its device (the CPU without one: a seeded CPU
        generator repeats a run on any device), then moved to ``mu``'s.
        """
        device = generator.device if generator is not None else torch.device("cpu")
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=device)
        eps = eps.to(mu.device)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Per-pixel logits (B, 784) of p(x|z)."""
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, 1, 28, 28) in [0, 1]: lambda = sigmoid(logits), as seed 003 displays them."""
        return torch.sigmoid(self.decode_logits(z)).view(-1, 1, 28, 28)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        return self.decode_logits(self.reparameterize(mu, logvar)), mu, logvar

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Prior samples (n, latent_dim) on the model's device: N(0, I) or the fitted mixture."""
        check_int("n", n, 1, 10_000_000)
        if self.prior is not None:
            return self.prior.sample(n, generator)
        device = generator.device if generator is not None else torch.device("cpu")
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=device)
        return z.to(next(self.parameters()).device)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images (n, 1, 28, 28) in [0, 1] decoded from prior samples."""
        return self.decode(self.sample_latent(n, generator))
