"""Bad input is refused when a config is built, through every door: build_config, ``--set``,
``RunEngine.start``; the memory estimate refuses what the machine cannot hold."""

import pytest
import torch

from gendl.cli import main
from gendl.engine.runs import RunEngine
from gendl.errors import ConfigError
from gendl.models import GAN, ClassifierConfig, GANConfig, MNISTClassifier
from gendl.models.classifier import CLASSIFIER_ARCHS
from gendl.models.gan import GAN_ARCHS
from gendl.train import build_config, make_trainer, memory


@pytest.mark.parametrize(
    ("family", "overrides", "message"),
    [
        ("gan", {"lr_d": "0.1"}, r"lr_d must be a number in \(0, 1\], got '0.1'"),
        ("vae", {"batch_size": 64.0}, r"batch_size must be an integer in \[1, 8192\], got 64.0"),
        ("vae", {"batch_size": True}, r"batch_size must be an integer in \[1, 8192\], got True"),
        ("gan", {"lr_g": float("nan")}, r"lr_g must be a number in \(0, 1\], got nan"),
        ("gan", {"lr_g": 10**400}, r"lr_g must be a number in \(0, 1\], got 1000"),
        ("classifier", {"lr": 0}, r"lr must be in \(0, 1\], got 0"),
        ("classifier", {"batch_size": 0}, r"batch_size must be in \[1, 8192\], got 0"),
        ("sequence", {"seq_length": 1}, r"seq_length must be in \[2, 100\], got 1"),
        ("sequence", {"seq_length": 10_000}, r"seq_length must be in \[2, 100\], got 10000"),
        ("vae", {"model": {"latent_dim": 0}}, r"model.latent_dim must be in \[1, 512\], got 0"),
        ("gan", {"model": {"latent_dim": 0}}, r"model.latent_dim must be in \[1, 1024\], got 0"),
        (
            "sequence",
            {"model": {"model": "gru"}},
            r"model.model must be one of rnn, lstm; got 'gru'",
        ),
        ("gan", {"loss": "wgan"}, r"loss must be one of bce, ls; got 'wgan'"),
        ("gan", {"model": "dcgan"}, r"model must be a dict of GANConfig fields, got 'dcgan'"),
        ("gan", {"model": {"depth": 3}}, r"model: GANConfig has no field\(s\) depth; its fields"),
        ("vae", {"model": {"encoder_dims": [64, "x"]}}, r"model.encoder_dims\[1\] must be an int"),
        ("vae", {"model": {"decoder_dims": []}}, r"model.decoder_dims must be a list of 1 to 8"),
        ("gan", {"max_steps": None}, "set max_steps or max_seconds"),
        ("gan", 5, "config overrides must be a dict, got int"),
        (["gan"], {}, "family must be one of sequence, gan, vae, classifier; got"),
    ],
)
def test_a_bad_field_is_refused_naming_field_value_and_range(family, overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_config(family, overrides)


def test_a_wrong_object_for_a_trainer_is_a_config_error():
    with pytest.raises(ConfigError, match="a gan run needs a GANTrainConfig or a dict"):
        make_trainer("gan", build_config("vae"))


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("lr=fast", "lr must be a number in (0, 1], got 'fast'"),
        ("batch_size=64.5", "batch_size must be an integer in [1, 8192], got 64.5"),
        ("batch_size=true", "batch_size must be an integer in [1, 8192], got True"),
        ("lr=NaN", "lr must be a number in (0, 1], got nan"),
        ("model.latent_dim=0", "model.latent_dim must be in [1, 512], got 0"),
        ("model=[1]", "model must be a dict of VAEConfig fields, got [1]"),
        ('model.encoder_dims={"a": 1}', "model.encoder_dims must be a list of 1 to 8 integers"),
    ],
)
def test_cli_set_with_a_wrong_type_exits_2_with_one_line(tmp_path, capsys, setting, message):
    assert main(["train", "vae", "--set", setting, "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err


def test_engine_start_refuses_wrong_types_before_queueing(tmp_path):
    with RunEngine(tmp_path, max_workers=1) as engine:
        for family, config in [
            ("classifier", {"batch_size": "32"}),
            ("classifier", {"lr": [0.1]}),
            ("gan", {"model": {"arch": "stylegan"}}),
            ("sequence", {"model": {"hidden_dim": 2048}, "batch_size": 4096, "seq_length": 100}),
            (None, {}),
        ]:
            with pytest.raises(ConfigError):
                engine.start(family, config)
        assert engine.list() == []


# ---------------------------------------------------------------- memory


def test_a_config_that_needs_more_memory_than_the_machine_has_is_refused():
    # 4096 sequences of 100 steps through a 2048-unit LSTM: ~270 GB of activations
    big = {"model": {"hidden_dim": 2048}, "batch_size": 4096, "seq_length": 100}
    with pytest.raises(ConfigError) as refused:
        build_config("sequence", big)
    message = str(refused.value)
    assert message.startswith("model.hidden_dim=2048, batch_size=4096, seq_length=100")
    assert (
        "GB of memory; one run may use at most" in message and "lower model.hidden_dim" in message
    )
    for family in ("sequence", "gan", "vae", "classifier"):
        build_config(family)  # the defaults fit anywhere


def test_the_memory_limit_follows_the_machine(monkeypatch):
    wide = {"model": {"encoder_dims": [4096] * 4, "decoder_dims": [4096] * 4}, "batch_size": 2048}
    needed = memory.vae_bytes(build_config("vae", wide))
    assert 1e9 < needed < 4e9
    monkeypatch.setattr(memory, "total_memory", lambda: 2 * needed + 1)
    build_config("vae", wide)
    monkeypatch.setattr(memory, "total_memory", lambda: 2 * needed - 1)
    with pytest.raises(ConfigError, match=r"model.encoder_dims=\(4096, 4096, 4096, 4096\), "):
        build_config("vae", wide)
    monkeypatch.setattr(memory, "total_memory", lambda: None)  # unknown: nothing is refused
    build_config("vae", wide)


def test_total_memory_is_the_machines():
    total = memory.total_memory()
    with open("/proc/meminfo") as meminfo:
        kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    assert total is not None and total <= kb * 1024 * 1.01


def _floats_per_sample(module: torch.nn.Module, x: torch.Tensor) -> int:
    total = 0

    def count(_, __, output):
        nonlocal total
        total += output[0].numel()

    leaves = [m for m in module.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    module(x)
    for hook in hooks:
        hook.remove()
    return total


@pytest.mark.parametrize("arch", GAN_ARCHS)
def test_the_memory_tables_match_the_gan_models(arch):
    gan = GAN(GANConfig(arch=arch, latent_dim=1024))
    generator = _floats_per_sample(gan.generator, torch.rand(2, 1024))
    discriminator = _floats_per_sample(gan.discriminator, torch.rand(2, 1, 28, 28))
    assert generator == memory.GAN_GENERATOR_ACTIVATIONS[arch]
    assert discriminator == memory.GAN_DISCRIMINATOR_ACTIVATIONS[arch]


@pytest.mark.parametrize("arch", CLASSIFIER_ARCHS)
def test_the_memory_tables_match_the_classifiers(arch):
    model = MNISTClassifier(ClassifierConfig(arch=arch))
    per_sample = _floats_per_sample(model, torch.rand(2, 1, 28, 28))
    assert per_sample == memory.CLASSIFIER_ACTIVATIONS[arch]


def test_parameter_count_is_exact_without_building_the_weights():
    config = GANConfig(arch="dcgan", latent_dim=64)
    assert memory.parameter_count(config) == sum(p.numel() for p in GAN(config).parameters())
