"""Random configs against the validator and a one-step run: nothing but the project's own errors.

Every family's config is built from random overrides: wrong types, huge, negative, zero, NaN and
infinite numbers, unknown keys and names, nested dicts where a number belongs. A rejection must be a
GendlError whose one-line message names a key that was changed; an accepted config must train one
step (tiny sizes on the fake data set) and evaluate without error. The default suite builds 600
configs and runs 40; ``-m slow`` runs 500 more.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gendl.cli import parse_overrides
from gendl.config import config_to_dict
from gendl.errors import ConfigError, GendlError
from gendl.train import FAMILIES, PRESETS, build_config, make_trainer, preset_config
from gendl.train.common import Clock, train_step

VALIDATOR_EXAMPLES = 150  # per family: 600 configs
RUN_EXAMPLES, SLOW_RUN_EXAMPLES = 20, 125  # per family: 80 runs by default, 500 with -m slow
# About 1 config in 8 drawn is valid (up to three fields changed, each often out of range): the
# default runs draw the same examples every time (derandomized), so whether both paths are
# exercised does not depend on the draw (10 random one-step VAE configs were all refused in one CI
# run); the slow runs draw new ones each time.

# every name some config field accepts, and some it does not
NAMES = (
    *("rnn", "lstm", "scratch", "torch", "onehot", "scalar", "default", "randn", "adam"),
    *("rmsprop", "mlp", "mlp_bn", "infogan", "dcgan", "bce", "ls", "uniform", "normal", "fake"),
    *("mnist", "continuous_bernoulli", "bernoulli", "cnn", "wgan", "gru", "", "LSTM", "../etc"),
)
HUGE = (10**6, 2**31, 2**63, 10**400)  # out of range for every size; harmless where allowed
SPECIAL_FLOATS = (0.0, -0.0, -1.0, 1e-300, 1e300, math.nan, math.inf, -math.inf)

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(HUGE),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.one_of(st.integers(-3, 64), st.text(max_size=2)), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(-2, 2), max_size=2),
)


def plausible(default: Any, small: bool) -> st.SearchStrategy:
    """Values of the field's own type, in and out of range; ``small`` keeps accepted sizes tiny."""
    if isinstance(default, int) or default is None:  # None: an optional budget or threshold
        wide = st.integers(-3, 40) if small else st.integers(-(10**5), 10**5)
        return st.one_of(
            st.integers(1, 16), wide, st.sampled_from(HUGE), st.none(), st.floats(-2.0, 2.0)
        )
    if isinstance(default, float):
        return st.one_of(
            st.floats(1e-4, 0.9), st.floats(-2.0, 2.0), st.sampled_from(SPECIAL_FLOATS)
        )
    if isinstance(default, str):
        return st.one_of(st.just(default), st.sampled_from(NAMES))
    if isinstance(default, list):
        sizes = st.integers(-2, 24) if small else st.integers(-2, 5000)
        return st.one_of(
            st.lists(st.integers(1, 16), min_size=1, max_size=3),
            st.lists(st.one_of(sizes, st.sampled_from(HUGE)), max_size=9),
        )
    raise AssertionError(f"no strategy for {default!r}")


@st.composite
def overrides(draw, defaults: dict[str, Any], small: bool, fixed: tuple[str, ...] = ()) -> dict:
    """Up to three of ``defaults``' keys changed (dicts recursively), maybe an unknown key."""
    keys = [k for k in defaults if k not in fixed]
    chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=3)) if keys else []
    result: dict[str, Any] = {}
    for key in chosen:
        default = defaults[key]
        if isinstance(default, dict):  # the model's config, or junk in its place
            result[key] = draw(overrides(default, small) if draw(st.integers(0, 4)) else junk)
        elif draw(st.integers(0, 5)):
            result[key] = draw(plausible(default, small))
        else:
            result[key] = draw(junk)
    if not draw(st.integers(0, 14)):
        result[draw(st.text(min_size=1, max_size=6))] = draw(junk)
    return result


