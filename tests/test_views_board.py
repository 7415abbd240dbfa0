"""The Class board's computations against hand-computed values: the student link, the QR code's
pixels, which runs are the class's, final scores, the best run, the sweep's points, leaderboards."""

import io

import numpy as np
import pytest
import segno
from PIL import Image

from gendl.engine.classroom import class_runs
from gendl.engine.records import CLI_OWNER, TEACHER, Run
from gendl.views import board

NAMES = {"a" * 32: "Ada", "b" * 32: "**x**", "c" * 32: "<b>Bo</b>"}
ADA, X, BO = NAMES


def run(run_id, owner, family="vae", state="finished", **settings):
    config = {"model": {"latent_dim": settings.pop("latent_dim", 20)}, "lr": 0.001, **settings}
    if family == "sequence":
        config = {"model": {"model": "lstm"}, "seq_length": 20, "lr": 0.003, **settings}
    fields = dict.fromkeys(
        "reason name pid pid_started engine_pid engine_started checkpoint checkpoint_step "
        "finished".split()
    )
    return Run(
        id=run_id, family=family, config=config, state=state, owner=owner, shared=False,
        created=0.0, updated=0.0, step=10, **fields,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("url", "base", "link"),
    [
        ("http://10.0.0.5:8501/board", "", "http://10.0.0.5:8501/"),
        ("https://lab.example.org/gendl/teacher", "gendl", "https://lab.example.org/gendl/"),
        ("http://localhost:8501/", "/gendl/", "http://localhost:8501/gendl/"),
        ("", "", None),
        (None, "", None),
        ("board", "", None),
    ],
)
def test_student_link_keeps_only_the_server(url, base, link):
    assert board.student_link(url, base) == link


