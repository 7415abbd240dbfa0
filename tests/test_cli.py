import subprocess
import sys

import numpy as np
import pytest
import torch

from gendl.checkpoints import save_checkpoint
from gendl.cli import main
from gendl.models import GAN, VAE, GANConfig, MNISTClassifier, VAEConfig


@pytest.mark.parametrize(
    "model",
    [lambda: GAN(GANConfig(arch="mlp", latent_dim=6)), lambda: VAE(VAEConfig(latent_dim=2))],
)
def test_sample_writes_images_matching_the_model(tmp_path, model):
    m = model()
    ckpt = save_checkpoint(tmp_path / "g.pt", m)
    out = tmp_path / "s.npy"
    assert (
        main(["sample", "--checkpoint", str(ckpt), "--n", "7", "--seed", "3", "--out", str(out)])
        == 0
    )
    images = np.load(out)
    assert images.shape == (7, 28, 28) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1
    expected = m.eval().sample(7, generator=torch.Generator().manual_seed(3)).reshape(7, 28, 28)
    np.testing.assert_allclose(images, expected.numpy(), atol=1e-6)


def test_sample_rejects_a_classifier_checkpoint(tmp_path, capsys):
    ckpt = save_checkpoint(tmp_path / "clf.pt", MNISTClassifier())
    code = main(["sample", "--checkpoint", str(ckpt), "--out", str(tmp_path / "x.npy")])
    assert code == 2
    assert "holds a classifier model, expected gan or vae" in capsys.readouterr().err
    assert not (tmp_path / "x.npy").exists()


def test_sample_reports_a_missing_checkpoint(tmp_path, capsys):
    assert main(["sample", "--checkpoint", str(tmp_path / "no.pt"), "--out", "x.npy"]) == 2
    assert "no such checkpoint file" in capsys.readouterr().err


def test_help_everywhere():
    for args in ([], ["sample"], ["train"], ["train", "classifier"]):
        run = subprocess.run(
            [sys.executable, "-m", "gendl", *args, "--help"], capture_output=True, text=True
        )
        assert run.returncode == 0 and "usage:" in run.stdout


def test_bad_n_is_an_argument_error():
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "gendl",
            "sample",
            "--checkpoint",
            "a.pt",
            "--n",
            "0",
            "--out",
            "x.npy",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "must be at least 1" in run.stderr
