"""The run store: schema, rows, transactions, and survival of a writer killed with SIGKILL."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from gendl.engine.records import SCHEMA_VERSION, process_started
from gendl.engine.store import RunStore, StoreError, pid_alive

REPO = Path(__file__).resolve().parent.parent


def test_a_new_store_is_wal_and_versioned(tmp_path):
    store = RunStore(tmp_path)
    raw = sqlite3.connect(tmp_path / "runs.sqlite")
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.integrity_check() == "ok"


def test_a_newer_schema_is_refused(tmp_path):
    RunStore(tmp_path).close()
    raw = sqlite3.connect(tmp_path / "runs.sqlite")
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}"):
        RunStore(tmp_path)


def test_a_file_that_is_not_a_database_is_reported(tmp_path):
    (tmp_path / "runs.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="runs.sqlite"):
        RunStore(tmp_path)


def test_the_runs_dir_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GENDL_RUNS_DIR", str(tmp_path / "elsewhere"))
    assert RunStore().path == tmp_path / "elsewhere" / "runs.sqlite"


def test_runs_round_trip_and_persist_across_instances(tmp_path):
    store = RunStore(tmp_path)
    config = {"lr": 0.001, "model": {"hidden_dims": [4, 2]}}
    first = store.create_run("vae", config, name="vae", owner="alice")
    second = store.create_run("gan", {}, shared=True)
    assert store.run_dir(first).is_dir()
    assert store.update_run(first, state="running", pid=123)
    assert not store.update_run(first, state="paused", expect=("queued",))  # not queued any more
    store.update_run(second, state="failed", reason="loss became nan at step 3")
    store.close()

    reopened = RunStore(tmp_path)
    run = reopened.get_run(first)
    assert (run.family, run.name, run.config, run.owner) == ("vae", "vae", config, "alice")
    assert (run.state, run.pid, run.finished, run.active) == ("running", 123, None, True)
    failed = reopened.get_run(second)
    assert failed.reason == "loss became nan at step 3" and failed.finished is not None
    assert failed.shared and not failed.active
    assert [r.id for r in reopened.list_runs()] == [second, first]
    assert [r.id for r in reopened.list_runs(["running"])] == [first]


def test_a_run_is_never_seen_without_its_directory(tmp_path):
    """An engine's scheduler may claim a run the moment it is visible, and open its log there."""
    store = RunStore(tmp_path)
    created, missing = threading.Event(), set()

    def watch() -> None:  # another connection, as another engine or process would have
        raw = sqlite3.connect(store.path)
        while not created.is_set():
            newest = raw.execute("SELECT MAX(id) FROM runs").fetchone()[0]
            if newest is not None and not store.run_dir(newest).is_dir():
                missing.add(newest)
        raw.close()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: any window shows up
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for _ in range(300):
            store.create_run("classifier", {})
    finally:
        created.set()
        watcher.join()
        sys.setswitchinterval(interval)
    assert missing == set()


def test_a_process_is_alive_only_while_it_runs_and_only_as_itself():
    started = process_started(os.getpid())
    assert pid_alive(os.getpid(), started) and pid_alive(os.getpid())
    assert not pid_alive(os.getpid(), started + 1)  # the pid was reused by another process
    zombie = subprocess.Popen(["true"])
    time.sleep(0.2)  # exited, not yet reaped
    assert not pid_alive(zombie.pid)
    zombie.wait()
    assert not pid_alive(zombie.pid) and not pid_alive(None) and not pid_alive(0)


def test_a_run_is_held_by_the_process_that_creates_it(tmp_path):
    store = RunStore(tmp_path)
    queued = store.get_run(store.create_run("gan", {}))
    running = store.get_run(store.create_run("gan", {}, state="running"))
    me = (os.getpid(), process_started(os.getpid()))
    assert (queued.engine_pid, queued.engine_started, queued.pid) == (*me, None)
    assert (running.pid, running.pid_started, running.engine_pid) == (*me, None)


def test_unknown_runs_and_states_are_errors(tmp_path):
    store = RunStore(tmp_path)
    with pytest.raises(StoreError, match="no run with id 42"):
        store.get_run(42)
    run_id = store.create_run("gan", {})
    with pytest.raises(StoreError, match="state must be one of"):
        store.update_run(run_id, state="exploded")
    with pytest.raises(StoreError, match="command must be one of"):
        store.push_command(run_id, "explode")


