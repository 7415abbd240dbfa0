"""The manifest writer (gendl.shipped.manifest) and `train --half`, on tiny models and fake data."""

import json

import pytest
import torch

from gendl.checkpoints import load_checkpoint, load_model, save_checkpoint
from gendl.cli import main
from gendl.errors import GendlError
from gendl.metrics import classifier_probs, inception_score
from gendl.models import VAE, MNISTClassifier, VAEConfig
from gendl.shipped.catalogue import read_manifest, shipped_checkpoints
from gendl.shipped.manifest import checkpoint_entry, update_manifest


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    threads = torch.get_num_threads()  # `train` and `manifest` set the process's thread count
    yield
    torch.set_num_threads(threads)


def test_update_replaces_an_entry_in_place_and_appends_new_files(tmp_path):
    update_manifest({"file": "a.pt", "steps": 1}, tmp_path)
    update_manifest({"file": "b.pt", "steps": 2}, tmp_path)
    entries = update_manifest({"file": "a.pt", "steps": 3}, tmp_path)
    assert entries == [{"file": "a.pt", "steps": 3}, {"file": "b.pt", "steps": 2}]
    assert json.loads((tmp_path / "manifest.json").read_text()) == entries
    assert read_manifest(tmp_path) == entries
    assert not list(tmp_path.glob("*.tmp"))


def test_generator_entry_scores_with_the_classifier_beside_it(tmp_path):
    classifier = MNISTClassifier().eval()
    save_checkpoint(tmp_path / "classifier.pt", classifier)
    vae = VAE(VAEConfig(latent_dim=2, encoder_dims=(8,), decoder_dims=(8,))).eval()
    meta = {"name": "vae", "step": 7, "elapsed_s": 1.234, "config": {"lr": 0.001}}
    save_checkpoint(tmp_path / "vae2d.pt", vae, meta)
    entry = checkpoint_entry(tmp_path / "vae2d.pt", "VAE 2-D", "python -m gendl train vae", 200)
    assert {k: entry[k] for k in ("file", "kind", "name", "preset", "steps", "wall_s")} == {
        "file": "vae2d.pt",
        "kind": "vae",
        "name": "VAE 2-D",
        "preset": "vae",
        "steps": 7,
        "wall_s": 1.2,
    }
    assert entry["config"] == {
        "latent_dim": 2,
        "encoder_dims": [8],
        "decoder_dims": [8],
        "prior_components": 0,
    }
    assert entry["train_config"] == {"lr": 0.001} and entry["classifier"] == "classifier.pt"
    # the same 200 images drawn by hand (noise seed 0) and scored by hand (splits of at most
    # 1,000 samples, at least two)
    images = vae.sample(200, generator=torch.Generator().manual_seed(0))
    mean, std = inception_score(classifier_probs(classifier, images), n_splits=2)
    assert entry["scores"]["n_samples"] == 200
    assert entry["scores"]["inception_score"] == pytest.approx(mean, abs=1e-4)
    assert entry["scores"]["inception_std"] == pytest.approx(std, abs=1e-4)


def test_manifest_cli_writes_the_entry(tmp_path, capsys):
    save_checkpoint(tmp_path / "classifier.pt", MNISTClassifier())
    save_checkpoint(tmp_path / "g.pt", VAE(VAEConfig(latent_dim=3, decoder_dims=(8,))))
    args = [str(tmp_path / "g.pt"), "--name", "G", "--command", "cmd", "--n-samples", "50"]
    from gendl.shipped.manifest import main as manifest_main

    assert manifest_main([*args, "--threads", "1"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert read_manifest(tmp_path) == [printed] and printed["command"] == "cmd"
    readme = (tmp_path / "README.md").read_text()
    assert "| `g.pt` | G | fp32 |" in readme and "\ncmd\n" in readme
    assert manifest_main([str(tmp_path / "none.pt"), "--name", "x", "--command", "c"]) == 2


def test_train_half_stores_fp16_weights_of_the_trained_model(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "clf.pt"
    args = ["train", "classifier", "--set", "data=fake", "--set", "batch_size=16"]
    args += ["--max-steps", "2", "--runs-dir", str(runs), "--out", str(out), "--half"]
    assert main([*args, "--no-progress"]) == 0
    half = load_checkpoint(out)
    assert all(v.dtype == torch.float16 for v in half.state_dict.values() if v.is_floating_point())
    assert half.meta["step"] == 2 and half.meta["name"] == "classifier"
    trained = load_model(runs / "1" / "model.pt").state_dict()
    for name, value in half.build().state_dict().items():
        assert torch.equal(value, trained[name].half().to(value.dtype))


@pytest.mark.parametrize("text", ["{ not json", '{"file": "a.pt"}'])
def test_one_reader_names_a_damaged_manifest_and_the_dashboard_lists_none(tmp_path, text):
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(GendlError, match=r"manifest\.json: "):
        read_manifest(tmp_path)
    assert shipped_checkpoints(tmp_path) == []  # the pages fall back to scanning the files


def test_scoring_classifier_follows_the_checkpoint_directory(tmp_path, monkeypatch):
    from gendl.train.scoring import shipped_classifier

    monkeypatch.setenv("GENDL_CHECKPOINT_DIR", str(tmp_path))
    assert shipped_classifier() is None  # no classifier.pt there, whatever checkpoints/ holds
    model = MNISTClassifier()
    save_checkpoint(tmp_path / "classifier.pt", model)
    loaded = shipped_classifier()
    assert all(
        torch.equal(a, b) for a, b in zip(loaded.parameters(), model.parameters(), strict=True)
    )
