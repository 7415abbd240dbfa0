"""Figure builders and table shaping of the Train, Runs, RNN vs LSTM and Overview pages."""

import json
import math

import numpy as np
import pytest

from gendl.config import config_to_dict
from gendl.engine.records import Run
from gendl.engine.sweep import final_test_acc, summary
from gendl.errors import GendlError
from gendl.train import preset_config
from gendl.views.estimates import START_SECONDS, estimate_seconds, format_duration, progress
from gendl.views.overview import shipped_rows
from gendl.views.sweep import (
    CHANCE,
    accuracy_figure,
    grad_norm_grid,
    grad_norm_heatmap,
    load_sweep_result,
    sweep_curves_figure,
)
from gendl.views.training import (
    config_diff,
    curves_figure,
    filter_runs,
    numeric_keys,
    run_device,
    run_row,
    series,
)


def preset(name: str, **overrides) -> tuple[str, dict]:
    family, config = preset_config(name, overrides)
    return family, config_to_dict(config)


def make_run(run_id: int, family: str = "vae", state: str = "finished", **fields) -> Run:
    values = dict(
        id=run_id, family=family, name=None, config={}, state=state, reason=None, owner=None,
        shared=False, created=0.0, updated=0.0, finished=None, step=0, pid=None,
        pid_started=None, engine_pid=None, engine_started=None, checkpoint=None,
        checkpoint_step=None,
    )  # fmt: skip
    return Run(**{**values, **fields})


# ---------------------------------------------------------------- estimates and progress


def test_estimate_grows_with_steps_and_respects_a_time_budget():
    family, config = preset("lsgan", max_steps=1000)
    one = estimate_seconds(family, config)
    two = estimate_seconds(family, {**config, "max_steps": 2000})
    ratio = (two - START_SECONDS) / (one - START_SECONDS)
    assert 1.8 < ratio < 2.2  # evaluations add a little on top of the steps
    assert estimate_seconds(family, {**config, "max_seconds": 5.0}) == START_SECONDS + 5.0
    time_only = {**config, "max_steps": None, "max_seconds": 60.0}
    assert estimate_seconds(family, time_only) == START_SECONDS + 60.0


def test_estimate_ranks_models_by_their_cost():
    rnn, lstm = preset("rnn"), preset("lstm")
    assert estimate_seconds(*rnn) < estimate_seconds(*lstm)
    assert estimate_seconds(*preset("dcgan")) > estimate_seconds(*preset("gan"))
    longer = preset("lstm", seq_length=40)
    assert estimate_seconds(*longer) > estimate_seconds(*lstm)
    for name in ("gan", "dcgan", "vae"):
        fp32, bf16 = preset(name), preset(name, precision="bf16")
        assert START_SECONDS < estimate_seconds(*bf16) < estimate_seconds(*fp32)


def test_progress_and_eta_follow_the_larger_budget_fraction():
    assert progress(50, 10.0, 100, None) == (0.5, 10.0)
    fraction, eta = progress(10, 30.0, 100, 60.0)  # time is the tighter budget
    assert fraction == 0.5 and eta == pytest.approx(30.0)
    assert progress(0, 0.0, 100, None) == (0.0, None)
    assert progress(500, 9.0, 100, None)[0] == 1.0


def test_format_duration():
    assert [format_duration(s) for s in (None, 4.4, 75, 3 * 3600 + 5 * 60)] == [
        "-",
        "4 s",
        "1 min 15 s",
        "3 h 05 min",
    ]


# ---------------------------------------------------------------- curves


def test_series_thins_long_histories_and_keeps_the_ends():
    rows = [{"step": i, "loss": float(i)} for i in range(1, 5001)]
    steps, values = series(rows, "loss", max_points=2000)
    assert len(steps) <= 2001 and steps[0] == 1 and steps[-1] == 5000
    assert values == [float(s) for s in steps]
    assert series(rows, "missing") == ([], [])


def test_gan_curves_hold_d_and_g_loss_on_one_chart_and_sparse_scores_as_markers():
    rows = [{"step": s, "d_loss": 1.0 / s, "g_loss": 2.0 / s} for s in range(1, 11)]
    rows[-1]["inception_score"] = 3.5
    fig = curves_figure("gan", rows)
    traces = {trace.name: trace for trace in fig.data}
    assert list(traces) == ["discriminator loss", "generator loss", "inception score"]
    np.testing.assert_allclose(traces["generator loss"].y, [2.0 / s for s in range(1, 11)])
    assert traces["inception score"].yaxis == "y2" and "markers" in traces["inception score"].mode


