"""A Gaussian-mixture prior fitted to where the encoder puts the training images.

A VAE samples z ~ N(0, I), but its encoder packs the training digits into clusters that do not
fill that ball: prior samples that fall between clusters decode to blends no classifier can name.
Fitting a mixture of K full-covariance Gaussians to the encoder means after training and sampling
from it instead ("ex-post density estimation", Ghosh et al. 2020, From Variational to Deterministic
Autoencoders, section 4) keeps the encoder, decoder and training loss of the VAE unchanged.

Before it is fitted the mixture is K copies of N(0, I), so it samples like the standard prior.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gendl.config import check_int

JITTER = 1e-4  # added to each covariance's diagonal so a component on a few points stays proper


def _scale_tril(covs: torch.Tensor) -> torch.Tensor:
    """Cholesky factors (k, dim, dim) of covariances that rounding may have left barely
    indefinite (points on a line, a component with almost no mass, huge latents): more jitter,
    relative to each matrix's scale, until every factor exists; the diagonal as a last resort."""
    eye = torch.eye(covs.shape[-1], dtype=covs.dtype)
    scale = covs.diagonal(dim1=1, dim2=2).mean(1).abs().clamp(min=1.0)[:, None, None]  # (k,1,1)
    for relative in (0.0, 1e-6, 1e-4, 1e-2):
        tril, info = torch.linalg.cholesky_ex(covs + (JITTER + relative * scale) * eye)
        if not info.any():
            return tril
    return torch.diag_embed(covs.diagonal(dim1=1, dim2=2).clamp(min=JITTER).sqrt())


class GaussianMixturePrior(nn.Module):
    """K full-covariance Gaussians in a ``dim``-dimensional latent space, held as buffers (they are
    fitted, not trained by gradient), so they travel in the model's state_dict."""

    def __init__(self, n_components: int, dim: int) -> None:
        super().__init__()
        check_int("n_components", n_components, 1, 1024)
        check_int("dim", dim, 1, 4096)
        self.register_buffer("weights", torch.full((n_components,), 1.0 / n_components))
        self.register_buffer("means", torch.zeros(n_components, dim))
        self.register_buffer("scale_tril", torch.eye(dim).repeat(n_components, 1, 1))

    @property
    def n_components(self) -> int:
        return self.weights.shape[0]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` latents (n, dim): a component by weight, then that Gaussian. Draws on the
        generator's device (the CPU without one), so a seed gives the same latents on any model's."""
        check_int("n", n, 1, 10_000_000)
        device = generator.device if generator is not None else torch.device("cpu")
        weights, means, tril = (t.to(device) for t in (self.weights, self.means, self.scale_tril))
        component = torch.multinomial(weights, n, replacement=True, generator=generator)  # (n,)
        eps = torch.randn(n, means.shape[1], 1, generator=generator, device=device)  # (n, dim, 1)
        z = means[component] + (tril[component] @ eps).squeeze(-1)  # (n, dim)
        return z.to(self.means.device)

    @torch.no_grad()
    def fit(self, z: torch.Tensor, iters: int = 50, generator: torch.Generator | None = None):
        """``iters`` steps of expectation-maximisation on points ``z`` (N, dim), started from K
        distinct points.

        Every step works on the outer products z z^T, computed once and kept as their upper
        triangles (N, dim (dim + 1) / 2): the Mahalanobis terms are then z^T P z - 2 z^T P m +
        m^T P m with P the precision, and the new covariances E[z z^T] - m m^T, all as matrix
        products. They run in float32 on points centred on their mean (so E[z z^T] - m m^T loses
        little to rounding).
        """
        n, dim = z.shape
        k = self.n_components
        if n < k:
            raise ValueError(f"fitting {k} components needs at least {k} points, got {n}")
        if not torch.isfinite(z).all():
            raise ValueError("cannot fit a mixture to points that are not all finite")
        z = z.detach().to(torch.float64).cpu()
        center = z.mean(0)  # (dim,)
        z = (z - center).to(torch.float32)
        rows, cols = torch.triu_indices(dim, dim)  # (t,) each, t = dim (dim + 1) / 2
        outer = z[:, rows] * z[:, cols]  # (n, t) upper triangles of z z^T
        twice_off = torch.where(rows == cols, 1.0, 2.0)  # (t,) off-diagonal terms count twice
        eye = torch.eye(dim, dtype=z.dtype)
        means = z[torch.randperm(n, generator=generator)[:k]].clone()  # (k, dim)
        covs = eye.repeat(k, 1, 1) * z.var(0).mean()  # (k, dim, dim)
        log_w = torch.full((k,), -math.log(k), dtype=z.dtype)
        for _ in range(iters):
            tril = _scale_tril(covs)  # (k, dim, dim)
            precision = torch.cholesky_inverse(tril)  # (k, dim, dim)
            pm = (precision @ means[:, :, None]).squeeze(-1)  # (k, dim)
            quad = outer @ (precision[:, rows, cols] * twice_off).T  # (n, k): z^T P z
            mahalanobis = quad - 2 * z @ pm.T + (means * pm).sum(1)  # (n, k)
            log_det = tril.diagonal(dim1=1, dim2=2).log().sum(1)  # (k,) half log det
            log_p = -0.5 * mahalanobis - log_det + log_w  # (n, k), up to a constant
            resp = (log_p - log_p.logsumexp(1, keepdim=True)).exp()  # (n, k) responsibilities
            mass = resp.sum(0) + 1e-10  # (k,)
            log_w = (mass / n).log()
            means = (resp.T @ z) / mass[:, None]  # (k, dim)
            second = torch.zeros(k, dim, dim, dtype=z.dtype)
            second[:, rows, cols] = (resp.T @ outer) / mass[:, None]  # upper triangle of E[z z^T]
            second = second.triu() + second.triu(1).transpose(1, 2)  # (k, dim, dim)
            covs = second - means[:, :, None] * means[:, None, :]
            covs = 0.5 * (covs + covs.transpose(1, 2))  # symmetric to the last bit
        tril = _scale_tril(covs)
        dtype = self.means.dtype
        self.weights.copy_(log_w.exp().to(dtype))
        self.means.copy_((means.to(torch.float64) + center).to(dtype))
        self.scale_tril.copy_(tril.to(dtype))
        return self
