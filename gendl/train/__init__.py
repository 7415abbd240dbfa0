"""Training families and the named presets the CLI and the dashboard start runs from.

``make_trainer(family, config)`` builds a :class:`~gendl.train.common.Trainer`; ``PRESETS`` maps the
CLI's model names to a family and the config fields that differ from that family's defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gendl.config import config_from_dict, config_to_dict, deep_merge
from gendl.errors import ConfigError
from gendl.train import classifier, gan, sequence, vae
from gendl.train.classifier import ClassifierTrainConfig, ClassifierTrainer
from gendl.train.common import Trainer
from gendl.train.gan import GANTrainConfig, GANTrainer
from gendl.train.sequence import SequenceTrainConfig, SequenceTrainer
from gendl.train.spec import FormSpec
from gendl.train.vae import VAETrainConfig, VAETrainer


@dataclass(frozen=True)
class Family:
    name: str
    config_cls: type
    trainer_cls: Callable[[Any], Trainer]
    form: FormSpec  # the fields a person sets, with the validators' ranges


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("sequence", SequenceTrainConfig, SequenceTrainer, sequence.FORM),
        Family("gan", GANTrainConfig, GANTrainer, gan.FORM),
        Family("vae", VAETrainConfig, VAETrainer, vae.FORM),
        Family("classifier", ClassifierTrainConfig, ClassifierTrainer, classifier.FORM),
    )
}

MLP_GAN: dict[str, Any] = {
    "model": {"arch": "mlp_bn", "noise": "normal"},
    "ema_decay": 0.999,
    "max_steps": 10_000,
}
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "rnn": ("sequence", {"model": {"model": "rnn", "forget_bias": 0.0}}),
    "lstm": ("sequence", {"model": {"model": "lstm"}}),
    # seed 000's MLP (BatchNorm generator, normal noise) and a moving average of G's weights:
    # IS 7.8 after 4,000 steps where seed 003's MLP reached 7.5 after 6,000
    "gan": ("gan", {**MLP_GAN, "loss": "bce"}),
    "lsgan": ("gan", {**MLP_GAN, "loss": "ls"}),
    # seed 003 trains its DCGAN with the least-squares loss: IS 8.55 where bce gave 8.26
    "dcgan": (
        "gan",
        {"model": {"arch": "infogan"}, "loss": "ls", "ema_decay": 0.999, "max_steps": 3000},
    ),
    # Bernoulli reconstruction (log C weight 0 scored best), a KL weight of 0.1 (sharper decodings),
    # KL warm-up, cosine decay, and samples from a 100-component mixture fitted to the encoder means
    # of 20,000 training images (N(0, I) samples of a model trained this way score about 7.5)
    "vae": (
        "vae",
        {
            "log_norm_coef": 0.0,
            "kl_weight": 0.1,
            "kl_warmup_steps": 1000,
            "lr_schedule": "cosine",
            "max_steps": 10_000,
            "eval_every": 1000,
            "prior_fit_points": 20_000,
            "prior_fit_iters": 20,
            "model": {"prior_components": 100},
        },
    ),
    "classifier": ("classifier", {}),
}


def family(name: str) -> Family:
    if not isinstance(name, str) or name not in FAMILIES:
        raise ConfigError(f"family must be one of {', '.join(FAMILIES)}; got {name!r}")
    return FAMILIES[name]


def build_config(family_name: str, overrides: dict[str, Any] | None = None) -> Any:
    """A validated training config: the family's defaults with ``overrides`` merged in."""
    cls = family(family_name).config_cls
    if overrides is not None and not isinstance(overrides, dict):
        raise ConfigError(f"config overrides must be a dict, got {type(overrides).__name__}")
    return config_from_dict(cls, deep_merge(config_to_dict(cls()), overrides or {}))


def preset_config(preset: str, overrides: dict[str, Any] | None = None) -> tuple[str, Any]:
    """``(family, config)`` for a CLI model name such as ``lsgan``, with further overrides."""
    if not isinstance(preset, str) or preset not in PRESETS:
        raise ConfigError(f"model must be one of {', '.join(PRESETS)}; got {preset!r}")
    name, values = PRESETS[preset]
    if overrides is not None and not isinstance(overrides, dict):
        raise ConfigError(f"config overrides must be a dict, got {type(overrides).__name__}")
    return name, build_config(name, deep_merge(values, overrides or {}))


def make_trainer(family_name: str, config: Any) -> Trainer:
    """The family's trainer for ``config`` (a config object, or a dict of overrides)."""
    if isinstance(config, dict):
        config = build_config(family_name, config)
    spec = family(family_name)
    if not isinstance(config, spec.config_cls):
        raise ConfigError(f"a {family_name} run needs a {spec.config_cls.__name__} or a dict")
    return spec.trainer_cls(config)