def test_unclaimed_update_only_changes_a_run_without_a_process(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run("gan", {})
    assert store.update_run(run_id, pid=7, unclaimed=True)
    assert not store.update_run(run_id, pid=8, unclaimed=True)
    assert store.get_run(run_id).pid == 7


def test_claiming_queued_runs_is_bounded_across_store_instances_and_threads(tmp_path):
    first, second = RunStore(tmp_path), RunStore(tmp_path)  # two engines on one root
    me = (os.getpid(), process_started(os.getpid()))
    queued = [first.create_run("classifier", {}) for _ in range(12)]
    elsewhere = second.create_run("classifier", {})  # queued by another engine process
    second.update_run(elsewhere, engine_pid=1, engine_started=1)
    busy = second.create_run("classifier", {}, state="running")  # e.g. a CLI run
    claimed, lock = [], threading.Lock()

    def claim(store):
        while (run := store.claim_queued(me, max_active=4)) is not None:
            with lock:
                claimed.append(run.id)

    threads = [threading.Thread(target=claim, args=(s,)) for s in (first, second) * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == queued[:3]  # oldest first; the running run holds the fourth slot
    assert all(first.get_run(r).pid == me[0] for r in claimed)
    assert second.get_run(elsewhere).pid is None  # only the engine that queued a run claims it
    second.update_run(busy, state="finished")
    second.update_run(claimed[0], state="running")  # its worker took over
    second.update_run(claimed[1], state="paused")  # a paused run keeps its worker
    assert first.claim_queued(me, max_active=4).id == queued[3]
    assert first.claim_queued(me, max_active=4) is None


def test_metrics_since_returns_rows_after_a_step_in_order(tmp_path):
    store = RunStore(tmp_path)
    run_id, other = store.create_run("gan", {}), store.create_run("gan", {})
    rows = [{"step": s, "loss": 1.0 / s, "hist": [s, s + 1]} for s in range(1, 51)]
    store.append_metrics(run_id, rows[25:])  # out of order on purpose
    store.append_metrics(run_id, rows[:25])
    store.append_metrics(other, [{"step": 1, "loss": 9.0}])
    assert store.metrics_since(run_id) == rows
    assert store.metrics_since(run_id, 47) == rows[47:]
    assert store.metrics_since(run_id, 10, limit=3) == rows[10:13]
    assert store.metrics_since(run_id, 50) == []
    assert store.get_run(run_id).step == 25  # the last row of the last batch
    plan = store._read("EXPLAIN QUERY PLAN SELECT data FROM metrics WHERE run_id = 1 AND step > 3")
    assert "USING PRIMARY KEY" in " ".join(str(tuple(row)) for row in plan)  # not a table scan


def test_a_step_written_twice_is_replaced_and_truncation_forgets_the_tail(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run("gan", {})
    store.append_metrics(
        run_id, [{"step": s, "loss": 1.0} for s in (1, 2, 3)], [(2, "sample_grid", "a.png")]
    )
    store.append_metrics(run_id, [{"step": 2, "loss": 5.0}])
    assert [r["loss"] for r in store.metrics_since(run_id)] == [1.0, 5.0, 1.0]
    store.truncate_after(run_id, 1)
    assert store.metrics_since(run_id) == [{"step": 1, "loss": 1.0}]
    assert store.artifacts(run_id) == [] and store.get_run(run_id).step == 1


def test_a_failing_batch_writes_nothing(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run("gan", {})
    store.append_metrics(run_id, [{"step": 1, "loss": 1.0}])
    # the artifact insert fails (kind is NOT NULL) after the rows went in: all of it is rolled back
    with pytest.raises(sqlite3.IntegrityError):
        store.append_metrics(run_id, [{"step": 2}, {"step": 3}], [(3, None, "grid.png")])
    assert store.metrics_since(run_id) == [{"step": 1, "loss": 1.0}]


def test_artifacts_by_kind_and_delete_removes_rows_and_files(tmp_path):
    store = RunStore(tmp_path)
    run_id, keep = store.create_run("gan", {}), store.create_run("gan", {})
    grid = store.run_dir(run_id) / "samples" / "step_000010.png"
    grid.parent.mkdir()
    grid.write_bytes(b"png")
    files = [(10, "sample_grid", str(grid)), (20, "model", "m.pt"), (5, "sample_grid", "b.png")]
    store.append_metrics(run_id, [{"step": 20}], files)
    store.append_metrics(keep, [{"step": 1}])
    assert store.artifacts(run_id, "sample_grid") == [(5, "sample_grid", "b.png"), files[0]]
    assert [a[0] for a in store.artifacts(run_id)] == [5, 10, 20]
    store.push_command(run_id, "pause")
    store.delete_run(run_id)
    assert not store.run_dir(run_id).exists()
    raw = sqlite3.connect(tmp_path / "runs.sqlite")
    for table in ("metrics", "artifacts", "commands"):
        assert (
            raw.execute(f"SELECT COUNT(*) FROM {table} WHERE run_id = ?", (run_id,)).fetchone()[0]
            == 0
        )
    assert store.metrics_since(keep) == [{"step": 1}]


def test_commands_are_a_queue(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run("gan", {})
    store.push_command(run_id, "pause")
    last = store.push_command(run_id, "step", {"n": 3, "part": "d"})
    store.push_command(run_id, "resume")
    pending = store.pending_commands(run_id)
    assert [(c.command, c.arg) for c in pending] == [
        ("pause", {}),
        ("step", {"n": 3, "part": "d"}),
        ("resume", {}),
    ]
    store.take_commands(run_id, last)
    assert [c.command for c in store.pending_commands(run_id)] == ["resume"]
    store.clear_commands(run_id)
    assert store.pending_commands(run_id) == []


def test_threads_share_one_store(tmp_path):
    store = RunStore(tmp_path)
    run_ids = [store.create_run("gan", {}) for _ in range(4)]

    def write(run_id):
        for step in range(1, 51):
            store.append_metrics(run_id, [{"step": step}])
            store.metrics_since(run_id, step - 1)

    threads = [threading.Thread(target=write, args=(r,)) for r in run_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(len(store.metrics_since(r)) == 50 for r in run_ids)


WRITER = textwrap.dedent(
    """
    import sys
    from gendl.engine.store import RunStore
    store = RunStore(sys.argv[1])
    run_id = int(sys.argv[2])
    step = store.get_run(run_id).step
    print("ready", flush=True)
    while True:  # batches of 10 rows, each with a 2 kB payload so pages spill and the WAL grows
        rows = [{"step": step + i, "blob": "x" * 2000} for i in range(1, 11)]
        store.append_metrics(run_id, rows, [(step + 10, "sample_grid", "p.png")])
        step += 10
    """
)


def test_sigkill_of_a_writer_at_random_moments_never_loses_committed_rows(tmp_path):
    """Writers killed mid-stream: each reopen is intact and holds whole batches only."""
    store = RunStore(tmp_path)
    run_id = store.create_run("gan", {})
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rng = random.Random(0)
    seen = 0
    for _ in range(10):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), str(run_id)],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.15))
        before = len(store.metrics_since(run_id, seen))  # rows committed before the kill
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        reopened = RunStore(tmp_path)
        assert reopened.integrity_check() == "ok"
        steps = [row["step"] for row in reopened.metrics_since(run_id)]
        assert steps == list(range(1, len(steps) + 1)) and len(steps) % 10 == 0
        assert len(steps) >= seen + before
        assert len(reopened.artifacts(run_id)) == len(steps) // 10
        assert reopened.get_run(run_id).step == len(steps)
        seen = len(steps)
        reopened.close()
    assert seen > 0


@pytest.mark.parametrize(
    ("run_owner", "shared", "asker", "allowed"),
    [
        ("alice", False, "alice", True),  # her own run
        ("alice", False, "bob", False),  # another session's
        ("alice", True, "bob", True),  # shared with everyone
        (None, False, "bob", False),  # from before owners were recorded: the CLI's
        ("cli", False, "bob", False),  # started from the CLI: read-only in a browser
        ("cli", False, "teacher", True),  # the teacher (class mode) controls all
        ("alice", False, "teacher", True),
        ("alice", False, None, True),  # the local user (CLI) controls all
    ],
)
def test_one_rule_says_who_may_control_a_run(tmp_path, run_owner, shared, asker, allowed):
    from gendl.engine.runs import RunEngine, RunError
    from gendl.views.training import run_row

    store = RunStore(tmp_path)
    run_id = store.create_run("classifier", {}, owner=run_owner, shared=shared, state="stopped")
    run = store.get_run(run_id)
    assert run.controllable_by(asker) is allowed
    if asker is not None:
        assert run_row(run, asker)["control"] is allowed  # what the runs table shows
    with RunEngine(tmp_path, max_workers=1) as engine:
        assert [r.id for r in engine.list(asker)] == ([run_id] if allowed else [])
        if allowed:
            engine.delete(run_id, owner=asker)
        else:
            reason = "command line" if run_owner in (None, "cli") else "belongs to another session"
            with pytest.raises(RunError, match=reason):
                engine.delete(run_id, owner=asker)
