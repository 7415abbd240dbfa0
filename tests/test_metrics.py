import numpy as np
import pytest
import torch
from torch import nn

from gendl.errors import ConfigError
from gendl.metrics import class_histogram, classifier_probs, inception_score, score_generator
from gendl.models.vae import VAE, VAEConfig


def _reference_is(probs: np.ndarray, n_splits: int) -> tuple[float, float]:
    """Barratt and Sharma eq. 1, written directly in numpy, one value per split."""
    scores = []
    for part in np.array_split(probs, n_splits):
        marginal = part.mean(axis=0)
        kl = np.sum(part * (np.log(part) - np.log(marginal)), axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def test_uniform_predictions_score_exactly_one():
    mean, std = inception_score(torch.full((50, 10), 0.1), n_splits=5)
    assert mean == 1.0 and std == 0.0


def test_balanced_confident_predictions_score_the_class_count():
    onehot = torch.eye(10)[torch.arange(200) % 10]  # every split of 20 holds each class twice
    mean, std = inception_score(onehot, n_splits=10)
    assert mean == pytest.approx(10.0, abs=1e-6) and std == pytest.approx(0.0, abs=1e-6)
    assert inception_score(torch.eye(7)[torch.arange(70) % 7], 1)[0] == pytest.approx(7.0)


def test_a_single_class_scores_one_without_nan():
    onehot = torch.zeros(30, 10)
    onehot[:, 3] = 1.0
    assert inception_score(onehot, n_splits=3) == (1.0, 0.0)


def test_matches_numpy_reference_on_dirichlet_probabilities():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(10, 0.3), size=1003)  # uneven splits on purpose
    for n_splits in (1, 4, 10):
        mean, std = inception_score(torch.from_numpy(probs).float(), n_splits=n_splits)
        ref_mean, ref_std = _reference_is(probs, n_splits)
        assert mean == pytest.approx(ref_mean, rel=1e-5)
        assert std == pytest.approx(ref_std, rel=1e-3, abs=1e-6)
    assert 1.0 < mean < 10.0


@pytest.mark.parametrize("n_splits", [0, 11, -1, 2.5])
def test_n_splits_is_validated(n_splits):
    with pytest.raises(ConfigError, match="n_splits"):
        inception_score(torch.full((10, 10), 0.1), n_splits=n_splits)


def test_class_histogram_matches_bincount():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(10), size=500)
    expected = np.bincount(probs.argmax(1), minlength=10)
    assert class_histogram(torch.from_numpy(probs)).tolist() == expected.tolist()
    labels = rng.integers(0, 4, size=77)
    counts = class_histogram(torch.from_numpy(labels), n_classes=10)
    assert counts.tolist() == np.bincount(labels, minlength=10).tolist()
    with pytest.raises(ConfigError, match="labels"):
        class_histogram(torch.tensor([0, 10]))
    with pytest.raises(ConfigError, match="classes"):
        class_histogram(torch.rand(5, 3))


class _DropoutClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(784, 10))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


def test_classifier_probs_are_eval_mode_softmax_and_restore_the_mode():
    classifier = _DropoutClassifier().train()
    images = torch.rand(25, 1, 28, 28)
    probs = classifier_probs(classifier, images, batch_size=7)
    assert classifier.training and not probs.requires_grad
    expected = torch.softmax(classifier.net[2](images.view(25, -1)), -1)  # no dropout
    torch.testing.assert_close(probs, expected)


def test_score_generator_equals_scoring_the_same_samples_by_hand():
    model = VAE(VAEConfig(latent_dim=2, encoder_dims=(16,), decoder_dims=(32,))).train()
    classifier = _DropoutClassifier()
    scores = score_generator(model, classifier, 60, torch.Generator().manual_seed(3), 25, 3)
    assert model.training and classifier.training
    generator = torch.Generator().manual_seed(3)
    images = torch.cat([model.sample(k, generator=generator) for k in (25, 25, 10)])
    mean, std = inception_score(classifier_probs(classifier, images), 3)
    assert scores["inception_score"] == pytest.approx(mean)
    assert scores["inception_std"] == pytest.approx(std)
    assert sum(scores["histogram"]) == 60 and len(scores["histogram"]) == 10
    assert all(isinstance(c, int) for c in scores["histogram"])
    with pytest.raises(ConfigError, match="n_splits"):
        score_generator(model, classifier, 5, n_splits=10)


@pytest.mark.parametrize(
    ("n", "splits"), [(100, 2), (2000, 2), (3500, 3), (10_000, 10), (30_000, 10)]
)
def test_score_generator_splits_into_parts_of_a_thousand_by_default(n, splits):
    model = VAE(VAEConfig(latent_dim=2, encoder_dims=(4,), decoder_dims=(4,)))
    classifier = _DropoutClassifier()
    scores = score_generator(model, classifier, n, torch.Generator().manual_seed(0))
    images = model.sample(n, generator=torch.Generator().manual_seed(0))
    mean, std = inception_score(classifier_probs(classifier, images), splits)
    assert scores["inception_score"] == pytest.approx(mean)
    assert scores["inception_std"] == pytest.approx(std)