def test_qr_png_is_the_symbol_scaled_with_a_quiet_zone():
    text = "http://192.168.1.20:8501/"
    image = np.array(Image.open(io.BytesIO(board.qr_png(text, min_px=300))).convert("L"))
    matrix = np.array(segno.make(text, error="m", micro=False).matrix, dtype=bool)
    modules = matrix.shape[0] + 8  # 4 light modules each side
    scale = image.shape[0] // modules
    assert image.shape == (modules * scale, modules * scale)
    assert image.shape[0] >= 300 and image.shape[0] - scale < 300 + modules  # smallest whole scale
    sampled = image[scale // 2 :: scale, scale // 2 :: scale] < 128  # dark module centres
    assert not sampled[:4].any() and not sampled[:, :4].any()
    assert (sampled[4:-4, 4:-4] == matrix).all()
    assert set(np.unique(image)) == {0, 255}  # black on white, nothing in between


def test_class_runs_are_students_and_the_teachers():
    runs = [run(1, ADA), run(2, TEACHER), run(3, CLI_OWNER), run(4, None), run(5, "d" * 32)]
    assert [r.id for r in class_runs(runs, NAMES)] == [1, 2]


def test_final_score_is_the_last_evaluation_of_the_familys_score():
    rows = [
        {"step": 1, "recon_loss": 3.0},
        {"step": 5, "inception_score": 2.5, "test_acc": 0.1},
        {"step": 9, "recon_loss": 2.0},
        {"step": 10, "inception_score": 4.0},
        {"step": 11, "test_acc": 0.7},
    ]
    assert board.final_score("vae", rows) == 4.0
    assert board.final_score("gan", rows[:3]) == 2.5
    assert board.final_score("sequence", rows) == 0.7
    assert board.final_score("classifier", rows[:4]) == 0.1
    assert board.final_score("gan", rows[:1]) is None


def class_results():
    runs = [
        run(1, ADA, kl_weight=0.1),
        run(2, X, kl_weight=0.5, latent_dim=2),
        run(3, BO, family="sequence"),
        run(4, ADA, kl_weight=1.0),
        run(5, X, state="running", kl_weight=2.0),  # not finished: no point
        run(6, TEACHER, kl_weight=0.2),  # finished without a score: no point
    ]
    scores = {1: 5.0, 2: 7.0, 3: 0.9, 4: 7.0, 5: 9.0, 6: None}
    return board.results(runs, scores, NAMES)


def test_results_are_the_scored_finished_runs():
    found = class_results()
    assert [(r.run_id, r.student, r.model, r.score) for r in found] == [
        (1, "Ada", "VAE", 5.0),
        (2, "**x**", "VAE", 7.0),
        (3, "<b>Bo</b>", "LSTM", 0.9),
        (4, "Ada", "VAE", 7.0),
    ]
    assert found[1].settings["model.latent_dim"] == 2


def test_best_per_model_takes_the_highest_and_the_earliest_on_a_tie():
    best = board.best_per_model(class_results())
    assert {model: r.run_id for model, r in best.items()} == {"VAE": 2, "LSTM": 3}


def test_numeric_fields_put_the_students_choices_first():
    # within the VAE runs kl_weight and latent_dim differ; lr differs only from VAE to LSTM
    assert board.numeric_fields(class_results()) == [
        "kl_weight",
        "model.latent_dim",
        "lr",
        "seq_length",
    ]


def test_sweep_figure_points_panels_and_stars():
    fig = board.sweep_figure(class_results(), "kl_weight")
    dots, star = fig.data  # the LSTM run has no kl_weight: nothing to place
    assert dots.name == star.name == "VAE" and star.showlegend is False
    assert list(dots.x) == [0.1, 0.5, 1.0] and list(dots.y) == [5.0, 7.0, 7.0]
    assert list(dots.customdata) == [1, 2, 4]
    assert list(star.customdata) == [2] and star.marker.symbol == "star"
    assert list(star.x) == [0.5] and list(star.y) == [7.0]
    assert dots.text[1] == "**x**"
    assert fig.layout.xaxis.title.text == "kl_weight"

    fig = board.sweep_figure(class_results(), "lr")
    panels = {(t.name, t.xaxis) for t in fig.data}
    assert panels == {("VAE", "x"), ("LSTM", "x2")}  # scores on different scales
    assert fig.layout.yaxis.title.text == "inception score"
    assert fig.layout.yaxis2.title.text == "test accuracy"
    # a panel whose runs share one lr: its axis spans that value (Plotly's own range would be
    # about 0 +- 0.5 and label no lr at all); where the values differ, Plotly's range
    for axis, model in ((fig.layout.xaxis, "VAE"), (fig.layout.xaxis2, "LSTM")):
        (lr,) = {x for t in fig.data if t.name == model for x in t.x}
        assert list(axis.range) == pytest.approx([lr / 2, lr * 3 / 2])
    assert board.sweep_figure(class_results(), "kl_weight").layout.xaxis.range is None


def test_plotly_labels_show_tags_as_typed():
    fig = board.sweep_figure(class_results(), "lr")
    lstm = next(t for t in fig.data if t.name == "LSTM")
    assert list(lstm.text) == ["&lt;b&gt;Bo&lt;/b&gt;"]


def test_leaderboards_rank_best_first_with_shared_ranks():
    boards = board.leaderboards(class_results())
    assert list(boards) == ["LSTM", "VAE"]
    vae = boards["VAE"]
    assert [(r["rank"], r["student"], r["run"]) for r in vae] == [
        (1, "**x**", 2),
        (1, "Ada", 4),
        (3, "Ada", 1),
    ]
    assert [r["inception score"] for r in vae] == [7.0, 7.0, 5.0]
    assert vae[0]["settings"] == "kl_weight=0.5, model.latent_dim=2"
    assert boards["LSTM"] == [
        {
            "rank": 1,
            "student": "<b>Bo</b>",
            "test accuracy": 0.9,
            "run": 3,
            "settings": "the preset's",
        }
    ]


def test_sparkline_draws_the_familys_losses():
    rows = [{"step": s, "d_loss": 1.0 / s, "g_loss": s, "inception_score": 2.0} for s in (1, 2, 3)]
    fig = board.sparkline_figure("gan", rows)
    assert [t.name for t in fig.data] == ["discriminator loss", "generator loss"]
    assert list(fig.data[1].y) == [1, 2, 3]
    assert board.sparkline_figure("vae", rows).data == ()
