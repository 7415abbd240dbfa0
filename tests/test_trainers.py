"""Every family trains on fake data, reproduces its curve from the same seeds, and resumes exactly."""

import math

import pytest
import torch

from gendl.engine.records import FAMILY_NAMES
from gendl.errors import ConfigError
from gendl.train import FAMILIES, PRESETS, build_config, make_trainer, preset_config
from gendl.train.common import StopTraining, TrainingDiverged, run_trainer

SMALL = {
    "sequence": {"seq_length": 6, "batch_size": 16, "eval_batch": 64, "eval_every": 2},
    "gan": {"batch_size": 8, "n_score_samples": 0, "data": "fake", "eval_every": 2},
    "vae": {"batch_size": 8, "n_score_samples": 0, "data": "fake", "eval_every": 2},
    "classifier": {"batch_size": 8, "data": "fake", "eval_every": 2},
}
LOSS_KEYS = {
    "sequence": ("loss",),
    "gan": ("d_loss", "g_loss"),
    "vae": ("loss", "recon_loss", "kl_loss"),
    "classifier": ("loss",),
}


def _small(preset, **extra):
    family, _ = PRESETS[preset]
    return preset_config(preset, {**SMALL[family], "max_steps": 2, **extra})


def _losses(history, family):
    return [[m[k] for k in LOSS_KEYS[family]] for m in history]


@pytest.mark.parametrize("preset", list(PRESETS))
def test_two_steps_on_fake_data_change_the_weights(preset):
    family, config = _small(preset)
    trainer = make_trainer(family, config)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    history = run_trainer(trainer)
    assert [m["step"] for m in history] == [1, 2]
    assert all(math.isfinite(v) for row in _losses(history, family) for v in row)
    changed = [
        not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(), strict=False)
    ]
    assert sum(changed) >= len(changed) // 2
    if family in ("gan", "vae"):
        grid = history[-1]["sample_grid"]
        assert grid.shape == (64, 1, 28, 28) and 0 <= grid.min() and grid.max() <= 1
    if family == "sequence":
        assert len(history[-1]["input_grad_norms"]) == config.seq_length - 1


@pytest.mark.parametrize("preset", ["lstm", "rnn", "lsgan", "vae", "classifier"])
def test_same_seed_same_curve_other_seed_other_curve(preset):
    family, config = _small(preset, max_steps=3)
    first = run_trainer(make_trainer(family, config))
    again = run_trainer(make_trainer(family, config))
    other = run_trainer(make_trainer(family, _small(preset, max_steps=3, seed=1)[1]))
    assert _losses(first, family) == _losses(again, family)
    assert _losses(first, family) != _losses(other, family)


@pytest.mark.parametrize("preset", ["lstm", "gan", "vae"])
def test_resume_from_state_matches_an_uninterrupted_run(preset):
    family, config = _small(preset, max_steps=6)
    straight = run_trainer(make_trainer(family, config))

    def stop_at_3(metrics):
        if metrics["step"] == 3:
            raise StopTraining

    first = make_trainer(family, config)
    head = run_trainer(first, stop_at_3)
    state = first.state_dict()
    torch.manual_seed(1234)  # resuming must not depend on the global generator's state
    second = make_trainer(family, config)
    second.load_state_dict(state)
    tail = run_trainer(second)
    assert _losses(head + tail, family) == _losses(straight, family)


def test_gan_single_network_steps():
    family, config = _small("gan")
    trainer = make_trainer(family, config)
    g_before = [p.detach().clone() for p in trainer.model.generator.parameters()]
    d_metrics = trainer.step("d")
    assert "d_loss" in d_metrics and "g_loss" not in d_metrics
    assert all(
        torch.equal(a, b)
        for a, b in zip(g_before, trainer.model.generator.parameters(), strict=False)
    )
    d_before = [p.detach().clone() for p in trainer.model.discriminator.parameters()]
    g_metrics = trainer.step("g")
    assert "g_loss" in g_metrics and "d_loss" not in g_metrics
    assert all(
        torch.equal(a, b)
        for a, b in zip(d_before, trainer.model.discriminator.parameters(), strict=False)
    )
    assert trainer.step_count == 2
    with pytest.raises(ConfigError, match="step part"):
        trainer.step("x")


def test_lstm_learns_a_short_palindrome_and_stops_early():
    family, config = preset_config("lstm", {"seq_length": 5, "max_steps": 400, "eval_every": 25})
    trainer = make_trainer(family, config)
    history = run_trainer(trainer)
    assert trainer.finished and history[-1]["test_acc"] >= config.solved_acc
    assert len(history) < 400


def test_divergence_raises_with_the_step():
    family, config = _small("classifier", max_steps=5)
    trainer = make_trainer(family, config)
    with torch.no_grad():
        next(trainer.model.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="loss became nan at step 1"):
        run_trainer(trainer)


@pytest.mark.parametrize(
    "family, overrides, field",
    [
        ("sequence", {"seq_length": 1}, "seq_length"),
        ("sequence", {"seq_length": 10_000}, "seq_length"),
        ("sequence", {"lr": -1.0}, "lr"),
        ("sequence", {"optimizer": "sgd"}, "optimizer"),
        ("gan", {"loss": "wasserstein"}, "loss"),
        ("gan", {"batch_size": 0}, "batch_size"),
        ("vae", {"likelihood": "gaussian"}, "likelihood"),
        ("vae", {"model": {"latent_dim": 0}}, "latent_dim"),
        ("classifier", {"max_steps": None, "max_seconds": None}, "max_steps"),
    ],
)
def test_bad_configs_name_the_field(family, overrides, field):
    with pytest.raises(ConfigError, match=field):
        build_config(family, overrides)


def test_unknown_names():
    with pytest.raises(ConfigError, match="family must be one of"):
        build_config("gru", {})
    with pytest.raises(ConfigError, match="model must be one of"):
        preset_config("wgan")
    with pytest.raises(ConfigError, match="no field"):
        build_config("vae", {"learning_rate": 1e-3})
    assert tuple(FAMILIES) == FAMILY_NAMES == ("sequence", "gan", "vae", "classifier")
