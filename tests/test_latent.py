import numpy as np
import pytest
import torch
from torch import nn

from gendl.errors import ConfigError, GendlError
from gendl.latent import (
    LatentSearchError,
    endpoints_for_classes,
    endpoints_from_seeds,
    endpoints_zeros_to_ones,
    interpolate,
    lerp_path,
    slerp_path,
)
from gendl.models.gan import GAN, GANConfig
from gendl.models.vae import VAE, VAEConfig


def _numpy_slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Shoemake's formula on the raw vectors (the form usually quoted for equal norms)."""
    omega = np.arccos(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    t = t[:, None]
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def test_lerp_has_exact_endpoints_and_mean_midpoint():
    z0, z1 = torch.randn(7), torch.randn(1, 7)
    path = lerp_path(z0, z1, 9)
    assert path.shape == (9, 7)
    assert torch.equal(path[0], z0) and torch.equal(path[-1], z1[0])
    torch.testing.assert_close(path[4], (z0 + z1[0]) / 2)


def test_zeros_to_ones_in_nine_frames_is_seed_000():
    z0, z1 = endpoints_zeros_to_ones(100)
    path = interpolate(z0, z1, 9)
    expected = torch.stack([torch.full((100,), i / 8) for i in range(9)])  # alpha = i / 8
    torch.testing.assert_close(path, expected)
    # zero has no direction, so slerp walks the same straight line
    torch.testing.assert_close(interpolate(z0, z1, 9, method="slerp"), expected)


def test_slerp_matches_numpy_and_keeps_equal_norms():
    a, b = torch.randn(16, dtype=torch.float64), torch.randn(16, dtype=torch.float64)
    b = b * a.norm() / b.norm()
    path = slerp_path(a, b, 11)
    assert torch.equal(path[0], a) and torch.equal(path[-1], b)
    torch.testing.assert_close(path.norm(dim=1), a.norm().expand(11))
    reference = _numpy_slerp(a.numpy(), b.numpy(), np.linspace(0, 1, 11))
    np.testing.assert_allclose(path.numpy(), reference, rtol=1e-10, atol=1e-10)


def test_slerp_interpolates_norm_linearly_between_unequal_norms():
    a, b = torch.randn(8), 3 * torch.randn(8)
    path = slerp_path(a, b, 5)
    assert torch.equal(path[0], a) and torch.equal(path[-1], b)
    norms = torch.linspace(0, 1, 5) * (b.norm() - a.norm()) + a.norm()
    torch.testing.assert_close(path.norm(dim=1), norms)
    unit = _numpy_slerp((a / a.norm()).numpy(), (b / b.norm()).numpy(), np.linspace(0, 1, 5))
    torch.testing.assert_close(
        path / path.norm(dim=1, keepdim=True), torch.from_numpy(unit).float()
    )


def test_slerp_of_parallel_vectors_falls_back_to_lerp():
    a = torch.randn(6)
    for b in (2 * a, -a):
        torch.testing.assert_close(slerp_path(a, b, 4), lerp_path(a, b, 4))


def test_arguments_are_validated():
    z = torch.zeros(4)
    with pytest.raises(ConfigError, match="method must be one of lerp, slerp"):
        interpolate(z, z, 3, method="cubic")
    for n_steps in (1, 257, 3.0):
        with pytest.raises(ConfigError, match="n_steps"):
            interpolate(z, z, n_steps)
    with pytest.raises(ConfigError, match="endpoints"):
        lerp_path(z, torch.zeros(5), 3)
    for bad in (torch.zeros(2, 4), torch.tensor(1.0)):
        with pytest.raises(ConfigError, match="endpoints"):
            lerp_path(bad, bad, 3)


def test_endpoints_from_seeds_use_the_model_noise():
    model = GAN(GANConfig(latent_dim=12, noise="uniform"))
    a, b = endpoints_from_seeds(model, 1, 2)
    assert a.shape == b.shape == (12,) and not torch.equal(a, b)
    assert a.abs().max() <= 1 and b.abs().max() <= 1
    again = endpoints_from_seeds(model, 1, 2)
    assert torch.equal(a, again[0]) and torch.equal(b, again[1])


class BrightnessClassifier(nn.Module):
    """A real (if silly) digit classifier: logits are a fixed linear function of the image's mean
    brightness m, logit_k = s (2 c_k m - c_k^2), so class k wins when m is nearest to c_k."""

    def __init__(self, centres: torch.Tensor, sharpness: float) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 10)
        with torch.no_grad():
            self.linear.weight.copy_(2 * sharpness * centres.view(10, 1))
            self.linear.bias.copy_(-sharpness * centres.pow(2))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.linear(images.reshape(images.shape[0], -1).mean(1, keepdim=True))  # (B, 10)


@pytest.fixture
def vae_and_classifier():
    model = VAE(VAEConfig(latent_dim=2, encoder_dims=(16,), decoder_dims=(32,)))
    brightness = model.sample(2000, torch.Generator().manual_seed(99)).mean(dim=(1, 2, 3))
    centres = torch.quantile(brightness, torch.linspace(0.05, 0.95, 10))
    spacing = centres.diff().min()
    return model, BrightnessClassifier(centres, sharpness=20 / spacing.item() ** 2)


def test_endpoints_for_classes_decode_to_the_asked_digits(vae_and_classifier):
    model, classifier = vae_and_classifier
    for digit_a, digit_b in ((2, 7), (9, 0), (4, 4)):
        z_a, z_b = endpoints_for_classes(model, classifier, digit_a, digit_b, seed=5)
        probs = torch.softmax(classifier(model.decode(torch.stack([z_a, z_b]))), -1)
        assert probs.argmax(1).tolist() == [digit_a, digit_b]
        assert (probs.max(1).values >= 0.9).all()
        assert not torch.equal(z_a, z_b)
    again = endpoints_for_classes(model, classifier, 2, 7, seed=5)
    assert torch.equal(again[0], endpoints_for_classes(model, classifier, 2, 7, seed=5)[0])


def test_endpoints_for_classes_names_the_digit_it_cannot_find(vae_and_classifier):
    model, classifier = vae_and_classifier
    with torch.no_grad():
        classifier.linear.bias[6] -= 1e4  # digit 6 can no longer win
    with pytest.raises(LatentSearchError, match="digit 6") as info:
        endpoints_for_classes(model, classifier, 1, 6, max_tries=300)
    assert isinstance(info.value, GendlError)
    with pytest.raises(ConfigError, match="digit_b"):
        endpoints_for_classes(model, classifier, 1, 10)
