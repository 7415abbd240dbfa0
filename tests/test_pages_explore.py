"""The Latent explorer, Scores and Why-GANs-cycle pages in AppTest, on tiny generators saved to a
temporary checkpoint directory and run store."""

import base64
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from gendl.checkpoints import save_checkpoint
from gendl.data import DEFAULT_DATA_DIR
from gendl.metrics import classifier_probs
from gendl.models import GAN, VAE, GANConfig, VAEConfig
from gendl.train.scoring import shipped_classifier

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(
    shipped_classifier() is None, reason="needs the shipped checkpoints/classifier.pt"
)


def tiny_vae() -> VAE:
    return VAE(VAEConfig(latent_dim=2, encoder_dims=(16,), decoder_dims=(32,)))


def digit_vae() -> VAE:
    """A hand-built VAE whose decoder writes real MNIST digits: latent unit k (above 1.5) draws the
    first test image of digit k, so samples are varied digits the classifier reads."""
    raw = DEFAULT_DATA_DIR / "MNIST" / "raw"
    if not (raw / "t10k-images-idx3-ubyte").is_file():
        pytest.skip("needs the MNIST files (make data)")
    images = np.fromfile(raw / "t10k-images-idx3-ubyte", np.uint8, offset=16).reshape(-1, 784)
    labels = np.fromfile(raw / "t10k-labels-idx1-ubyte", np.uint8, offset=8)
    templates = np.stack([images[np.argmax(labels == d)] for d in range(10)]) / 255.0  # (10, 784)
    model = VAE(VAEConfig(latent_dim=10, encoder_dims=(8,), decoder_dims=(10,)))
    first, last = model.decoder[0], model.decoder[-1]
    with torch.no_grad():
        first.weight.copy_(torch.eye(10))
        first.bias.fill_(-1.5)
        last.weight.copy_(torch.from_numpy(30 * (2 * templates.T - 1)))  # (784, 10)
        last.bias.fill_(-3.0)
    return model


