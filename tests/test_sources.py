import json

import pytest
import torch

from gendl.checkpoints import save_checkpoint
from gendl.engine.records import model_name, variant
from gendl.engine.store import RunStore
from gendl.errors import CheckpointError
from gendl.models import GAN, VAE, GANConfig, MNISTClassifier, VAEConfig
from gendl.shipped.sources import (
    CHECKPOINT_DIR_ENV,
    SourceError,
    list_generators,
    load_generator,
    resolve_generator,
)


def tiny_vae(latent_dim: int = 2) -> VAE:
    return VAE(VAEConfig(latent_dim=latent_dim, encoder_dims=(8,), decoder_dims=(8,)))


@pytest.fixture
def ckpt_dir(tmp_path, monkeypatch):
    directory = tmp_path / "checkpoints"
    directory.mkdir()
    monkeypatch.setenv(CHECKPOINT_DIR_ENV, str(directory))
    return directory


def finished_run(store: RunStore, family: str, config: dict, model=None, scores=None) -> int:
    run_id = store.create_run(family, config, state="running")
    store.append_metrics(run_id, [{"step": 5, "loss": 1.0, **(scores or {})}])
    if model is not None:
        save_checkpoint(store.run_dir(run_id) / "model.pt", model)
    store.update_run(run_id, state="finished")
    return run_id


def test_scan_without_manifest_lists_generators_and_skips_the_classifier(ckpt_dir):
    save_checkpoint(ckpt_dir / "vae.pt", tiny_vae(), {"inception_score": 7.5})
    save_checkpoint(ckpt_dir / "classifier.pt", MNISTClassifier())
    (sources,) = list_generators()
    assert (sources.id, sources.kind, sources.variant, sources.error) == (
        "vae.pt",
        "vae",
        "VAE",
        None,
    )
    assert sources.scores == {"inception_score": 7.5}
    assert isinstance(load_generator("vae.pt"), VAE)


def test_a_corrupt_checkpoint_is_an_entry_with_its_error_not_a_crash(ckpt_dir):
    (ckpt_dir / "broken.pt").write_bytes(b"\x00not a zip" * 50)
    save_checkpoint(ckpt_dir / "vae.pt", tiny_vae())
    broken, good = list_generators()
    assert broken.id == "broken.pt" and "not a readable checkpoint" in broken.error
    assert good.error is None
    with pytest.raises(CheckpointError, match="broken.pt"):
        load_generator("broken.pt")


def test_manifest_order_names_scores_and_missing_keys(ckpt_dir):
    save_checkpoint(ckpt_dir / "lsgan.pt", GAN(GANConfig(latent_dim=4)))
    save_checkpoint(ckpt_dir / "vae.pt", tiny_vae())
    manifest = [
        {"file": "lsgan.pt", "kind": "gan", "name": "LSGAN", "config": {"loss": "ls"}},
        {"file": "gone.pt", "kind": "gan"},
        {"file": "../../etc/passwd", "kind": "gan"},
        {"kind": "vae"},
        {"file": "classifier.pt", "kind": "classifier"},
        "not a dict",
    ]
    (ckpt_dir / "manifest.json").write_text(json.dumps(manifest))
    sources = list_generators()
    assert [s.id for s in sources] == ["lsgan.pt", "gone.pt", "vae.pt"]  # vae.pt: found by scan
    assert sources[0].variant == "LSGAN" and sources[0].label.startswith("LSGAN")
    assert "missing" in sources[1].error
    assert sources[2].error is None


def test_an_unreadable_manifest_falls_back_to_scanning(ckpt_dir):
    (ckpt_dir / "manifest.json").write_text("{ not json")
    save_checkpoint(ckpt_dir / "vae.pt", tiny_vae())
    assert [s.id for s in list_generators()] == ["vae.pt"]


def test_finished_generative_runs_with_a_model_are_listed(ckpt_dir, tmp_path):
    store = RunStore(tmp_path / "runs")
    gan_config = {"model": {"arch": "infogan"}, "loss": "bce"}
    dcgan = finished_run(
        store, "gan", gan_config, GAN(GANConfig(latent_dim=4)), {"inception_score": 3.0}
    )
    finished_run(store, "vae", {}, model=None)  # no model.pt: not listed
    finished_run(store, "classifier", {}, MNISTClassifier())
    active = store.create_run("vae", {})
    save_checkpoint(store.run_dir(active) / "model.pt", tiny_vae())
    (source,) = list_generators(store)
    assert (source.id, source.variant, source.run_id) == (f"run:{dcgan}", "DCGAN", dcgan)
    assert source.scores == {"inception_score": 3.0}
    assert isinstance(load_generator(source.id, store), GAN)


@pytest.mark.parametrize(
    "bad_id",
    [
        "../classifier.pt",
        "/etc/passwd",
        "sub/vae.pt",
        ".hidden.pt",
        "vae.pth",
        "run:../1",
        "",
        None,
    ],
)
def test_ids_that_are_paths_are_rejected(ckpt_dir, bad_id):
    with pytest.raises(SourceError, match="not a generator id"):
        resolve_generator(bad_id)


def test_a_symlink_out_of_the_checkpoint_directory_is_rejected(ckpt_dir, tmp_path):
    outside = tmp_path / "outside.pt"
    save_checkpoint(outside, tiny_vae())
    (ckpt_dir / "link.pt").symlink_to(outside)
    with pytest.raises(SourceError, match="outside"):
        load_generator("link.pt")


def test_run_ids_need_a_store_and_a_generative_family(ckpt_dir, tmp_path):
    store = RunStore(tmp_path / "runs")
    classifier_run = finished_run(store, "classifier", {}, MNISTClassifier())
    with pytest.raises(SourceError, match="no run store"):
        resolve_generator(f"run:{classifier_run}")
    with pytest.raises(SourceError, match="classifier run"):
        resolve_generator(f"run:{classifier_run}", store)


def test_a_checkpoint_of_another_kind_is_refused(ckpt_dir):
    save_checkpoint(ckpt_dir / "classifier.pt", MNISTClassifier())
    with pytest.raises(CheckpointError, match="expected gan or vae"):
        load_generator("classifier.pt")


def test_model_names_and_variants_from_training_or_model_configs():
    assert model_name("vae", None) == "VAE"
    assert model_name("gan", {}) == "GAN"
    assert model_name("gan", {"loss": "ls", "model": {"arch": "mlp"}}) == "LSGAN"
    assert model_name("gan", {"arch": "dcgan"}) == "DCGAN"  # a checkpoint's model config
    training = {"seq_length": 20, "model": {"model": "rnn"}}
    assert (model_name("sequence", training), variant("sequence", training)) == ("RNN", "RNN L=20")
    assert variant("vae", {"model": {"latent_dim": 2}}) == "VAE z=2"
    assert variant("gan", {"loss": "ls", "model": {"arch": "mlp"}}) == "LSGAN"
    assert variant("classifier", {"model": {"arch": "mlp"}}) == "mlp classifier"


def test_loaded_generator_decodes_to_unit_interval(ckpt_dir):
    save_checkpoint(ckpt_dir / "vae.pt", tiny_vae())
    model = load_generator("vae.pt")
    images = model.decode(torch.zeros(3, model.latent_dim))
    assert images.shape == (3, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
