"""The Overview, Train, Runs and RNN vs LSTM pages in AppTest, over the real run engine.

Runs train in real worker processes on fake data with tiny budgets, under a temporary
GENDL_RUNS_DIR; each worker imports torch (a few seconds), so tests launch as few runs as they can.
"""

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_pages.common import _engine, engine
from gendl.engine.runs import TERMINAL_STATES
from gendl.views.style import label

PAGES = Path(__file__).resolve().parent.parent / "app_pages"
TINY_CLASSIFIER = {"data": "fake", "max_steps": 5, "eval_every": 5, "batch_size": 16}


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    """One engine for the module, rooted in a temporary directory; closed at the end."""
    root = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENDL_RUNS_DIR", str(root))
        patch.setenv("GENDL_CHECKPOINT_DIR", str(tmp_path_factory.mktemp("checkpoints")))
        yield root
        engine().close(timeout=10)
        _engine.clear()


@pytest.fixture(scope="module")
def finished_runs(runs_dir):
    """A classifier and a VAE run, trained to the end; they start in parallel."""
    ids = [
        engine().start("classifier", TINY_CLASSIFIER, name="tiny classifier"),
        engine().start("vae", {**TINY_CLASSIFIER, "n_score_samples": 0}, name="tiny vae"),
    ]
    for run_id in ids:
        run = engine().wait(run_id, timeout=120)
        assert run.state == "finished", f"{run.reason}; engine: {engine_report()}"
    return ids