def test_sequence_curves_skip_metrics_not_logged_yet():
    rows = [{"step": 1, "loss": 2.3, "train_acc": 0.1, "grad_norm": 1.0}]
    names = [trace.name for trace in curves_figure("sequence", rows).data]
    assert names == ["loss", "training accuracy"]
    assert numeric_keys(rows + [{"step": 2, "test_acc": 0.5, "input_grad_norms": [1.0]}]) == [
        "loss",
        "train_acc",
        "grad_norm",
        "test_acc",
    ]


# ---------------------------------------------------------------- runs


def test_config_diff_lists_only_fields_that_differ():
    a = {"model": {"arch": "mlp", "latent_dim": 100}, "loss": "bce", "lr_d": 1e-3}
    b = {"model": {"arch": "mlp", "latent_dim": 64}, "loss": "ls", "lr_d": 1e-3, "extra": 1}
    diff = config_diff(a, b)
    assert [row["field"] for row in diff] == ["extra", "loss", "model.latent_dim"]
    assert diff[2] == {"field": "model.latent_dim", "a": "100", "b": "64"}
    assert diff[0]["a"] == "(absent)"
    assert config_diff(a, a) == []


def test_filter_runs_by_family_and_state():
    runs = [make_run(1, "vae"), make_run(2, "gan", "running"), make_run(3, "gan")]
    assert [r.id for r in filter_runs(runs)] == [1, 2, 3]
    assert [r.id for r in filter_runs(runs, ["gan"])] == [2, 3]
    assert [r.id for r in filter_runs(runs, ["gan"], ["finished"])] == [3]


@pytest.mark.parametrize(
    ("owner", "shared", "viewer", "words", "control"),
    [
        ("s1", False, "s1", "you", True),
        ("s1", False, "s2", "Ada", False),  # a student's display name
        ("s3", False, "s1", "a session", False),  # a browser that never joined
        ("s1", True, "s2", "Ada (shared)", True),
        ("teacher", False, "s1", "teacher", False),
        ("s1", False, "teacher", "Ada", True),  # the teacher controls every run
        ("cli", False, "s1", "command line", False),
        (None, False, "s1", "command line", False),  # a run from before owners were recorded
        ("cli", False, None, "command line", True),  # the command line itself
    ],
)
def test_run_row_names_the_owner_and_follows_the_one_control_rule(
    owner, shared, viewer, words, control
):
    row = run_row(make_run(1, owner=owner, shared=shared), viewer, {"s1": "Ada"})
    assert (row["owner"], row["control"]) == (words, control)


def test_shipped_rows_tolerate_missing_keys():
    rows = shipped_rows(
        [
            {"file": "vae.pt", "kind": "vae", "name": "VAE", "scores": {"inception_score": 8.0}},
            {"file": "gan.pt", "scores": None},
            {},
        ]
    )
    assert [row["name"] for row in rows] == ["VAE", "gan.pt", "?"]
    assert [row["scores"] for row in rows] == ["inception score 8.00", "", ""]


def test_shipped_rows_put_each_kind_of_score_in_words():
    classifier = {"test_acc": 0.993, "mnist_test_inception_score": 9.74, "extra": 1}
    generator = {"inception_score": 9.1495, "inception_std": 0.0747, "n_samples": 10000}
    rows = shipped_rows([{"scores": classifier}, {"scores": generator}, {"scores": {"fid": 3.5}}])
    assert [row["scores"] for row in rows] == [
        "test accuracy 99.30%; real MNIST inception score 9.74",
        "inception score 9.15 ± 0.07 (10,000 samples)",
        "fid 3.5",
    ]


# ---------------------------------------------------------------- sweep


def test_summary_band_matches_numpy_mean_and_sample_std():
    accs = {("rnn", 10): [0.2, 0.4, 0.3], ("lstm", 10): [1.0, 0.9, 0.95]}
    points = [
        {"model": m, "length": n, "seed": i, "test_acc": a}
        for (m, n), values in accs.items()
        for i, a in enumerate(values)
    ]
    points.append({"model": "rnn", "length": 10, "seed": 3, "test_acc": None})  # still running
    results = {(r["model"], r["length"]): r for r in summary(points)}
    for cell, values in accs.items():
        assert results[cell]["test_acc_mean"] == pytest.approx(np.mean(values))
        assert results[cell]["test_acc_std"] == pytest.approx(np.std(values, ddof=1))
        assert results[cell]["n_seeds"] == 3

    fig = accuracy_figure(list(results.values()), points)
    band = next(t for t in fig.data if t.fill == "toself" and t.legendgroup == "rnn")
    mean, std = np.mean(accs["rnn", 10]), np.std(accs["rnn", 10], ddof=1)
    np.testing.assert_allclose(band.y, [mean + std, mean - std])
    seeds = next(t for t in fig.data if t.name == "RNN, each seed")
    assert sorted(seeds.y) == sorted(accs["rnn", 10])
    assert fig.layout.shapes[0].y0 == CHANCE and fig.layout.shapes[0].line.dash == "dash"


