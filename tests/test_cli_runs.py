"""CLI train / sweep / runs over the store (fake data, a few steps each)."""

import csv
import io
import json
import statistics
import subprocess
import sys
import zipfile

import pytest
import torch

from gendl.checkpoints import load_model
from gendl.cli import main, parse_overrides
from gendl.engine.pool import machine_bound
from gendl.engine.store import RunStore
from gendl.engine.sweep import sweep_cells
from gendl.errors import GendlError
from gendl.train import make_trainer, preset_config
from gendl.train.common import run_trainer


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    threads = torch.get_num_threads()  # `train` sets the thread count of the process it runs in
    yield
    torch.set_num_threads(threads)


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_overrides_nest_on_dots_and_read_json_values():
    got = parse_overrides(
        [
            "model.hidden_dim=64",
            "data=fake",
            "lr=1e-3",
            "max_steps=null",
            "model.model=rnn",
            "flag=true",
            "dims=[1, 2]",
        ]
    )
    assert got == {
        "model": {"hidden_dim": 64, "model": "rnn"},
        "data": "fake",
        "lr": 0.001,
        "max_steps": None,
        "flag": True,
        "dims": [1, 2],
    }
    for bad in (["lr"], ["=3"], ["model..x=1"], ["a=1", "a.b=2"]):
        with pytest.raises(GendlError):
            parse_overrides(bad)


def test_train_records_the_run_prints_json_and_copies_the_model(tmp_path, capsys):
    runs, out = tmp_path / "runs", tmp_path / "models"
    args = [
        "train",
        "classifier",
        "--set",
        "data=fake",
        "--set",
        "eval_every=4",
        "--max-steps",
        "8",
        "--set",
        "batch_size=32",
        "--seed",
        "3",
        "--runs-dir",
        str(runs),
        "--out",
        str(out),
        "--json",
        "--no-progress",
    ]
    assert main(args) == 0
    summary = last_json(capsys)
    overrides = {"data": "fake", "eval_every": 4, "max_steps": 8, "batch_size": 32, "seed": 3}
    family, config = preset_config("classifier", overrides)
    reference = run_trainer(make_trainer(family, config))[-1]
    assert (summary["state"], summary["step"], summary["run_id"]) == ("finished", 8, 1)
    assert summary["loss"] == pytest.approx(reference["loss"], rel=1e-5)
    assert summary["test_acc"] == reference["test_acc"]
    model = load_model(out / "classifier.pt", kind="classifier")
    assert summary["checkpoint"] == str(out / "classifier.pt")
    trained = load_model(runs / "1" / "model.pt")
    for a, b in zip(model.state_dict().values(), trained.state_dict().values(), strict=True):
        assert torch.equal(a, b)

    store = RunStore(runs)
    assert store.get_run(1).config["seed"] == 3 and store.get_run(1).state == "finished"
    assert main(["runs", "list", "--runs-dir", str(runs)]) == 0
    assert "classifier" in capsys.readouterr().out.splitlines()[1]
    assert main(["runs", "show", "1", "--runs-dir", str(runs)]) == 0
    shown = capsys.readouterr().out
    assert "finished" in shown and '"seed": 3' in shown


def test_export_holds_config_metrics_samples_and_weights(tmp_path, capsys):
    runs = tmp_path / "runs"
    args = [
        "train",
        "gan",
        "--set",
        "data=fake",
        "--set",
        "n_score_samples=0",
        "--set",
        "eval_every=1",
        "--max-steps",
        "2",
        "--runs-dir",
        str(runs),
        "--no-progress",
    ]
    assert main(args) == 0
    assert (
        main(["runs", "export", "1", "--out", str(tmp_path / "run.zip"), "--runs-dir", str(runs)])
        == 0
    )
    with zipfile.ZipFile(tmp_path / "run.zip") as archive:
        names = set(archive.namelist())
        assert {"config.json", "metrics.csv", "model.pt", "checkpoint.pt"} <= names
        assert {"samples/step_000001.png", "samples/step_000002.png"} <= names
        record = json.loads(archive.read("config.json"))
        rows = list(csv.DictReader(io.StringIO(archive.read("metrics.csv").decode())))
    assert record["config"]["data"] == "fake" and record["state"] == "finished"
    stored = RunStore(runs).metrics_since(1, 0)
    assert [int(r["step"]) for r in rows] == [1, 2]
    assert [float(r["d_loss"]) for r in rows] == [r["d_loss"] for r in stored]