def page(name: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def rerun_until(at: AppTest, done: Callable[[AppTest], bool], timeout: float = 60.0) -> AppTest:
    """Rerun the page (as its polling fragment would) until ``done(at)``."""
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        if done(at):
            return at
        assert time.monotonic() < deadline, (
            f"the page never showed the expected state; engine: {engine_report()}"
        )
        time.sleep(0.3)


def engine_report() -> str:
    """Each run's state and the end of its worker log, for a failure message."""
    lines = []
    for run in engine().store.list_runs():
        directory = Path(os.environ["GENDL_RUNS_DIR"]) / str(run.id)
        tails = [
            f"{name}: {(directory / name).read_text()[-1500:]!r}"
            for name in ("worker.log", "error.log")
            if (directory / name).is_file()
        ]
        lines.append(f"run {run.id} {run.state} ({run.reason}) step {run.step}: {tails}")
    return "; ".join(lines)


def keys(at: AppTest, kind: str) -> set[str]:
    return {w.key for w in at.get(kind)}


def history(at: AppTest):
    """The runs table (the page's first table; the config diff comes after it)."""
    return at.dataframe[0].value


# ---------------------------------------------------------------- Overview


def test_overview_lists_models_and_shows_recent_runs(runs_dir, finished_runs):
    at = page("overview")
    assert "Overview" not in [t.value for t in at.title]  # the title says what gendl is
    catalogue, runs = at.dataframe[0].value, at.dataframe[-1].value
    assert "LSTM" in set(catalogue["model"])
    assert set(finished_runs) <= set(runs["id"])
    assert any("manifest" in info.value for info in at.info)  # no shipped checkpoints here


def test_overview_shows_shipped_scores_and_tolerates_missing_keys(runs_dir, tmp_path):
    manifest = [
        {"file": "vae.pt", "kind": "vae", "name": "VAE", "scores": {"inception_score": 8.1}},
        {"file": "gan.pt"},  # a half-written entry: no kind, name or scores
    ]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENDL_CHECKPOINT_DIR", str(tmp_path))
        at = page("overview")
    shipped = at.dataframe[1].value
    assert list(shipped["name"]) == ["VAE", "gan.pt"]
    assert list(shipped["scores"]) == ["inception score 8.10", ""]


# ---------------------------------------------------------------- Train


def test_train_family_changes_the_hyperparameters(runs_dir):
    at = page("train")
    assert "train_lstm_seq_length" in keys(at, "slider")
    assert "train_lstm_hidden_dim" in keys(at, "number_input")
    assert any("Estimated duration" in m.value for m in at.markdown)
    at.button_group(key="train_preset").set_value("lsgan").run()
    sliders, numbers = keys(at, "slider"), keys(at, "number_input")
    assert "train_lsgan_d_steps" in sliders and "train_lstm_seq_length" not in sliders
    assert {"train_lsgan_lr_d", "train_lsgan_lr_g"} <= numbers
    assert at.selectbox(key="train_lsgan_loss").value == "ls"


def estimate_s(at: AppTest) -> int:
    """The Train page's estimated duration in seconds ("about 1 h 05 min", "3 min 20 s", "45 s")."""
    text = next(m.value for m in at.markdown if "Estimated duration" in m.value)
    units = {"h": 3600, "min": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+) (h|min|s)\b", text))


def test_train_precision_is_offered_for_gans_and_vaes_and_shortens_the_estimate(runs_dir):
    at = page("train")
    assert not any(key.endswith("_precision") for key in keys(at, "selectbox"))  # lstm
    for preset in ("dcgan", "vae"):
        at.button_group(key="train_preset").set_value(preset).run()
        precision = at.selectbox(key=f"train_{preset}_precision")
        assert precision.value == "fp32" and list(precision.options) == ["fp32", "bf16"]
        fp32 = estimate_s(at)
        precision.set_value("bf16").run()
        assert 0 < estimate_s(at) < fp32


def test_train_bad_budget_is_reported_and_start_disabled(runs_dir):
    at = page("train")
    at.number_input(key="train_lstm_max_steps").set_value(0).run()
    assert any("max_steps" in e.value for e in at.error)
    assert at.button(key="train_start").disabled
    assert not at.exception


def test_train_out_of_range_value_blocks_start_and_queues_nothing(runs_dir):
    at = page("train")
    before = len(engine().list())
    # typed, then Start clicked at once: the value and the click arrive in one rerun
    at.number_input(key="train_lstm_batch_size").set_value(-5)
    at.button(key="train_start").click().run()
    assert not at.exception
    assert "train_run" not in at.session_state and len(engine().list()) == before
    message = "batch_size must be in [1, 4096], got -5"  # the field, the value and the range
    errors = [e.value for e in at.error]
    assert errors.count(message.replace("batch_size ", "")) == 1, errors  # under the field
    assert f"Cannot start: {message}" in errors, errors  # the click's refusal
    assert at.button(key="train_start").disabled
    at.number_input(key="train_lstm_batch_size").set_value(64).run()
    assert not at.error and not at.button(key="train_start").disabled


def test_train_presenter_mode_hides_the_advanced_fields(runs_dir):
    at = page("train")
    assert "train_lstm_clip_norm" in keys(at, "number_input")
    at = AppTest.from_file(str(PAGES / "train.py"), default_timeout=60)
    at.query_params["present"] = "1"
    at.run()
    assert "train_lstm_clip_norm" not in keys(at, "number_input")
    assert "train_lstm_batch_size" in keys(at, "number_input")


def test_train_runs_a_gan_live_then_pause_steps_and_stop(runs_dir):
    at = page("train")
    at.button_group(key="train_preset").set_value("gan").run()
    at.selectbox(key="train_gan_data").set_value("fake").run()
    at.number_input(key="train_gan_batch_size").set_value(16).run()
    at.number_input(key="train_gan_n_score_samples").set_value(0).run()
    at.number_input(key="train_gan_eval_every").set_value(20).run()
    at.number_input(key="train_gan_max_steps").set_value(100_000).run()
    at.selectbox(key="train_gan_precision").set_value("bf16").run()
    at.button(key="train_start").click().run()
    run_id = at.session_state["train_run"]
    assert at.query_params["train_run"] == str(run_id)
    assert engine().status(run_id).config["precision"] == "bf16"
    rerun_until(at, lambda at: engine().status(run_id).step >= 20 and at.image)
    assert label("d_loss") in [trace.name for trace in figure(at, "train_curves").data]

    at.button(key="train_pause").click().run()
    rerun_until(at, lambda at: controls_agree(at) and "**paused**" in status_line(at))
    before = engine().status(run_id).step
    at.number_input(key="train_step_n").set_value(3)
    at.button(key="train_step_d").click().run()
    rerun_until(at, lambda at: engine().status(run_id).step == before + 3)
    at.button(key="train_stop").click().run()
    rerun_until(at, lambda at: "**stopped**" in status_line(at))


def controls_agree(at: AppTest) -> bool:
    """The single-step buttons are enabled exactly when the status line says paused: both come
    from one reading of the run, even while the worker is pausing it."""
    paused = "**paused**" in status_line(at)
    assert paused == (not at.button(key="train_step_d").disabled), status_line(at)
    return True


def status_line(at: AppTest) -> str:
    return next((m.value for m in at.markdown if m.value.startswith("Run ")), "")


def figure(at: AppTest, key: str):
    import plotly.io

    chart = next(e for e in at.get("plotly_chart") if key in e.proto.id)
    return plotly.io.from_json(chart.proto.spec)


# ---------------------------------------------------------------- Runs


def test_runs_filter_overlay_and_diff(runs_dir, finished_runs):
    at = page("runs")
    assert set(finished_runs) <= set(history(at)["id"])
    at.multiselect(key="runs_family").set_value(["vae"]).run()
    assert set(history(at)["family"]) == {"vae"}
    at.multiselect(key="runs_family").set_value([]).run()

    at.multiselect(key="runs_selected").set_value(finished_runs).run()
    assert at.selectbox(key="runs_metric").value == "loss"
    assert len(figure(at, "runs_overlay").data) == 2
    assert sum(c.value.count(" trained on cpu (") for c in at.caption) == 2  # where each ran
    diff = at.dataframe[1].value
    assert "family" in set(diff["field"]) and "model.arch" in set(diff["field"])
    assert at.get("download_button")

    classifier_run, vae_run = finished_runs
    gif = {}
    for run_id in (classifier_run, vae_run):
        at.selectbox(key="runs_target").set_value(run_id).run()
        (gif[run_id],) = [b for b in at.get("download_button") if b.proto.id.endswith("runs_gif")]
    assert gif[classifier_run].proto.disabled  # a classifier saves no sample grids
    assert not gif[vae_run].proto.disabled and gif[vae_run].proto.label == "Samples as GIF"


def test_runs_delete_needs_confirmation_and_ownership(runs_dir, finished_runs):
    long = {**TINY_CLASSIFIER, "max_steps": 100_000}  # the stop always comes before the end
    browser = "b" * 32  # the page's session owner
    mine = engine().start("classifier", long, name="to delete", owner=browser)
    theirs = engine().start("classifier", long, owner="another session")
    from_cli = engine().start("classifier", long)
    for run_id in (mine, theirs, from_cli):
        engine().stop(run_id)
    for run_id in (mine, theirs, from_cli):
        assert engine().wait(run_id, timeout=60).state == "stopped"
    at = AppTest.from_file(str(PAGES / "runs.py"), default_timeout=60)
    at.session_state["owner"] = browser
    at.run()
    owners = dict(zip(history(at)["id"], history(at)["owner"], strict=True))
    assert [owners[i] for i in (mine, theirs, from_cli)] == ["you", "a session", "command line"]
    for run_id, reason in ((theirs, "belongs to another session"), (from_cli, "command line")):
        at.selectbox(key="runs_target").set_value(run_id).run()
        assert at.checkbox(key=f"runs_confirm_{run_id}").disabled
        assert reason in at.button(key="runs_delete").proto.help
    at.selectbox(key="runs_target").set_value(mine).run()
    assert at.button(key="runs_delete").disabled
    at.checkbox(key=f"runs_confirm_{mine}").check().run()
    at.button(key="runs_delete").click().run()
    assert mine not in {run.id for run in engine().list()}
    assert mine not in set(history(at)["id"])


# ---------------------------------------------------------------- RNN vs LSTM


SWEEP_JSON = {
    "wall_s": 12.5,
    "results": [
        {"model": m, "length": n, "test_acc_mean": a, "test_acc_std": 0.05, "n_seeds": 3}
        for m, n, a in [("rnn", 5, 1.0), ("rnn", 20, 0.2), ("lstm", 5, 1.0), ("lstm", 20, 0.98)]
    ],
}


def test_rnn_vs_lstm_shows_the_shipped_sweep_per_recipe(runs_dir, tmp_path):
    (tmp_path / "sweep_default.json").write_text(json.dumps(SWEEP_JSON))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENDL_CHECKPOINT_DIR", str(tmp_path))
        at = page("rnn_vs_lstm")
        shipped = figure(at, "rnnlstm_shipped_default")
        assert {"RNN", "LSTM"} <= {trace.name for trace in shipped.data}
        (csv_button,) = at.get("download_button")  # the result table for a slide or spreadsheet
        assert csv_button.proto.label.endswith("CSV") and csv_button.proto.url.endswith(".csv")
        at.selectbox(key="rnnlstm_recipe").set_value("seed000").run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("sweep_seed000.json" in info.value for info in at.info), (
            [i.value for i in at.info],
            [e.value for e in at.error],
        )
        at.multiselect(key="rnnlstm_lengths").set_value([]).run()
        assert any("length" in e.value for e in at.error)
        assert at.button(key="rnnlstm_launch").disabled


def test_rnn_vs_lstm_launches_a_sweep_in_the_background(runs_dir):
    at = page("rnn_vs_lstm")
    at.multiselect(key="rnnlstm_lengths").set_value([5]).run()
    at.number_input(key="rnnlstm_seeds").set_value(1).run()
    at.button(key="rnnlstm_launch").click().run()
    sweep = at.session_state["rnnlstm_sweep"]
    assert sorted(cell.model for cell in sweep.cells) == ["lstm", "rnn"]

    def evaluated(at: AppTest) -> bool:  # both models have test accuracy and gradient norms
        heatmap = figure(at, "rnnlstm_heatmap")
        return all(any(v is not None for row in trace.z for v in row) for trace in heatmap.data)

    rerun_until(at, evaluated, timeout=120)  # two workers start torch, then train to a check
    assert any(trace.mode == "markers" for trace in figure(at, "rnnlstm_accuracy").data)
    at.button(key="rnnlstm_stop").click().run()
    for run_id in sweep.run_ids:
        assert engine().wait(run_id, timeout=60).state in TERMINAL_STATES
