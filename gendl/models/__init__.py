"""Pure-torch models, one frozen config dataclass each. ``MODEL_KINDS`` maps a checkpoint kind to them."""

from gendl.models.classifier import ClassifierConfig, MNISTClassifier
from gendl.models.gan import GAN, GANConfig
from gendl.models.sequence import SequenceClassifier, SequenceConfig
from gendl.models.vae import VAE, VAEConfig

MODEL_KINDS = {
    "sequence": (SequenceConfig, SequenceClassifier),
    "gan": (GANConfig, GAN),
    "vae": (VAEConfig, VAE),
    "classifier": (ClassifierConfig, MNISTClassifier),
}
GENERATIVE_KINDS = ("gan", "vae")

__all__ = [
    "GAN",
    "GANConfig",
    "VAE",
    "VAEConfig",
    "SequenceClassifier",
    "SequenceConfig",
    "MNISTClassifier",
    "ClassifierConfig",
    "MODEL_KINDS",
    "GENERATIVE_KINDS",
]
