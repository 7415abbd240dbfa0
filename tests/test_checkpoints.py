import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gendl.checkpoints import load_checkpoint, load_model, save_checkpoint, state_sha256
from gendl.cli import main
from gendl.errors import CheckpointError
from gendl.models import GAN, VAE, ClassifierConfig, GANConfig, MNISTClassifier, VAEConfig

REPO = Path(__file__).resolve().parent.parent


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


class _RunsCode:
    """Unpickling this runs a shell command: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _code_checkpoint(path, marker):
    payload = {"kind": "vae", "config": {}, "state_dict": {}, "meta": _RunsCode(marker)}
    torch.save(payload, path)
    return path


def test_pickled_code_is_never_executed(tmp_path):
    probe = _code_checkpoint(tmp_path / "probe.pt", tmp_path / "probe_ran")
    torch.load(probe, weights_only=False)  # the file really runs code when loaded unsafely
    assert (tmp_path / "probe_ran").exists()
    evil = _code_checkpoint(tmp_path / "evil.pt", tmp_path / "marker")
    with pytest.raises(CheckpointError, match="evil.pt: not a readable checkpoint"):
        load_checkpoint(evil)
    assert not (tmp_path / "marker").exists()


def test_unknown_kind_and_newer_format(tmp_path):
    payload = torch.load(_good(tmp_path), weights_only=True)
    torch.save({**payload, "kind": ["vae"]}, tmp_path / "kind.pt")
    with pytest.raises(CheckpointError, match=r"kind.pt: unknown kind \['vae'\]; known: sequence"):
        load_checkpoint(tmp_path / "kind.pt")
    torch.save({**payload, "format": 99}, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="new.pt: checkpoint format 99 is newer"):
        load_checkpoint(tmp_path / "new.pt")


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = _good(tmp_path)
    before = path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError):
        save_checkpoint(path, VAE(VAEConfig(latent_dim=2)))
    assert path.read_bytes() == before


# ---------------------------------------------------------------- the CLI on broken files


def _broken_files(root):
    """name -> (checkpoint path, what the one-line error must say)."""
    good = save_checkpoint(root / "good.pt", VAE(VAEConfig(latent_dim=2)))
    payload = torch.load(good, weights_only=True)
    data = good.read_bytes()
    cases = {
        "missing": (root / "missing.pt", "no such checkpoint file"),
        "directory": (root / "dir.pt", "not a file"),
        "empty": (root / "empty.pt", "file is empty"),
        "truncated": (root / "cut.pt", "not a readable checkpoint"),
        "random bytes": (root / "noise.pt", "not a readable checkpoint"),
        "runs code": (root / "evil.pt", "not a readable checkpoint"),
        "wrong kind": (root / "clf.pt", "holds a classifier model, expected gan or vae"),
        "wrong shape (config)": (root / "shape.pt", "weights do not fit vae model"),
        "wrong shape (tensor)": (root / "tensor.pt", "weights do not fit vae model"),
        "old format": (root / "old.pt", "not a gendl checkpoint (old format"),
        "not a dict": (root / "list.pt", "not a gendl checkpoint"),
        "bad config": (root / "cfg.pt", "bad config: latent_dim must be in [1, 512], got -1"),
        "newer format": (root / "new.pt", "checkpoint format 2 is newer"),
    }
    (root / "dir.pt").mkdir()
    (root / "empty.pt").write_bytes(b"")
    (root / "cut.pt").write_bytes(data[: len(data) // 2])
    (root / "noise.pt").write_bytes(os.urandom(len(data)))
    _code_checkpoint(root / "evil.pt", root / "marker")
    save_checkpoint(root / "clf.pt", MNISTClassifier(ClassifierConfig(arch="mlp")))
    torch.save({**payload, "config": {**payload["config"], "latent_dim": 3}}, root / "shape.pt")
    state = dict(payload["state_dict"])
    first = next(iter(state))
    state[first] = torch.zeros(3, 3)
    torch.save({**payload, "state_dict": state, "sha256": state_sha256(state)}, root / "tensor.pt")
    torch.save(payload["state_dict"], root / "old.pt")
    torch.save(list(payload["state_dict"].values()), root / "list.pt")
    torch.save({**payload, "config": {**payload["config"], "latent_dim": -1}}, root / "cfg.pt")
    torch.save({**payload, "format": 2}, root / "new.pt")
    return cases


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    root = tmp_path_factory.mktemp("broken")
    return root, _broken_files(root)


def _assert_one_clear_line(root, path, expected, code, stdout, stderr):
    assert code == 2 and stdout == ""
    assert "Traceback" not in stderr and stderr.count("\n") == 1, stderr
    assert stderr.startswith(f"error: {path}: ") and expected in stderr, stderr
    assert not (root / f"{path.stem}.npy").exists()
    assert not (root / "marker").exists()  # the code in evil.pt never ran


BROKEN = [
    *("missing", "directory", "empty", "truncated", "random bytes", "runs code", "wrong kind"),
    *("wrong shape (config)", "wrong shape (tensor)", "old format", "not a dict", "bad config"),
    "newer format",
]
IN_DEFAULT_SUITE = ("truncated", "runs code", "wrong shape (tensor)")  # each process imports torch


@pytest.mark.parametrize("case", BROKEN)
def test_sample_names_the_file_and_the_problem(broken, capsys, case):
    root, cases = broken
    path, expected = cases[case]
    code = main(["sample", "--checkpoint", str(path), "--out", str(root / f"{path.stem}.npy")])
    captured = capsys.readouterr()
    _assert_one_clear_line(root, path, expected, code, captured.out, captured.err)


@pytest.mark.parametrize(
    "case",
    [c if c in IN_DEFAULT_SUITE else pytest.param(c, marks=pytest.mark.slow) for c in BROKEN],
)
def test_cli_process_prints_one_line_and_no_traceback(broken, case):
    root, cases = broken
    path, expected = cases[case]
    out = root / f"{path.stem}.npy"
    run = subprocess.run(
        [sys.executable, "-m", "gendl", "sample", "--checkpoint", str(path), "--out", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    _assert_one_clear_line(root, path, expected, run.returncode, run.stdout, run.stderr)


def test_checksum_refuses_flipped_weight_bytes(tmp_path):
    """64 flipped bytes inside the weights: torch loads them; the stored SHA-256 does not match."""
    model = VAE(VAEConfig(latent_dim=2))
    path = save_checkpoint(tmp_path / "good.pt", model)
    data = bytearray(path.read_bytes())
    marker = data.find(b"data/0")  # the first tensor's record in the zip: its bytes follow
    start = marker + 200
    data[start : start + 64] = bytes(b ^ 0xFF for b in data[start : start + 64])
    path.write_bytes(bytes(data))
    payload = torch.load(path, weights_only=True)  # the damage is invisible to torch itself
    original = model.state_dict()
    assert not all(torch.equal(payload["state_dict"][k], original[k]) for k in original)
    with pytest.raises(CheckpointError, match=r"good\.pt: checksum mismatch"):
        load_checkpoint(path)


def test_file_without_checksum_loads_and_can_be_sealed(tmp_path):
    from gendl.checkpoints import seal_checkpoint

    model = VAE(VAEConfig(latent_dim=2))
    path = save_checkpoint(tmp_path / "old.pt", model)
    payload = torch.load(path, weights_only=True)
    del payload["sha256"]  # as written before checksums existed
    torch.save(payload, path)
    assert _same_weights(model, load_model(path))
    assert seal_checkpoint(path) and not seal_checkpoint(path)
    sealed = torch.load(path, weights_only=True)
    assert sealed["sha256"] == state_sha256(model.state_dict())
    assert not list(tmp_path.glob("*.tmp"))


def test_sample_with_nan_weights_is_a_clear_error(tmp_path, capsys):
    model = VAE(VAEConfig(latent_dim=2))
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    path = save_checkpoint(tmp_path / "nan.pt", model)
    assert main(["sample", "--checkpoint", str(path), "--out", str(tmp_path / "s.npy")]) == 2
    err = capsys.readouterr().err
    assert "nan.pt: weight" in err and "NaN" in err and "Traceback" not in err
    assert not (tmp_path / "s.npy").exists()
