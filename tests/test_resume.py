"""Resuming a run whose checkpoint is damaged or missing: the worker loop in this process, a tiny
classifier on fake data, stopped after a few steps as an interrupted run and continued."""

import pytest
import torch

from gendl.engine.records import CHECKPOINT_NAME, PREVIOUS_NAME
from gendl.engine.store import RunStore
from gendl.engine.worker import WorkerOptions, execute_run
from gendl.train import make_trainer
from gendl.train.common import run_trainer

CLASSIFIER = {"data": "fake", "max_steps": 12, "eval_every": 4, "batch_size": 16}
NEVER = WorkerOptions(flush_every=0.0, checkpoint_every=1e9)  # checkpoints only on the way out


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def reference(_one_thread):
    """The uninterrupted run's history (12 steps: cheap enough to compute per test)."""
    return run_trainer(make_trainer("classifier", CLASSIFIER))


def _run_until(store, run_id, step):
    """Train until ``step``, then end as interrupted (which checkpoints, like a server shutdown)."""
    state, _ = execute_run(
        store,
        run_id,
        NEVER,
        interrupted=lambda: "shutdown" if store.get_run(run_id).step >= step else None,
    )
    assert state == "interrupted" and store.get_run(run_id).step == step


def _finish(store, run_id):
    """Resume to the end; returns the run's reason and its metric steps when the first step ran."""
    seen = {}

    def on_step(row):
        if not seen:
            seen["reason"] = store.get_run(run_id).reason
            seen["first"] = row["step"]
            seen["steps"] = [r["step"] for r in store.metrics_since(run_id, 0)]

    state, _ = execute_run(store, run_id, NEVER, on_step=on_step)
    assert state == "finished"
    return seen


def _history(store, run_id):
    return store.metrics_since(run_id, 0)


def _same(rows, reference):
    assert [r["step"] for r in rows] == list(range(1, len(reference) + 1))
    assert [r["loss"] for r in rows] == pytest.approx([r["loss"] for r in reference], rel=1e-5)


@pytest.fixture
def run(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run("classifier", CLASSIFIER, state="running")
    _run_until(store, run_id, 3)
    _run_until(store, run_id, 6)  # checkpoint.pt at step 6, checkpoint.prev.pt at step 3
    return store, run_id, store.run_dir(run_id)


def test_a_truncated_checkpoint_resumes_from_the_previous_one(run, reference):
    store, run_id, directory = run
    data = (directory / CHECKPOINT_NAME).read_bytes()
    (directory / CHECKPOINT_NAME).write_bytes(data[: len(data) // 2])
    seen = _finish(store, run_id)
    assert seen["reason"] == (
        "checkpoint.pt is damaged (truncated or damaged torch file): "
        "resumed from checkpoint.prev.pt at step 3"
    )
    assert seen["first"] == 4 and seen["steps"] == list(range(1, 7))  # rows 4-6 kept meanwhile
    _same(_history(store, run_id), reference)  # the uninterrupted run, step for step


def test_changed_bytes_fail_the_checksum_and_the_previous_is_used(run, reference):
    store, run_id, directory = run
    payload = torch.load(directory / CHECKPOINT_NAME, weights_only=True)
    payload["elapsed_s"] += 1.0  # loads fine: only the stored sum notices
    torch.save(payload, directory / CHECKPOINT_NAME)
    seen = _finish(store, run_id)
    assert "checkpoint.pt is damaged (checksum mismatch" in seen["reason"]
    assert seen["first"] == 4
    _same(_history(store, run_id), reference)


def test_with_no_readable_checkpoint_it_starts_again_and_keeps_the_metrics(run, reference):
    store, run_id, directory = run
    (directory / CHECKPOINT_NAME).write_bytes(b"")
    (directory / PREVIOUS_NAME).write_bytes(b"PK\x03\x04 cut")
    seen = _finish(store, run_id)
    assert seen["reason"].startswith("checkpoint.pt is damaged (truncated or damaged torch file)")
    assert "checkpoint.prev.pt is damaged" in seen["reason"]
    assert seen["reason"].endswith("started again from step 0; the recorded metrics are kept")
    assert seen["first"] == 1 and seen["steps"] == list(range(1, 7))
    assert store.get_run(run_id).reason is None  # finished: nothing to explain any more
    _same(_history(store, run_id), reference)


def test_a_run_killed_before_its_first_checkpoint_keeps_its_metrics(run, reference):
    store, run_id, directory = run
    for name in (CHECKPOINT_NAME, PREVIOUS_NAME):
        (directory / name).unlink()  # as after a kill before the first checkpoint was written
    seen = _finish(store, run_id)
    assert seen["reason"] is None and seen["first"] == 1
    assert seen["steps"] == list(range(1, 7))  # recorded rows stay until recomputed
    _same(_history(store, run_id), reference)


def test_a_stopped_run_drops_rows_an_earlier_attempt_wrote_past_its_end(run):
    store, run_id, directory = run
    (directory / CHECKPOINT_NAME).unlink()
    (directory / PREVIOUS_NAME).unlink()
    state, _ = execute_run(
        store,
        run_id,
        NEVER,
        on_step=lambda row: row["step"] == 2 and store.push_command(run_id, "stop"),
    )
    assert state == "stopped"
    assert [r["step"] for r in _history(store, run_id)] == [1, 2]