def test_a_diverging_run_exits_1_and_bad_input_exits_2(tmp_path, capsys):
    runs = ["--runs-dir", str(tmp_path), "--no-progress", "--json"]
    vae = ["train", "vae", "--set", "data=fake", "--set", "lr=0.5", "--set", "n_score_samples=0"]
    assert main(vae + runs) == 1
    captured = capsys.readouterr()
    assert "error: run 1 failed: loss became nan at step 2" in captured.err
    assert json.loads(captured.out.strip().splitlines()[-1])["state"] == "failed"
    assert main(["train", "gan", "--set", "foo=1", *runs]) == 2
    assert "error: GANTrainConfig has no field(s) foo" in capsys.readouterr().err
    assert main(["train", "gan", "--set", "lr_d=5", *runs]) == 2
    assert "lr_d must be in (0, 1], got 5" in capsys.readouterr().err
    assert len(RunStore(tmp_path).list_runs()) == 1  # the refused configs never became runs


TINY = {
    "max_steps": 6,
    "eval_every": 3,
    "eval_batch": 64,
    "batch_size": 16,
    "model": {"hidden_dim": 8},
}


def test_sweep_reports_mean_and_std_of_the_final_test_accuracy(tmp_path, capsys):
    sets = [f"--set={k}={json.dumps(v)}" for k, v in TINY.items() if k != "model"]
    args = [
        "sweep",
        "--models",
        "rnn",
        "lstm",
        "--lengths",
        "3",
        "--seeds",
        "2",
        "--workers",
        "2",
        "--set",
        "model.hidden_dim=8",
        *sets,
        "--runs-dir",
        str(tmp_path),
        "--json",
    ]
    assert main(args) == 0
    result = last_json(capsys)
    assert result["wall_s"] > 0 and len(result["results"]) == 2
    for row in result["results"]:  # against the same cells trained here, directly
        accs = []
        for cell in sweep_cells([row["model"]], [3], 2, overrides=TINY):
            accs.append(run_trainer(make_trainer("sequence", cell.config))[-1]["test_acc"])
        assert row["length"] == 3 and row["n_seeds"] == 2 and row["steps_mean"] == 6
        assert row["test_acc_mean"] == pytest.approx(statistics.fmean(accs))
        assert row["test_acc_std"] == pytest.approx(statistics.stdev(accs))
    runs = RunStore(tmp_path).list_runs()
    assert len(runs) == 4 and {r.state for r in runs} == {"finished"}
    assert {r.config["model"]["model"] for r in runs} == {"rnn", "lstm"}


def test_sweep_validates_every_cell_before_starting(tmp_path, capsys):
    args = ["sweep", "--lengths", "3", "1000", "--runs-dir", str(tmp_path)]
    assert main(args) == 2
    assert "seq_length must be in [2, 100], got 1000" in capsys.readouterr().err
    assert RunStore(tmp_path).list_runs() == []


def test_a_sweep_on_this_machine_keeps_to_its_bound_on_parallel_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GENDL_CLUSTER", raising=False)
    bound = machine_bound()
    args = ["sweep", "--lengths", "3", "--seeds", "1", "--runs-dir", str(tmp_path)]
    assert main([*args, "--workers", str(bound + 1)]) == 2
    err = capsys.readouterr().err
    assert f"workers {bound + 1}: this machine trains at most {bound} runs at a time" in err
    assert RunStore(tmp_path).list_runs() == []