def keys_of(tree: dict[str, Any]) -> set[str]:
    found = set()
    for key, value in tree.items():
        found.add(key)
        if isinstance(value, dict):
            found |= keys_of(value)
    return found


def assert_clear_rejection(exc: GendlError, changed: dict[str, Any]) -> None:
    message = str(exc)
    assert message and "\n" not in message and len(message) < 1000, message
    if isinstance(exc, ConfigError):
        named = [key in message or repr(key)[:30] in message for key in keys_of(changed)]
        assert any(named), (message, changed)  # the field (or odd key, quoted) that was wrong


DEFAULTS = {name: config_to_dict(f.config_cls()) for name, f in FAMILIES.items()}

TINY = {  # fast one-step runs; the property test varies these and everything else
    "sequence": {
        "model": {"hidden_dim": 8},
        "seq_length": 5,
        "batch_size": 8,
        "eval_batch": 16,
    },
    "gan": {
        "data": "fake",
        "batch_size": 8,
        "n_score_samples": 0,
        "model": {"arch": "mlp", "latent_dim": 4},
    },
    "vae": {
        "data": "fake",
        "batch_size": 8,
        "n_score_samples": 0,
        "model": {"latent_dim": 2, "encoder_dims": [16], "decoder_dims": [16]},
    },
    "classifier": {"data": "fake", "batch_size": 8, "model": {"arch": "mlp"}},
}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_random_configs_are_built_or_refused_with_a_config_error(family):
    outcomes = {"accepted": 0, "refused": 0}

    @settings(max_examples=VALIDATOR_EXAMPLES, deadline=None, database=None, derandomize=True)
    @given(overrides(DEFAULTS[family], small=False))
    def check(changed):
        try:
            build_config(family, changed)
        except GendlError as exc:
            assert_clear_rejection(exc, changed)
            outcomes["refused"] += 1
        else:
            outcomes["accepted"] += 1

    check()
    assert sum(outcomes.values()) == VALIDATOR_EXAMPLES
    assert min(outcomes.values()) >= VALIDATOR_EXAMPLES // 10, outcomes  # both paths exercised


def one_step_runs(family: str, n_examples: int, derandomize: bool) -> dict[str, int]:
    outcomes = {"trained": 0, "refused": 0}
    base = build_config(family, TINY[family])
    assert config_to_dict(base)  # the tiny config itself is valid

    @settings(
        max_examples=n_examples,
        deadline=None,
        database=None,
        derandomize=derandomize,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(overrides(config_to_dict(base), small=True, fixed=("data",)))
    def check(changed):
        from gendl.config import deep_merge

        config = deep_merge(TINY[family], changed)
        try:
            trainer = make_trainer(family, config)
            row = train_step(trainer, Clock(1, None))  # one step, then the periodic evaluation
        except GendlError as exc:
            assert_clear_rejection(exc, changed)
            outcomes["refused"] += 1
        else:
            assert row["step"] == 1
            outcomes["trained"] += 1

    check()
    assert sum(outcomes.values()) == n_examples
    assert min(outcomes.values()) >= n_examples // 10, outcomes
    return outcomes


@pytest.mark.parametrize("family", list(FAMILIES))
def test_random_configs_run_one_step_or_are_refused(family):
    one_step_runs(family, RUN_EXAMPLES, derandomize=True)


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_five_hundred_random_configs_run_one_step_or_are_refused(family):
    one_step_runs(family, SLOW_RUN_EXAMPLES, derandomize=False)


@settings(max_examples=100, deadline=None, database=None)
@given(
    st.sampled_from([*PRESETS, "gpt", ""]),
    st.lists(st.text(max_size=20).map(lambda s: s if "=" in s else s + "=" + s[:3]), max_size=4),
)
def test_random_cli_overrides_are_parsed_and_built_or_refused(preset, items):
    """What ``--set KEY=VALUE`` hands to the presets (values are read as JSON, else text)."""
    try:
        preset_config(preset, parse_overrides(items))
    except GendlError as exc:
        message = str(exc)
        assert message and "\n" not in message
