"""Queue positions and start times, against schedules worked out by hand."""

import pytest

from gendl.config import config_to_dict
from gendl.engine.records import Run
from gendl.engine.store import RunStore
from gendl.train import preset_config
from gendl.views.estimates import START_SECONDS
from gendl.views.queue import QueueSpot, ordinal, queue_spots, store_queue, time_left

# A waits with runs 1 and 2, B with run 3; nobody has been served yet
QUEUED = [(1, "A"), (2, "A"), (3, "B")]
DURATIONS = {1: 10.0, 2: 20.0, 3: 30.0}


def test_positions_take_turns_between_owners_and_starts_follow_free_workers():
    # turns: A's first (1), B's first (3), A's second (2). Two workers, one busy 5 s more:
    # run 1 at 0 (free worker, ends 10), run 3 at 5 (ends 35), run 2 at 10 when run 1 ends
    spots = queue_spots(QUEUED, {}, {}, DURATIONS, [("C", 5.0)], slots=2)
    assert spots == {1: QueueSpot(1, 0.0), 3: QueueSpot(2, 5.0), 2: QueueSpot(3, 10.0)}


def test_an_owner_served_recently_waits_behind_one_never_served():
    spots = queue_spots(QUEUED, {"A": 1}, {"A": 100.0}, DURATIONS, [("A", 8.0)], slots=1)
    # B holds no worker and was never served: its run goes first, then A's in order
    assert [spots[i].position for i in (3, 1, 2)] == [1, 2, 3]
    assert [spots[i].eta_s for i in (3, 1, 2)] == [8.0, 38.0, 48.0]


def test_an_owner_at_quota_starts_only_once_their_earlier_run_ends():
    # three free workers: without a quota all start now; with A held to 1 running, run 2
    # waits for run 1 (10 s) although a worker is free
    free = queue_spots(QUEUED, {}, {}, DURATIONS, [], slots=3)
    assert {i: s.eta_s for i, s in free.items()} == {1: 0.0, 3: 0.0, 2: 0.0}
    held = queue_spots(QUEUED, {}, {}, DURATIONS, [], slots=3, quota=lambda o: 1)
    assert {i: s.eta_s for i, s in held.items()} == {1: 0.0, 3: 0.0, 2: 10.0}


def test_a_spot_reads_as_a_place_and_a_wait():
    assert str(QueueSpot(2, 200.0)) == "2nd in the queue · starts in about 3 min 20 s"
    ordinals = [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)]
    assert ordinals == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "101st",
        "111th",
    ]


def budget(max_steps=None, max_seconds=None) -> dict:
    """A classifier's full config with this budget."""
    overrides = {"data": "fake", "max_steps": max_steps, "max_seconds": max_seconds}
    return config_to_dict(preset_config("classifier", overrides)[1])


def run(config: dict, started: float | None = None) -> Run:
    values = dict(
        id=1, family="classifier", name=None, config=config, state="running", reason=None,
        owner="A", shared=False, created=0.0, updated=0.0, finished=None, step=0, pid=1,
        pid_started=None, engine_pid=None, engine_started=None, checkpoint=None,
        checkpoint_step=None, started=started,
    )  # fmt: skip
    return Run(**values)


def test_time_left_follows_the_pace_so_far_or_the_estimate_before_the_first_step():
    # a quarter of 100 steps in 10 s: 30 s more at that pace
    assert time_left(run(budget(max_steps=100)), {"step": 25, "elapsed_s": 10.0}) == 30.0
    # no step yet: the estimate (worker start + the time budget) less the time since it started
    fresh = run(budget(max_seconds=60.0), started=1000.0)
    assert time_left(fresh, None, now=1004.0) == pytest.approx(START_SECONDS + 60.0 - 4.0)
    assert time_left(fresh, None, now=2000.0) == 0.0


def test_store_queue_reads_the_queue_from_the_store(tmp_path):
    store = RunStore(tmp_path)
    running = store.create_run("classifier", budget(max_steps=100), owner="C", state="running")
    store.append_metrics(running, [{"step": 25, "elapsed_s": 10.0}])  # 30 s left
    # durations: the worker's start plus each time budget: 20, 30 and 10 s
    ids = [
        store.create_run("classifier", budget(max_seconds=s - START_SECONDS), owner=who)
        for who, s in (("A", 20.0), ("A", 30.0), ("B", 10.0))
    ]
    a1, a2, b1 = ids
    spots = store_queue(store, slots=2)
    # turns A, B, A; two workers, one busy 30 s more: a1 at 0 (ends 20), b1 at 20, a2 at 30
    assert spots == {a1: QueueSpot(1, 0.0), b1: QueueSpot(2, 20.0), a2: QueueSpot(3, 30.0)}
    assert store_queue(RunStore(tmp_path / "empty"), slots=2) == {}