def test_shipped_sweep_result_loads_and_rejects_other_json(tmp_path):
    result = {
        "wall_s": 3.0,
        "results": [
            {"model": "rnn", "length": 5, "test_acc_mean": 1.0, "test_acc_std": 0.0},
            {"model": "lstm", "length": 5, "test_acc_mean": None, "test_acc_std": 0.0},
        ],
    }
    path = tmp_path / "sweep_default.json"
    path.write_text(json.dumps(result))
    assert load_sweep_result(path) == result
    assert len(accuracy_figure(result["results"]).data) == 4  # band and mean per model
    assert load_sweep_result(tmp_path / "absent.json") is None
    path.write_text(json.dumps({"results": [{"model": "rnn"}]}))
    with pytest.raises(GendlError, match="sweep_default.json"):
        load_sweep_result(path)


def test_grad_norm_heatmap_is_log10_of_the_logged_norms():
    rows = [
        {"step": 50, "loss": 2.0},
        {"step": 100, "test_acc": 0.5, "input_grad_norms": [1e-6, 1e-3, 1.0]},
        {"step": 150, "test_acc": 0.7, "input_grad_norms": [1e-5, 1e-2, 0.0]},
    ]
    steps, grid = grad_norm_grid(rows)
    assert steps == [100, 150]
    np.testing.assert_allclose(grid[0], np.log10([1e-6, 1e-3, 1.0]))
    assert math.isfinite(grid[1][2])  # a zero norm stays plottable
    assert final_test_acc(rows) == 0.7
    fig = grad_norm_heatmap({"rnn": rows, "lstm": []})
    assert [list(row) for row in fig.data[0].z] == grid
    assert list(fig.data[1].z) == []  # no evaluation yet: an empty panel


def test_grad_norm_heatmap_fills_each_panel_and_scales_colours_to_the_logged_norms():
    """An LSTM that solved the task early has fewer rows than the RNN; its rows fill its panel,
    and a zero norm (log10 = -12) does not stretch the colour scale over the others."""
    lstm = [{"step": 50, "input_grad_norms": [1.0, 0.1]}]
    rnn = [{"step": s, "input_grad_norms": [1e-4, 0.0, 1e-2]} for s in range(50, 1050, 50)]
    fig = grad_norm_heatmap({"rnn": rnn, "lstm": lstm})
    assert list(fig.data[0].y) == [str(s) for s in range(50, 1050, 50)]
    assert list(fig.data[1].y) == ["50"] and fig.data[1].yaxis != fig.data[0].yaxis
    assert fig.layout.coloraxis.cmin == pytest.approx(-4.0)
    assert fig.layout.coloraxis.cmax == pytest.approx(0.0)


def test_sweep_curves_color_by_model_and_dash_by_length():
    rows = [{"step": 50, "test_acc": 0.5}, {"step": 100, "loss": 1.0, "test_acc": 0.9}]
    runs = [("rnn L=5", "rnn", 5, rows), ("lstm L=5", "lstm", 5, rows), ("rnn L=20", "rnn", 20, [])]
    fig = sweep_curves_figure(runs, "test_acc")
    assert [list(trace.y) for trace in fig.data] == [[0.5, 0.9], [0.5, 0.9], []]
    assert fig.data[0].line.color == fig.data[2].line.color != fig.data[1].line.color
    assert fig.data[0].line.dash == fig.data[1].line.dash != fig.data[2].line.dash


def test_run_device_is_where_the_latest_worker_trained():
    rows = [
        {"step": 1, "device": "cuda:0 (NVIDIA H200)"},
        {"step": 2},
        {"step": 3, "device": "cpu"},
    ]
    assert run_device(rows) == "cpu"  # resumed on a CPU-only machine
    assert run_device(rows[:2]) == "cuda:0 (NVIDIA H200)"
    assert run_device([{"step": 1, "loss": 0.5}]) is None


def test_run_place_names_the_machine_then_the_device_of_the_first_row():
    from gendl.views.training import run_place

    rows = [{"step": 1, "device": "cpu (AMD EPYC, 1 thread)"}, {"step": 2}]
    assert run_place(make_run(1), []) == "this machine"
    assert run_place(make_run(1), rows) == "this machine, cpu (AMD EPYC, 1 thread)"
    remote = make_run(2, location="tcp://10.0.0.7:40111")
    assert run_place(remote, rows[1:]) == "tcp://10.0.0.7:40111"