def test_help_for_the_new_commands():
    for args in (["sweep"], ["runs", "export"]):
        run = subprocess.run(
            [sys.executable, "-m", "gendl", *args, "--help"], capture_output=True, text=True
        )
        assert run.returncode == 0 and "usage:" in run.stdout


def test_one_sweep_object_launches_longest_first_and_summarizes_its_runs(tmp_path):
    from gendl.engine.runs import RunEngine
    from gendl.engine.sweep import Sweep, summary

    grid = Sweep.grid(["rnn", "lstm"], [3, 4], 1, overrides={**TINY, "max_steps": 2})
    with RunEngine(tmp_path, max_workers=1) as engine:
        sweep = grid.launch(engine, owner="alice")
        sweep.stop(engine, owner="alice")  # queued runs stop at once, a started one after a step
        ended = [engine.wait(run_id, 60) for run_id in sweep.run_ids]
        points = sweep.points(engine)
    order = [cell.name for _, cell in sorted(zip(sweep.run_ids, sweep.cells, strict=True))]
    assert order == ["lstm L=4 seed 0", "rnn L=4 seed 0", "lstm L=3 seed 0", "rnn L=3 seed 0"]
    assert [cell.name for cell in grid.queued()] == order  # what the duration estimate follows
    assert {(run.owner, run.state) for run in ended} == {("alice", "stopped")}
    assert [p["run_id"] for p in points] == list(sweep.run_ids)
    rows = summary(points)
    assert [(r["model"], r["length"], r["states"]) for r in rows] == [
        ("rnn", 3, ["stopped"]),
        ("rnn", 4, ["stopped"]),
        ("lstm", 3, ["stopped"]),
        ("lstm", 4, ["stopped"]),
    ]


def test_export_into_a_directory_and_never_over_an_existing_file(tmp_path, capsys):
    runs = tmp_path / "runs"
    run_id = RunStore(runs).create_run("classifier", {"seed": 1}, state="finished")
    out = tmp_path / "exports"
    out.mkdir()
    export = ["runs", "export", str(run_id), "--runs-dir", str(runs), "--out"]
    assert main([*export, str(out)]) == 0
    with zipfile.ZipFile(out / f"run{run_id}.zip") as archive:
        assert json.loads(archive.read("config.json"))["config"] == {"seed": 1}
    capsys.readouterr()
    existing = tmp_path / "keep.zip"
    existing.write_bytes(b"mine")
    for target in (existing, out):  # out/run1.zip exists now too
        assert main([*export, str(target)]) == 2
        assert "the file exists" in capsys.readouterr().err
    assert existing.read_bytes() == b"mine"
    (tmp_path / "notes.txt").write_text("x")
    assert main([*export, str(tmp_path / "notes.txt" / "a.zip")]) == 2
    assert "notes.txt is a file" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.tmp"))


def test_train_checks_out_before_training_and_writes_into_a_directory(tmp_path, capsys):
    runs = tmp_path / "runs"
    (tmp_path / "notes.txt").write_text("x")
    args = ["train", "classifier", "--set", "data=fake", "--max-steps", "1", "--no-progress"]
    assert main([*args, "--runs-dir", str(runs), "--out", str(tmp_path / "notes.txt")]) == 2
    assert "notes.txt: a file that is not .pt" in capsys.readouterr().err
    assert RunStore(runs).list_runs() == []  # nothing was trained
    (tmp_path / "dir.pt").mkdir()  # an existing directory is one, whatever its name
    assert main([*args, "--runs-dir", str(runs), "--out", str(tmp_path / "dir.pt")]) == 0
    assert load_model(tmp_path / "dir.pt" / "classifier.pt", kind="classifier")
    assert not list(tmp_path.rglob("*.tmp"))