@pytest.fixture
def generators(app_env):
    """A GAN and a 2-D VAE shipped, a broken file, and a finished VAE run with score history."""
    checkpoints, store = app_env
    save_checkpoint(checkpoints / "gan.pt", GAN(GANConfig(latent_dim=8)), half=True)
    save_checkpoint(checkpoints / "vae2d.pt", tiny_vae())
    save_checkpoint(checkpoints / "digits.pt", digit_vae())
    (checkpoints / "broken.pt").write_bytes(b"truncated" * 20)
    run_id = store.create_run("vae", {"model": {"latent_dim": 2}}, state="running")
    rows = [
        {"step": step, "loss": 1.0, "inception_score": score, "inception_std": 0.1,
         "class_histogram": [100 if d == step // 100 else 1 for d in range(10)]}
        for step, score in ((100, 1.5), (200, 2.5), (300, 3.0))
    ]  # fmt: skip
    store.append_metrics(run_id, rows)
    save_checkpoint(store.run_dir(run_id) / "model.pt", tiny_vae())
    store.update_run(run_id, state="finished")
    return checkpoints, store, run_id


def page(name: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app_pages" / name), default_timeout=60)
    at.query_params.update(query)
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, at.exception[0].stack_trace if at.exception else ""


def image_url(at: AppTest) -> str:
    return at.get("image")[0].proto.imgs[0].url


def chart(at: AppTest, key: str) -> dict:
    (found,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith(key) or key in c.proto.id]
    return json.loads(found.proto.spec)


def array(values) -> np.ndarray:
    """A figure field as numbers: plotly sends numpy arrays as base64 typed arrays."""
    if isinstance(values, dict):
        flat = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
        shape = [int(n) for n in str(values.get("shape", len(flat))).split(",")]
        return flat.reshape(shape)
    return np.asarray(values)


# ---------------------------------------------------------------- latent explorer


def test_latent_page_without_generators_says_how_to_get_one(app_env):
    at = page("latent.py")
    assert_clean(at)
    assert "No GAN or VAE" in at.info[0].value


def test_latent_slider_moves_the_big_digit(generators):
    at = page("latent.py", latent_generator="GAN · gan.pt")
    assert_clean(at)
    assert at.selectbox(key="latent_generator").value == "GAN · gan.pt"
    assert at.radio(key="latent_endpoints").value == "seeds"
    assert at.radio(key="latent_method").options == ["lerp", "slerp"]
    assert at.slider(key="latent_frames").value == 10
    strip = chart(at, "latent_strip")
    assert len(strip["layout"]["xaxis"]["ticktext"]) == 10  # one label per frame
    before = image_url(at)
    at.slider(key="latent_alpha").set_value(0.0).run()
    assert_clean(at)
    assert image_url(at) != before
    assert at.get("image")[0].proto.imgs[0].caption.startswith("alpha = 0.00: reads as ")


def test_latent_settings_come_from_the_url(generators):
    at = page(
        "latent.py", latent_generator="GAN · gan.pt", latent_alpha="0.25", latent_method="slerp"
    )
    assert_clean(at)
    assert at.slider(key="latent_alpha").value == 0.25
    assert at.radio(key="latent_method").value == "slerp"


def test_2d_vae_gets_a_clickable_latent_map(generators):
    at = page("latent.py", latent_generator="VAE · vae2d.pt", latent_endpoints="zeros to ones")
    assert_clean(at)
    figure = chart(at, "latent_map")
    assert figure["layout"]["images"][0]["source"].startswith("data:image/png;base64,")
    assert any(trace.get("name") == "path" for trace in figure["data"])
    assert "Click a point" in at.caption[-1].value
    (gif_button,) = at.get("download_button")  # the strip as an animated GIF
    assert gif_button.proto.label.endswith("animated GIF") and gif_button.proto.deferred_file_id


def test_the_last_clicked_point_is_decoded_and_marked_on_the_map(generators):
    at = AppTest.from_file(str(REPO / "app_pages" / "latent.py"), default_timeout=60)
    at.query_params.update(latent_generator="VAE · vae2d.pt")
    at.session_state["latent_clicked"] = {"vae2d.pt": (0.5, -1.0)}
    at.session_state["latent_map_round"] = 2  # the map was drawn afresh after two clicks
    at.run()
    assert_clean(at)
    figure = chart(at, "latent_map_2")
    (star,) = [trace for trace in figure["data"] if trace.get("name") == "decoded"]
    assert (star["x"], star["y"]) == ([0.5], [-1.0])
    captions = [img.caption for element in at.get("image") for img in element.proto.imgs]
    assert any(caption.startswith("z = (0.50, -1.00)") for caption in captions), captions


def test_a_broken_checkpoint_is_a_message_not_a_traceback(generators):
    at = page("latent.py", latent_generator="broken.pt (unreadable)")
    assert_clean(at)
    assert "not a readable checkpoint" in at.error[0].value


def test_endpoints_by_digit_frame_the_strip(generators):
    at = page(
        "latent.py",
        latent_generator="VAE · digits.pt",
        latent_endpoints="digits",
        latent_digit_a="3",
        latent_digit_b="7",
        latent_frames="5",
    )
    assert_clean(at)
    labels = chart(at, "latent_strip")["layout"]["xaxis"]["ticktext"]
    assert labels[0].startswith("<b>3</b>") and labels[-1].startswith("<b>7</b>")


def test_a_digit_the_model_never_draws_is_a_message(app_env):
    checkpoints, _ = app_env
    blank = tiny_vae()
    torch.nn.init.zeros_(blank.decoder[-1].weight)
    torch.nn.init.zeros_(blank.decoder[-1].bias)  # every latent decodes to the same gray image
    save_checkpoint(checkpoints / "blank.pt", blank)
    seen = classifier_probs(shipped_classifier(), torch.full((1, 1, 28, 28), 0.5)).argmax()
    other = (int(seen) + 1) % 10
    at = page(
        "latent.py", latent_endpoints="digits", latent_digit_a=str(other), latent_digit_b=str(other)
    )
    assert_clean(at)
    assert f"decodes to digit {other}" in at.error[0].value


# ---------------------------------------------------------------- scores


def test_scores_page_histogram_follows_n_and_the_generator(generators):
    at = page("scores.py", scores_generator="VAE · digits.pt", scores_real="false", scores_n="1000")
    assert_clean(at)
    assert at.checkbox(key="scores_real").value is False
    assert at.metric[0].label == "Inception score, VAE"
    assert float(at.metric[0].value.split(" ± ")[0]) > 2  # several digits, confidently
    first = chart(at, "scores_histogram")["data"][0]
    assert first["name"].endswith("(1000 samples)")
    shares = array(first["y"])
    assert at.metric[-1].value == f"{shares.argmax()}: {shares.max():.0%}"  # the tallest bar
    at.slider(key="scores_n").set_value(2000).run()
    second = chart(at, "scores_histogram")["data"][0]
    assert second["name"].endswith("(2000 samples)")
    assert not np.array_equal(array(second["y"]), array(first["y"]))
    at.selectbox(key="scores_generator").select("GAN · gan.pt").run()
    assert_clean(at)
    assert at.metric[0].label == "Inception score, GAN"
    assert not np.array_equal(
        array(chart(at, "scores_histogram")["data"][0]["y"]), array(second["y"])
    )


def test_scores_of_a_run_over_training_time(generators):
    _, _, run_id = generators
    label = f"VAE · run {run_id} (300 steps)"
    at = page("scores.py", scores_generator=label, scores_real="false", scores_n="1000")
    assert_clean(at)
    history = chart(at, "scores_history")
    assert array(history["data"][-1]["y"]).tolist() == [1.5, 2.5, 3.0]
    heat = chart(at, "scores_heatmap")["data"][0]
    assert heat["x"] == ["100", "200", "300"]
    share = array(heat["z"])  # (digit, step): the histogram at step s peaks at digit s // 100
    assert share.shape == (10, 3) and share.argmax(0).tolist() == [1, 2, 3]


@pytest.mark.slow  # classifies the 10,000 test digits: 3 s on an idle machine, 15 s on a busy one
@pytest.mark.mnist
def test_scores_compare_with_real_mnist(generators):
    at = page("scores.py", scores_generator="GAN · gan.pt", scores_n="1000")
    assert_clean(at)
    real_score = float(at.metric[1].value.split(" ± ")[0])
    assert real_score > 9  # the classifier reads real digits confidently and they are balanced
    names = [trace["name"] for trace in chart(at, "scores_histogram")["data"]]
    assert "real MNIST test set" in names


def test_scores_page_without_generators(app_env):
    at = page("scores.py")
    assert_clean(at)
    assert "No GAN or VAE" in at.info[0].value


# ---------------------------------------------------------------- why GANs cycle


def test_cycle_page_step_size_changes_the_path(app_env):
    at = page("gan_cycle.py")
    assert_clean(at)
    assert at.radio(key="cycle_update").value == "both"
    before = chart(at, "cycle_path")
    assert {t.get("name") for t in before["data"]} >= {"alternating", "simultaneous"}
    assert len(before["frames"]) == 31  # one frame per step, 30 steps
    at.slider(key="cycle_lr").set_value(0.8).run()
    assert_clean(at)
    after = chart(at, "cycle_path")
    assert after["frames"][-1]["data"] != before["frames"][-1]["data"]


def test_cycle_seed_button_reproduces_the_seed_table(app_env):
    at = page("gan_cycle.py")
    at.button(key="cycle_seed").click().run()
    assert_clean(at)
    table = at.dataframe[0].value
    assert list(table["x alt"]) == [1, -1, -2, -1, 1, 2, 1]
    assert list(table["y alt"]) == [1, 2, 1, -1, -2, -1, 1]
    assert set(table["x²+y²+lr·xy"]) == {3.0}
