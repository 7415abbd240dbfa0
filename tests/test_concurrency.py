"""Many sessions at once, each with its own RunEngine on one run store (as server sessions sharing a
machine would): they start runs at the same moment, the pool bound holds across all engines (the
rest queue), no session can control another's run, every run finishes, and reading stays fast.

The default suite runs 3 sessions with one worker; ``-m slow`` runs 20 sessions with two.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from gendl.engine.runs import TERMINAL_STATES, RunEngine, RunError
from gendl.engine.store import RunStore

CONFIG = {"data": "fake", "max_steps": 20, "eval_every": 10, "batch_size": 16}
ENGINE = {
    "threads_per_worker": 1,
    "flush_every": 0.2,
    "checkpoint_every": 5.0,
    "poll_interval": 0.1,
}
READ_BOUND_S = 2.0  # a dashboard polls list() and metrics_since() once a second


def holding_a_worker(store: RunStore) -> int:
    runs = store.list_runs(("queued", "running", "paused"))
    return sum(run.state != "queued" or run.pid is not None for run in runs)


def others_cannot_control(engine: RunEngine, run_id: int, me: str) -> None:
    for command in (engine.pause, engine.resume, engine.stop, engine.delete, engine.share):
        with pytest.raises(RunError, match="belongs to another session"):
            command(run_id, owner=me)
    with pytest.raises(RunError, match="belongs to another session"):
        engine.step(run_id, 1, owner=me)


def run_sessions(root, n_sessions: int, max_workers: int, timeout: float) -> dict:
    engines = [RunEngine(root, max_workers=max_workers, **ENGINE) for _ in range(n_sessions)]
    run_ids: list[int | None] = [None] * n_sessions
    latencies: list[float] = []
    most_active, done = [0], threading.Event()
    barrier = threading.Barrier(n_sessions)

    def monitor() -> None:
        store = RunStore(root)
        while not done.is_set():
            most_active[0] = max(most_active[0], holding_a_worker(store))
            time.sleep(0.01)
        store.close()

    def timed(call, *args, **kwargs):
        start = time.perf_counter()
        result = call(*args, **kwargs)
        latencies.append(time.perf_counter() - start)
        return result

    def session(i: int):
        engine, me = engines[i], f"student-{i}"
        barrier.wait()  # every session clicks Start at the same moment
        run_id = run_ids[i] = engine.start("classifier", {**CONFIG, "seed": i}, owner=me)
        deadline, last, controlled = time.monotonic() + timeout, 0, False
        while True:
            mine = timed(engine.list, owner=me)
            assert [run.id for run in mine] == [run_id]  # a session sees only its own runs
            rows = timed(engine.metrics_since, run_id, last)
            last = rows[-1]["step"] if rows else last
            other = run_ids[(i + 1) % n_sessions]
            if other is not None and not controlled:
                others_cannot_control(engine, other, me)
                controlled = True
            if mine[0].state in TERMINAL_STATES:
                return mine[0], last, controlled
            assert time.monotonic() < deadline, f"run {run_id} still {mine[0].state}"
            time.sleep(0.2)

    watcher = threading.Thread(target=monitor)
    watcher.start()
    try:
        with ThreadPoolExecutor(n_sessions) as pool:
            results = list(pool.map(session, range(n_sessions)))
    finally:
        done.set()
        watcher.join()
        for engine in engines:
            engine.close()
    return {"results": results, "latencies": latencies, "most_active": most_active[0]}


@pytest.mark.parametrize(
    ("n_sessions", "max_workers", "timeout"),
    [(3, 1, 240.0), pytest.param(20, 2, 900.0, marks=pytest.mark.slow)],
)
def test_sessions_starting_at_once_share_the_pool_bound(tmp_path, n_sessions, max_workers, timeout):
    outcome = run_sessions(tmp_path, n_sessions, max_workers, timeout)
    for run, last_step, _ in outcome["results"]:
        assert (run.state, run.step, last_step) == ("finished", 20, 20), run.reason
    assert sum(controlled for _, _, controlled in outcome["results"]) >= n_sessions - 1
    # the bound holds across all engines on the store, and is used
    assert outcome["most_active"] == max_workers
    worst = max(outcome["latencies"])
    print(
        f"{n_sessions} sessions, {max_workers} workers: {len(outcome['latencies'])} reads, "
        f"max latency {worst * 1000:.0f} ms"
    )
    assert worst < READ_BOUND_S
    store = RunStore(tmp_path)
    assert store.integrity_check() == "ok"
    for run, _, _ in outcome["results"]:
        assert [row["step"] for row in store.metrics_since(run.id, 0)] == list(range(1, 21))
