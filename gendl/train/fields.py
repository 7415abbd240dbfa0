"""The fields every training family's config shares (budget, evaluation, seed, data, precision,
device, scoring), with their ranges and help, and their checks: one definition each, used by the
families' form specs and validators.
"""

from __future__ import annotations

from typing import Any

from gendl.config import Field
from gendl.data import DATASETS
from gendl.device import check_device, device_choices
from gendl.errors import ConfigError

MAX_STEPS = Field(
    "max_steps",
    "max steps",
    "int",
    1,
    10_000_000,
    100,
    help="the run stops after this many optimisation steps",
    optional=True,
)
MAX_SECONDS = Field(
    "max_seconds",
    "max seconds",
    "float",
    0.0,
    7 * 24 * 3600.0,
    30.0,
    help="the run stops after this much training time",
    low_inclusive=False,
    optional=True,
)
EVAL_EVERY = Field(
    "eval_every",
    "evaluate every (steps)",
    "int",
    1,
    10_000_000,
    50,
    help="test accuracy, sample grid and scores are computed this often",
)
SEED = Field(
    "seed",
    "seed",
    "int",
    0,
    2**31 - 1,
    help="the same seed and settings train the same model again",
)
DATA = Field(
    "data",
    "data",
    "choice",
    choices=DATASETS,
    help="fake: 512 random images, for a quick smoke run",
)
PRECISIONS = ("fp32", "bf16")
PRECISION = Field(
    "precision",
    "matrix products in",
    "choice",
    choices=PRECISIONS,
    help="bf16: products and convolutions in bfloat16, weights and losses in float32; "
    "1.5-1.7x faster steps on CPUs with bfloat16 instructions (avx512_bf16), slower on others",
    advanced=True,
)
DEVICE = Field(
    "device",
    "train on",
    "choice",
    choices=device_choices(),
    help="auto: the GPU when torch sees one, else the CPU; cuda:N names a GPU",
    advanced=True,
)
N_SCORE_SAMPLES = Field(
    "n_score_samples",
    "samples scored per evaluation",
    "int",
    0,
    100_000,
    500,
    help="0 skips the inception score; otherwise at least 10",
)


def batch_size(low: int, high: int, why: str = "") -> Field:
    """The batch size field; its bounds differ by family (BatchNorm needs two samples)."""
    return Field(
        "batch_size", "batch size", "int", low, high, help="examples per optimisation step" + why
    )


def learning_rate(name: str = "lr", label: str = "learning rate", what: str = "") -> Field:
    return Field(
        name,
        label,
        "float",
        0.0,
        1.0,
        1e-4,
        help=f"step size of the optimizer{what}",
        low_inclusive=False,
        log=True,
    )


def check_budget(max_steps: int | None, max_seconds: float | None) -> None:
    """At least one of the two budgets must be set; each, when set, must be positive."""
    if max_steps is None and max_seconds is None:
        raise ConfigError("set max_steps or max_seconds (or both); got neither")
    MAX_STEPS.check(max_steps)
    MAX_SECONDS.check(max_seconds)


def check_generator_run(config: Any) -> None:
    """The fields every generator trainer (GAN, VAE) shares: training precision, budget,
    evaluation cadence and sample count, seed, data set, device."""
    PRECISION.check(config.precision)
    check_budget(config.max_steps, config.max_seconds)
    EVAL_EVERY.check(config.eval_every)
    N_SCORE_SAMPLES.check(config.n_score_samples)
    if 0 < config.n_score_samples < 10:  # too few samples to score
        raise ConfigError(
            f"n_score_samples must be 0 or in [10, 100000], got {config.n_score_samples}"
        )
    SEED.check(config.seed)
    DATA.check(config.data)
    check_device(config.device)
