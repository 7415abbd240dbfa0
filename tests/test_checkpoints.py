import os

import pytest
import torch

from gendl.checkpoints import load_checkpoint, load_model, save_checkpoint
from gendl.errors import CheckpointError
from gendl.models import GAN, VAE, ClassifierConfig, GANConfig, MNISTClassifier, VAEConfig


def _same_weights(a, b, atol=0.0):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        torch.allclose(sa[k].float(), sb[k].float(), atol=atol) for k in sa
    )


@pytest.mark.parametrize(
    "model",
    [
        lambda: VAE(VAEConfig(latent_dim=2, encoder_dims=(32,), decoder_dims=(32, 16))),
        lambda: GAN(GANConfig(arch="mlp", latent_dim=8)),
        lambda: MNISTClassifier(ClassifierConfig(arch="mlp")),
    ],
)
def test_round_trip_rebuilds_config_and_weights(tmp_path, model):
    original = model()
    path = save_checkpoint(tmp_path / "m.pt", original, {"step": 7})
    ckpt = load_checkpoint(path)
    assert ckpt.config == original.config and ckpt.meta == {"step": 7}
    rebuilt = ckpt.build()
    assert type(rebuilt) is type(original) and not rebuilt.training
    assert _same_weights(original, rebuilt)


def test_half_precision_storage_is_smaller_and_close(tmp_path):
    model = GAN(GANConfig(arch="mlp", latent_dim=8))
    full = save_checkpoint(tmp_path / "full.pt", model)
    half = save_checkpoint(tmp_path / "half.pt", model, half=True)
    assert os.path.getsize(half) < 0.6 * os.path.getsize(full)
    rebuilt = load_model(half)
    assert all(p.dtype == torch.float32 for p in rebuilt.parameters())
    assert _same_weights(model, rebuilt, atol=1e-3)


def _good(tmp_path):
    return save_checkpoint(tmp_path / "good.pt", VAE(VAEConfig(latent_dim=2)))


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "nope.pt")


def test_empty_file(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.pt: file is empty"):
        load_checkpoint(tmp_path / "empty.pt")


def test_truncated_file(tmp_path):
    good = _good(tmp_path).read_bytes()
    (tmp_path / "cut.pt").write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="cut.pt: not a readable checkpoint"):
        load_checkpoint(tmp_path / "cut.pt")


def test_random_bytes(tmp_path):
    (tmp_path / "noise.pt").write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError, match="noise.pt: not a readable checkpoint"):
        load_checkpoint(tmp_path / "noise.pt")


def test_wrong_kind(tmp_path):
    with pytest.raises(CheckpointError, match="holds a vae model, expected gan"):
        load_checkpoint(_good(tmp_path), kind="gan")


def test_bare_state_dict_is_old_format(tmp_path):
    torch.save(MNISTClassifier().state_dict(), tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="old format"):
        load_checkpoint(tmp_path / "old.pt")


def test_shape_mismatch(tmp_path):
    payload = torch.load(_good(tmp_path), weights_only=True)
    payload["config"]["latent_dim"] = 3  # the weights were made for latent_dim 2
    torch.save(payload, tmp_path / "shape.pt")
    with pytest.raises(CheckpointError, match="shape.pt: weights do not fit vae model"):
        load_model(tmp_path / "shape.pt")


def test_bad_config_value(tmp_path):
    payload = torch.load(_good(tmp_path), weights_only=True)
    payload["config"]["latent_dim"] = 0
    torch.save(payload, tmp_path / "cfg.pt")
    with pytest.raises(CheckpointError, match="cfg.pt: bad config.*latent_dim"):
        load_checkpoint(tmp_path / "cfg.pt")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_pickled_code_is_never_executed(tmp_path):
    torch.save(
        {"kind": "vae", "config": {}, "state_dict": {}, "meta": _Evil()}, tmp_path / "evil.pt"
    )
    with pytest.raises(CheckpointError, match="evil.pt: not a readable checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = _good(tmp_path)
    before = path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError):
        save_checkpoint(path, VAE(VAEConfig(latent_dim=2)))
    assert path.read_bytes() == before
