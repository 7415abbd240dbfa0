import io

import numpy as np
import pytest
import torch
from PIL import Image

from gendl.dynamics import alternating_invariant, alternating_steps, simultaneous_steps
from gendl.errors import ConfigError
from gendl.latent import endpoints_from_seeds
from gendl.models import GAN, VAE, GANConfig, MNISTClassifier, VAEConfig
from gendl.views import cycle, explore, scores


@pytest.fixture
def vae2d() -> VAE:
    return VAE(VAEConfig(latent_dim=2, encoder_dims=(8,), decoder_dims=(16,))).eval()


@pytest.fixture
def judge() -> MNISTClassifier:
    return MNISTClassifier().eval()  # untrained: readings are arbitrary but well-formed


def test_path_frames_start_and_end_at_the_endpoints(vae2d, judge):
    z0, z1 = torch.tensor([-1.0, 2.0]), torch.tensor([0.5, 0.5])
    frames = explore.path_frames(vae2d, z0, z1, 7, "slerp", judge)
    assert frames.images.shape == (7, 28, 28) and frames.alphas.tolist()[::6] == [0.0, 1.0]
    assert np.array_equal(frames.latents[[0, -1]], torch.stack([z0, z1]).numpy())
    with torch.no_grad():
        expected = vae2d.decode(torch.from_numpy(frames.latents))[:, 0].numpy()
        probs = judge(torch.from_numpy(frames.images)).softmax(-1)
    assert np.allclose(frames.images, expected)
    assert frames.predicted.tolist() == probs.argmax(1).tolist()
    assert frames.caption(3) == f"reads as {frames.predicted[3]} ({frames.confidence[3]:.0%})"
    assert explore.path_frames(vae2d, z0, z1, 3).caption(0) == "no classifier to read it"


def test_endpoint_modes(vae2d):
    z0, z1 = explore.path_endpoints(vae2d, "seeds", seeds=(4, 9))
    expected = endpoints_from_seeds(vae2d, 4, 9)
    assert torch.equal(z0, expected[0]) and torch.equal(z1, expected[1])
    z0, z1 = explore.path_endpoints(vae2d, "zeros to ones")
    assert z0.tolist() == [0, 0] and z1.tolist() == [1, 1]
    with pytest.raises(ConfigError, match="classifier"):
        explore.path_endpoints(vae2d, "digits", digits=(3, 7))
    with pytest.raises(ConfigError, match="endpoints must be one of"):
        explore.path_endpoints(vae2d, "random")


def test_digit_png_is_a_crisp_upscaled_copy():
    image = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    decoded = np.asarray(Image.open(io.BytesIO(explore.digit_png(image, scale=4))))
    assert decoded.shape == (112, 112)
    assert np.array_equal(decoded[::4, ::4], np.rint(image * 255).astype(np.uint8))
    assert np.array_equal(decoded[3::4, 3::4], decoded[::4, ::4])  # each pixel is a 4 x 4 block


def test_strip_figure_lays_frames_side_by_side(vae2d, judge):
    frames = explore.path_frames(vae2d, torch.zeros(2), torch.ones(2), 5, "lerp", judge)
    fig = explore.strip_figure(frames, gap=3)
    row = fig.data[0].z
    assert row.shape == (28, 5 * 31)
    assert np.array_equal(row[:, 31:59], frames.images[1]) and np.isnan(row[:, 28:31]).all()
    assert fig.layout.xaxis.ticktext[2].startswith(f"<b>{frames.predicted[2]}</b>")


def test_latent_map_decodes_a_grid_from_the_top_left(vae2d, judge):
    latent = explore.latent_map(vae2d, judge, extent=2.0, per_side=5)
    assert latent.points.shape == (25, 2)
    assert latent.points[0].tolist() == [-2.0, 2.0] and latent.points[-1].tolist() == [2.0, -2.0]
    with torch.no_grad():
        expected = vae2d.decode(torch.from_numpy(latent.points).float())[:, 0].numpy()
    assert np.allclose(latent.frames.images, expected)
    fig = explore.latent_map_figure(latent, path=np.zeros((3, 2)))
    markers = [trace for trace in fig.data if trace.mode == "markers"]
    assert sum(len(trace.x) for trace in markers) == 25
    assert fig.layout.images[0].sizex == pytest.approx(5.0)  # 4 wide plus half a cell each side
    with pytest.raises(ConfigError, match="2-D latent"):
        explore.latent_map(GAN(GANConfig(latent_dim=3)), judge)


def test_decode_point_matches_decode(vae2d):
    frames = explore.decode_point(vae2d, (0.3, -1.2), None)
    with torch.no_grad():
        assert np.allclose(frames.images[0], vae2d.decode(torch.tensor([[0.3, -1.2]]))[0, 0])


