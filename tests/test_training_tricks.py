"""The speed and quality options of the GAN and VAE loops, on fake data: each is checked against a
hand computation or a run without it."""

import pytest
import torch

from gendl.checkpoints import load_model
from gendl.cli import main
from gendl.errors import ConfigError
from gendl.train import build_config, make_trainer, preset_config
from gendl.train.common import StopTraining, run_trainer

GAN_SMALL = {"batch_size": 8, "n_score_samples": 0, "data": "fake", "eval_every": 100}


def _gan(**overrides):
    return make_trainer("gan", {**GAN_SMALL, "max_steps": 4, **overrides})


@pytest.mark.parametrize("value", [-0.1, 1.0, "0.9"])
def test_ema_decay_must_be_in_range(value):
    with pytest.raises(ConfigError, match="ema_decay"):
        build_config("gan", {"ema_decay": value})


def test_without_ema_the_trained_model_is_exported():
    trainer = _gan()
    assert trainer.export_model() is trainer.model


def test_ema_generator_is_the_warmed_up_average_of_the_trained_weights():
    decay = 0.9
    trainer = _gan(ema_decay=decay)
    average = [p.detach().clone() for p in trainer.model.generator.parameters()]
    for step in range(4):
        trainer.step()
        weight = 1 - min(decay, (1 + step) / (10 + step))  # what step `step` mixes in
        current = [p.detach() for p in trainer.model.generator.parameters()]
        average = [(1 - weight) * a + weight * c for a, c in zip(average, current, strict=True)]
    exported = trainer.export_model()
    assert exported is not trainer.model
    for got, want in zip(exported.generator.parameters(), average, strict=True):
        torch.testing.assert_close(got, want)
    # the discriminator is the trained one, and training itself is unchanged by the average
    plain = _gan()
    run_trainer(plain)
    for a, b in zip(plain.model.parameters(), trainer.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_ema_survives_a_resume():
    config = build_config("gan", {**GAN_SMALL, "max_steps": 6, "ema_decay": 0.8})
    straight = make_trainer("gan", config)
    run_trainer(straight)

    def stop_at_3(metrics):
        if metrics["step"] == 3:
            raise StopTraining

    first = make_trainer("gan", config)
    run_trainer(first, stop_at_3)
    second = make_trainer("gan", config)
    second.load_state_dict(first.state_dict())
    run_trainer(second)
    for a, b in zip(
        straight.export_model().parameters(), second.export_model().parameters(), strict=True
    ):
        assert torch.equal(a, b)


def test_cli_ships_the_averaged_generator(tmp_path):
    out = tmp_path / "gan.pt"
    args = ["train", "gan", "--set", "data=fake", "--set", "batch_size=8", "--set", "ema_decay=0.5"]
    args += ["--set", "n_score_samples=0", "--max-steps", "3", "--runs-dir", str(tmp_path / "r")]
    threads = torch.get_num_threads()
    try:
        assert main([*args, "--out", str(out), "--no-progress"]) == 0
        # the same preset and overrides, trained here on the CLI's one thread (BatchNorm's sums
        # depend on the thread count in the last bit)
        torch.set_num_threads(1)
        config = {**GAN_SMALL, "ema_decay": 0.5, "max_steps": 3}
        reference = make_trainer(*preset_config("gan", config))
        run_trainer(reference)
    finally:
        torch.set_num_threads(threads)
    shipped = load_model(out, kind="gan")
    for a, b in zip(
        shipped.generator.parameters(), reference.export_model().generator.parameters(), strict=True
    ):
        assert torch.equal(a, b)


@pytest.mark.parametrize("family", ["gan", "vae"])
def test_precision_must_be_a_known_one(family):
    with pytest.raises(ConfigError, match="precision"):
        build_config(family, {"precision": "fp16"})


def _first_steps(family: str, precision: str, steps: int = 3) -> tuple[list[dict], object]:
    overrides = {**GAN_SMALL, "batch_size": 16, "max_steps": steps, "precision": precision}
    if family == "gan":
        overrides["model"] = {"arch": "infogan"}  # convolutions and products
    trainer = make_trainer(family, overrides)
    history = run_trainer(trainer)
    return history, trainer


@pytest.mark.parametrize("family, loss", [("gan", "d_loss"), ("vae", "loss")])
def test_bf16_training_runs_the_products_in_bfloat16_and_keeps_float32_state(family, loss):
    """Same seeds, same batches: bf16 changes the losses (the products really ran in bfloat16,
    ~3 significant digits) but only slightly, and weights and optimizer state stay float32."""
    fp32, _ = _first_steps(family, "fp32")
    bf16, trainer = _first_steps(family, "bf16")
    a, b = fp32[0][loss], bf16[0][loss]
    assert a != b
    assert b == pytest.approx(a, rel=0.03)
    params = list(trainer.model.parameters())
    assert all(p.dtype == torch.float32 for p in params)
    optimizers = [getattr(trainer, name, None) for name in ("optimizer", "opt_d", "opt_g")]
    for opt in (o for o in optimizers if o is not None):
        assert opt.state  # the steps above filled it
        for state in opt.state.values():
            assert all(v.dtype == torch.float32 for v in state.values() if v.dim() > 0)
