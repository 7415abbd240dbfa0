"""Runs on a real Dask cluster: a scheduler and two workers as separate processes on 127.0.0.1,
each worker in its own temporary directory (no shared files with the run store)."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from gendl.engine.cluster import ClusterError
from gendl.engine.local_cluster import LocalDaskCluster
from gendl.engine.runs import TERMINAL_STATES, RunEngine
from gendl.engine.store import RunStore

CELLS = [("rnn", 4), ("lstm", 4), ("rnn", 6), ("lstm", 6)]


def cell_config(model: str, length: int) -> dict:
    return {"model": {"model": model}, "seq_length": length, "max_steps": 40, "eval_every": 20}


def endless_vae() -> dict:
    return {"data": "fake", "max_steps": 1_000_000, "eval_every": 50, "n_score_samples": 0}


@pytest.fixture(scope="module")
def cluster():
    with LocalDaskCluster(2) as running:
        yield running


def run_cells(engine: RunEngine) -> dict[tuple[str, int], list[dict]]:
    ids = {cell: engine.start("sequence", cell_config(*cell)) for cell in CELLS}
    rows = {}
    for cell, run_id in ids.items():
        run = engine.wait(run_id, timeout=180)
        assert run.state == "finished", (cell, run.state, run.reason)
        rows[cell] = engine.metrics_since(run_id)
    return rows


def test_a_sweep_on_the_cluster_matches_the_local_engine(cluster, tmp_path):
    with RunEngine(tmp_path / "local") as engine:
        local = run_cells(engine)
    with RunEngine(tmp_path / "dask", cluster=cluster.address) as engine:
        remote = run_cells(engine)
        places = {run.where for run in engine.list()}
        assert places <= set(engine.pool.client.scheduler_info()["workers"])
    for cell in CELLS:
        acc = [row["test_acc"] for row in local[cell] if "test_acc" in row]
        assert acc, cell
        assert [row["test_acc"] for row in remote[cell] if "test_acc" in row] == acc, cell
        assert [row["loss"] for row in remote[cell]] == [row["loss"] for row in local[cell]]


def test_live_metrics_pause_step_and_stop_on_the_cluster(cluster, tmp_path):
    with RunEngine(tmp_path, cluster=cluster.address, checkpoint_every=1.0) as engine:
        run_id = engine.start("vae", endless_vae())
        deadline = time.monotonic() + 60
        while not engine.metrics_since(run_id) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert engine.status(run_id).state == "running"  # rows arrive while it trains
        assert engine.status(run_id).where.startswith("tcp://127.0.0.1:")
        engine.pause(run_id)
        engine.wait(run_id, timeout=20, states=("paused",))
        at = engine.status(run_id).step
        engine.step(run_id, 3)
        deadline = time.monotonic() + 20
        while engine.status(run_id).step < at + 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        assert engine.status(run_id).step == at + 3  # exactly the asked steps, still paused
        engine.stop(run_id)
        run = engine.wait(run_id, timeout=30)
        assert run.state == "stopped", run.reason
        store = engine.store
        model = store.artifacts(run_id, "model")
        assert model and os.path.isfile(model[-1][2])  # the model came back to this machine
        assert str(store.run_dir(run_id)) in model[-1][2]
        assert (store.run_dir(run_id) / "checkpoint.pt").is_file()
        steps = [row["step"] for row in store.metrics_since(run_id)]
        assert steps == list(range(1, run.step + 1))


def test_a_bad_cluster_address_fails_fast_and_keeps_runs_queued(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run("sequence", cell_config("rnn", 4))
    start = time.monotonic()
    with pytest.raises(
        ClusterError, match="could not reach the Dask scheduler at tcp://127.0.0.1:9"
    ):
        RunEngine(tmp_path, cluster="tcp://127.0.0.1:9")
    assert time.monotonic() - start < 12
    with pytest.raises(ClusterError, match="tcp://HOST:PORT"):
        RunEngine(tmp_path, cluster="lab-pc-3")
    assert store.get_run(run_id).state == "queued"


@pytest.mark.slow
def test_a_killed_worker_resumes_on_another_without_losing_rows(tmp_path):
    with LocalDaskCluster(2) as running:
        with RunEngine(tmp_path, cluster=running.address, checkpoint_every=1.0) as engine:
            config = {**endless_vae(), "max_steps": 200}
            run_id = engine.start("vae", config)
            deadline = time.monotonic() + 60
            while (engine.status(run_id).checkpoint_step or 0) < 20:
                assert time.monotonic() < deadline, engine.status(run_id)
                time.sleep(0.1)
            first = engine.status(run_id).where
            pid = engine.pool.client.run(os.getpid, workers=[first])[first]
            os.killpg(os.getpgid(pid), signal.SIGKILL)  # the lab machine is switched off
            run = engine.wait(run_id, timeout=300)
            assert run.state == "finished", run.reason
            assert run.where != first
            steps = [row["step"] for row in engine.metrics_since(run_id)]
            assert steps == list(range(1, 201))


@pytest.mark.slow
def test_a_worker_without_mnist_prepares_it(tmp_path, cluster):
    with RunEngine(tmp_path, cluster=cluster.address) as engine:
        run_id = engine.start("classifier", {"max_steps": 3, "eval_every": 3})
        run = engine.wait(run_id, timeout=300, states=TERMINAL_STATES)
        assert run.state == "finished", run.reason
    prepared = [d for d in cluster.worker_dirs if (d / "data" / "MNIST" / "raw").is_dir()]
    assert prepared


def test_cli_trains_on_the_cluster_and_says_where(cluster, tmp_path, capsys, monkeypatch):
    from gendl.cli import main
    from gendl.engine.cluster import CLUSTER_ENV

    monkeypatch.setenv(CLUSTER_ENV, "")  # restored after the test: main() sets it for --cluster
    runs = ["--runs-dir", str(tmp_path)]
    argv = ["train", "lstm", "--set", "seq_length=4", "--max-steps", "30", "--no-progress"]
    assert main([*argv, *runs, "--cluster", cluster.address, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["state"] == "finished" and summary["step"] == 30
    assert main(["runs", "show", str(summary["run_id"]), *runs]) == 0
    where = [line for line in capsys.readouterr().out.splitlines() if line.startswith("where")]
    assert where and where[0].split()[-1] in cluster_workers(cluster)


def cluster_workers(cluster: LocalDaskCluster) -> set[str]:
    from distributed import Client

    with Client(cluster.address, set_as_default=False) as client:
        return set(client.scheduler_info()["workers"])