def test_sample_scores_are_reproducible_and_count_every_sample(vae2d, judge):
    first = scores.sample_scores(vae2d, judge, 50, seed=3)
    assert first == scores.sample_scores(vae2d, judge, 50, seed=3)
    assert sum(first["histogram"]) == 50 and 1 <= first["inception_score"] <= 10


def test_histogram_figure_shows_shares_against_uniform():
    fig = scores.histogram_figure({"a": [5] * 10, "b": [0, 0, 30, 0, 0, 0, 0, 0, 0, 10]})
    assert np.allclose(fig.data[0].y, 0.1) and fig.data[1].y.tolist()[2] == 0.75
    assert fig.layout.shapes[0].y0 == 0.1


def test_score_history_and_its_figures():
    rows = [
        {"step": 1, "loss": 2.0},
        {"step": 50, "inception_score": 2.0, "inception_std": 0.5, "class_histogram": [1] * 10},
        {"step": 100, "inception_score": 4.0},  # no histogram logged
    ]
    history = scores.score_history(rows)
    assert history.steps.tolist() == [50, 100] and history.inception_score.tolist() == [2.0, 4.0]
    assert history.inception_std.tolist() == [0.5, 0.0]
    band, line = scores.history_figure(history, reference=9.5).data
    assert band.y.tolist() == [2.5, 4.0, 4.0, 1.5] and line.y.tolist() == [2.0, 4.0]
    heat = scores.histogram_heatmap(history).data[0]
    assert np.allclose(heat.z[:, 0], 0.1) and np.array_equal(heat.z[:, 1], np.zeros(10))


# ---------------------------------------------------------------- why GANs cycle


def test_cycle_paths_follow_the_dynamics():
    paths = cycle.cycle_paths(0.4, 9, ("alternating", "simultaneous"), (1.0, -0.5))
    assert np.array_equal(paths["alternating"], alternating_steps(0.4, 9, (1.0, -0.5)))
    assert np.array_equal(paths["simultaneous"], simultaneous_steps(0.4, 9, (1.0, -0.5)))


def test_cycle_figure_animates_every_step_and_draws_the_invariant_ellipse():
    paths = cycle.cycle_paths(0.5, 30, ("alternating",))
    fig = cycle.cycle_figure(paths, 0.5)
    assert [frame.name for frame in fig.frames] == [str(t) for t in range(31)]
    last_line, last_point = fig.frames[-1].data
    assert np.array_equal(last_line.x, paths["alternating"][:, 0])
    assert (last_point.x[0], last_point.y[0]) == tuple(paths["alternating"][-1])
    ellipse = next(trace for trace in fig.data if trace.name and "const" in trace.name)
    level = alternating_invariant(1.0, 1.0, 0.5)
    assert np.allclose(alternating_invariant(np.array(ellipse.x), np.array(ellipse.y), 0.5), level)
    assert len(fig.layout.sliders[0].steps) == 31


def test_long_paths_are_thinned_and_escaping_paths_leave_the_view():
    paths = cycle.cycle_paths(1.0, 200, ("alternating", "simultaneous"))
    fig = cycle.cycle_figure(paths, 1.0)
    assert len(fig.frames) == cycle.MAX_FRAMES and fig.frames[-1].name == "200"
    half = fig.layout.xaxis.range[1]
    orbit, spiral = paths["alternating"], paths["simultaneous"]
    assert fig.layout.xaxis.range[0] == -half and fig.layout.yaxis.range == (-half, half)
    assert np.abs(orbit).max() < half  # the whole orbit is in view
    assert np.abs(spiral[-1]).max() > half  # the spiral has left it
    assert half < 0.1 * np.abs(spiral).max()  # the view follows the start, not the escape
    escaping = cycle.cycle_figure(cycle.cycle_paths(2.5, 5, ("alternating",)), 2.5)
    assert not any(trace.name and "const" in trace.name for trace in escaping.data)  # no ellipse


def test_radius_figure_and_table():
    paths = cycle.cycle_paths(0.3, 20, ("alternating", "simultaneous"))
    fig = cycle.radius_figure(paths, 0.3)
    measured = next(t for t in fig.data if t.name == "simultaneous")
    theory = next(t for t in fig.data if t.name.startswith("r₀"))
    assert np.allclose(measured.y, theory.y)
    rows = cycle.cycle_table(paths, 0.3, n_rows=5)
    assert [row["t"] for row in rows] == [0, 1, 2, 3, 4]
    assert all(row["x²+y²+lr·xy"] == pytest.approx(2.3) for row in rows)
    assert rows[1]["radius sim"] == pytest.approx(np.sqrt(2 * 1.09))
    assert (rows[1]["x alt"], rows[1]["y alt"]) == tuple(paths["alternating"][1])
