"""The fair queue against independent models of round-robin: pure functions, then the store's claim.

The models are written differently from :mod:`gendl.engine.queue` (a FIFO ring of owners where the
one served goes to the back; rounds listed level by level; a turn-by-turn simulation), so a test
fails when the two disagree.
"""

import math
import os
import random
import threading
from collections import Counter, deque

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gendl.engine.queue import fair_order, pick_next, start_times
from gendl.engine.records import CLI_OWNER, TEACHER
from gendl.engine.store import HOLDS_WORKER, RunStore, process_started

OWNERS = ("ann", "bob", "cy", "dee", None, CLI_OWNER, TEACHER)
ME = (os.getpid(), process_started(os.getpid()))
OTHER_ENGINE = (1, 1)  # a second engine process sharing the store


def by_owner(queued):
    """Each owner's run ids, oldest first."""
    runs = {}
    for run_id, owner in sorted(queued):
        runs.setdefault(owner, []).append(run_id)
    return runs


def ring_order(queued, last_served=None):
    """Round-robin as a FIFO of owners, nobody holding a worker: owners never served stand at the
    front in the order they asked, served ones behind in the order they were served; the owner at
    the front starts one run and goes to the back."""
    last_served = last_served or {}
    runs = by_owner(queued)
    never = [o for o in runs if o not in last_served]
    served = sorted((o for o in runs if o in last_served), key=lambda o: (last_served[o], runs[o]))
    ring, order = deque(sorted(never, key=lambda o: runs[o][0]) + served), []
    while ring:
        owner = ring.popleft()
        order.append(runs[owner].pop(0))
        if runs[owner]:
            ring.append(owner)
    return order


def level_order(queued, active, last_started):
    """Round-robin with workers held: an owner holding h workers takes its turns from round h on.
    Round k lists the owners entering at k (served longest ago first, never served before them),
    then the owners of round k-1 who still wait; each starts one run per round."""
    runs = by_owner(queued)
    entering = sorted(runs, key=lambda o: (last_started.get(o, -math.inf), runs[o][0]))
    order, round_, level = [], [], 0
    while any(runs.values()):
        new = [o for o in entering if active.get(o, 0) == level]
        round_ = new + [o for o in round_ if runs[o]]
        order += [runs[o].pop(0) for o in round_]
        level += 1
    return order


# ------------------------------------------------------------------------ hand-made scenarios


def test_one_owners_sweep_takes_turns_with_everyone_elses_single_runs():
    queued = [(i, "ann") for i in range(1, 6)] + [(6, "bob"), (7, "cy"), (8, "bob")]
    assert fair_order(queued, {}, {}) == [1, 6, 7, 2, 8, 3, 4, 5]
    assert ring_order(queued) == [1, 6, 7, 2, 8, 3, 4, 5]
    assert pick_next(queued, {}, {}) == 1


def test_an_owner_never_served_goes_before_those_served_and_fewest_held_before_all():
    queued = [(1, "ann"), (2, "bob"), (3, "cy")]
    assert fair_order(queued, {}, {"ann": 5.0, "bob": 3.0}) == [3, 2, 1]
    assert pick_next(queued, {}, {"ann": 5.0, "bob": 3.0}) == 3
    # bob holds a worker: ann's and cy's first runs come before bob's next
    assert fair_order(queued, {"bob": 1}, {"bob": 9.0}) == [1, 3, 2]
    assert pick_next(queued, {"ann": 2, "bob": 1, "cy": 1}, {"bob": 1.0, "cy": 2.0}) == 2


def test_an_owner_at_quota_is_skipped_and_none_means_no_limit():
    queued = [(1, "ann"), (2, "ann"), (3, "bob")]
    one = lambda owner: None if owner in (TEACHER, None) else 1  # noqa: E731
    assert pick_next(queued, {"ann": 1}, {}, one) == 3
    assert pick_next(queued, {"ann": 1, "bob": 1}, {}, one) is None
    assert pick_next(queued, {"ann": 1, "bob": 1}, {}) == 1  # no quota: fewest held, then oldest
    teacher = [(4, TEACHER), (5, None)]
    assert pick_next(teacher, {TEACHER: 7, None: 3}, {}, one) == 5  # both exempt
    assert pick_next([], {}, {}) is None and fair_order([], {"ann": 1}, {"ann": 1.0}) == []


def test_start_times_follow_slots_durations_and_quota_waits():
    owners = {1: "ann", 2: "bob", 3: "ann", 4: "cy"}
    durations = {1: 5.0, 2: 3.0, 3: 2.0, 4: 1.0}
    # one worker, nothing running: back to back
    assert start_times([1, 2, 3, 4], owners, durations, [], 1) == {1: 0, 2: 5, 3: 8, 4: 10}
    # two workers, one busy for 4 s more: the free one at 0, the other at 4, then as runs end
    got = start_times([1, 2, 3, 4], owners, durations, [("dee", 4.0)], 2)
    assert got == {1: 0, 2: 4, 3: 5, 4: 7}
    # ann may run one at a time: her second run waits for her first to end, though a worker is free
    one = lambda owner: 1  # noqa: E731
    got = start_times([1, 3, 2], owners, durations, [], 3, one)
    assert got == {1: 0, 3: 5, 2: 0}
    # ann's run still has 6 s left: her queued runs start after it and after each other
    got = start_times([1, 3], owners, durations, [("ann", 6.0)], 2, one)
    assert got == {1: 6, 3: 11}


def test_start_times_with_more_runs_holding_workers_than_slots():
    # three runs hold workers and two slots remain (the bound was lowered): a queued run starts
    # when the second of them ends, leaving one running
    got = start_times([1], {1: "ann"}, {1: 1.0}, [("x", 1.0), ("y", 2.0), ("z", 3.0)], 2)
    assert got == {1: 2.0}


def test_a_student_at_quota_does_not_hold_up_the_next_in_line():
    # ann's long run holds one of two workers for 100 s; her next run is first in line but must
    # wait for it, and bob's run takes the worker that frees at 10 s meanwhile
    owners = {1: "ann", 2: "bob"}
    got = start_times(
        [1, 2], owners, {1: 5.0, 2: 5.0}, [("ann", 100.0), ("cy", 10.0)], 2, lambda o: 1
    )
    assert got == {1: 100.0, 2: 10.0}


# ------------------------------------------------------------------------ random scenarios

queues = st.lists(st.sampled_from(OWNERS), max_size=30).map(
    lambda owners: [(i + 1, owner) for i, owner in enumerate(owners)]
)
held = st.dictionaries(st.sampled_from(OWNERS), st.integers(0, 3), max_size=4)
times = st.dictionaries(st.sampled_from(OWNERS), st.integers(0, 5).map(float), max_size=4)


@given(queues)
def test_fresh_queue_is_plain_round_robin(queued):
    order = fair_order(queued, {}, {})
    assert order == ring_order(queued)
    # nobody's second run starts while another owner waits with a first (or k+1-th before k-th)
    turn = Counter()
    turns = []
    owner_of = dict(queued)
    for run_id in order:
        turn[owner_of[run_id]] += 1
        turns.append(turn[owner_of[run_id]])
    assert turns == sorted(turns)


@given(queues, times)
def test_with_nobody_holding_a_worker_it_is_the_fifo_ring(queued, last):
    assert fair_order(queued, {}, last) == ring_order(queued, last)


@given(queues, held, times)
def test_fair_order_is_round_by_round_from_the_workers_held(queued, active, last):
    order = fair_order(queued, active, last)
    assert order == level_order(queued, active, last)
    assert sorted(order) == sorted(run_id for run_id, _ in queued)


@given(queues, held, times, st.dictionaries(st.sampled_from(OWNERS), st.integers(0, 3)))
def test_pick_next_is_the_first_in_fair_order_whose_owner_is_under_quota(
    queued, active, last, limits
):
    owner_of = dict(queued)

    def under(run_id):
        limit = limits.get(owner_of[run_id])
        return limit is None or active.get(owner_of[run_id], 0) < limit

    expected = next(filter(under, fair_order(queued, active, last)), None)
    assert pick_next(queued, active, last, limits.get) == expected


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(("queue", "claim", "end")), st.sampled_from(OWNERS))))
def test_turn_by_turn_nobody_goes_twice_while_another_waits_for_a_first(events):
    """Owners queue runs, workers are claimed and runs end in any order, quota 1 for students."""
    quota = lambda owner: None if owner in (None, CLI_OWNER, TEACHER) else 1  # noqa: E731
    queued, running, last, clock = [], [], {}, 0.0
    for step, (event, owner) in enumerate(events):
        if event == "queue":
            queued.append((step, owner))
        elif event == "end" and running:
            running.pop(0)
        elif event == "claim":
            active = Counter(running)
            chosen = pick_next(queued, active, last, quota)
            eligible = {o for _, o in queued if quota(o) is None or active[o] < quota(o)}
            if chosen is None:
                assert not eligible
                continue
            who = dict(queued)[chosen]
            assert who in eligible and active[who] == min(active[o] for o in eligible)
            if who in last:  # served before: no owner waits who never was
                assert not eligible - set(last)
            assert chosen == min(i for i, o in queued if o == who)  # an owner's oldest first
            queued.remove((chosen, who))
            running.append(who)
            clock += 1.0
            last[who] = clock
            assert quota(who) is None or Counter(running)[who] <= quota(who)


# ------------------------------------------------------------------------ through the store


def queue_runs(store, owners, holder=ME):
    ids = []
    for owner in owners:
        run_id = store.create_run("classifier", {}, owner=owner)
        if holder != ME:
            store.update_run(run_id, engine_pid=holder[0], engine_started=holder[1])
        ids.append(run_id)
    return ids


def test_claims_one_at_a_time_follow_the_ring_with_arrivals_between(tmp_path):
    store = RunStore(tmp_path)
    rng = random.Random(14)
    ids = queue_runs(store, ["ann"] * 4 + ["bob"] * 2 + ["cy"])
    owner_of = dict(zip(ids, ["ann"] * 4 + ["bob"] * 2 + ["cy"], strict=True))
    served, claimed = {}, []
    for turn in range(40):
        if turn < 25 and rng.random() < 0.4:  # someone queues another run between two claims
            owner = rng.choice(["ann", "bob", "cy", "dee", "eve"])
            owner_of[queue_runs(store, [owner])[0]] = owner
        waiting = [(i, owner_of[i]) for i in sorted(owner_of) if i not in claimed]
        expected = ring_order(waiting, served)[:1]
        run = store.claim_queued(ME, max_active=1)
        assert ([run.id] if run else []) == expected
        if run is None:
            continue
        assert run.started is not None and run.pid == ME[0]
        assert store.queue_state()[1] == {run.owner: 1}
        claimed.append(run.id)
        served[run.owner] = turn
        store.update_run(run.id, state="finished")
    assert len(claimed) == len(owner_of)  # every run got its turn


def test_the_store_skips_an_owner_at_quota_until_their_run_ends(tmp_path):
    store = RunStore(tmp_path)
    ann1, ann2, bob1 = queue_runs(store, ["ann", "ann", "bob"])
    cli = queue_runs(store, [CLI_OWNER, CLI_OWNER])
    quota = lambda owner: None if owner == CLI_OWNER else 1  # noqa: E731
    got = [store.claim_queued(ME, 5, quota).id for _ in range(4)]
    assert got == [ann1, bob1, cli[0], cli[1]]  # ann is at quota; the command line has none
    assert store.claim_queued(ME, 5, quota) is None  # a worker is free, but only ann waits
    store.update_run(ann1, state="finished")
    assert store.claim_queued(ME, 5, quota).id == ann2


def test_two_engines_on_one_store_serve_one_fair_order(tmp_path):
    first, second = RunStore(tmp_path), RunStore(tmp_path)
    owners = ["ann", "ann", "ann", "bob", "bob", "cy"]
    a_ids = queue_runs(first, owners[:3])  # ann queued through engine A
    b_ids = queue_runs(second, owners[3:], holder=OTHER_ENGINE)  # bob and cy through engine B
    owner_of = dict(zip(a_ids + b_ids, owners, strict=True))
    expected = ring_order(list(owner_of.items()))
    claimed = []
    while len(claimed) < len(owners):
        got_a = first.claim_queued(ME, max_active=1)
        got_b = second.claim_queued(OTHER_ENGINE, max_active=1)
        assert (got_a is None) != (got_b is None)  # exactly the engine whose run is next claims
        run = got_a or got_b
        assert (run.id in a_ids) == (got_a is not None)
        claimed.append(run.id)
        first.update_run(run.id, state="finished")
    assert claimed == expected


def test_concurrent_claimers_never_exceed_the_bound(tmp_path):
    stores = [RunStore(tmp_path) for _ in range(2)]
    holders = [ME, OTHER_ENGINE]
    owners = [f"s{i % 7}" for i in range(42)]
    for index, store in enumerate(stores):
        queue_runs(store, owners[index::2], holder=holders[index])
    max_active, claimed, seen, lock = 3, [], [], threading.Lock()

    def claimer(store, holder):
        rng = random.Random(holder[0])
        while True:
            run = store.claim_queued(holder, max_active)
            holding = store._read(f"SELECT COUNT(*) FROM runs WHERE {HOLDS_WORKER}")[0][0]
            with lock:
                seen.append(holding)
                if run is not None:
                    claimed.append(run.id)
            if run is None:
                left = store._read("SELECT COUNT(*) FROM runs WHERE state = 'queued'")[0][0]
                if left == 0:
                    return
                threading.Event().wait(0.001)
                continue
            if rng.random() < 0.5:
                threading.Event().wait(0.001)
            store.update_run(run.id, state="finished")

    threads = [
        threading.Thread(target=claimer, args=(stores[i % 2], holders[i % 2])) for i in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert sorted(claimed) == list(range(1, 43))  # each run claimed exactly once
    assert max(seen) <= max_active


@pytest.mark.parametrize("slots", [1, 2, 3])
def test_start_times_match_a_turn_by_turn_simulation_of_the_queue(slots):
    """Start times from the pure function against the queue replayed second by second."""
    rng = random.Random(slots)
    for _ in range(30):
        owners = {i: rng.choice(["ann", "bob", "cy"]) for i in range(1, 8)}
        durations = {i: float(rng.randint(1, 6)) for i in owners}
        running = [(rng.choice(["ann", "bob", "dee"]), float(rng.randint(1, 6))) for _ in range(2)]
        running = running[: rng.randint(0, slots)]
        order = fair_order(list(owners.items()), Counter(o for o, _ in running), {})
        one = lambda owner: 1  # noqa: E731
        expected = simulate(order, owners, durations, running, slots, one)
        assert start_times(order, owners, durations, running, slots, one) == expected


def simulate(order, owners, durations, running, slots, quota):
    """Each second: runs that end free their worker, then the first waiting run (in ``order``)
    whose owner is under quota takes a free worker, again while one is free."""
    ends = [(owner, left) for owner, left in running]
    waiting, starts, t = list(order), {}, 0.0
    while waiting:
        ends = [(o, e) for o, e in ends if e > t]
        held = Counter(o for o, _ in ends)
        for run_id in list(waiting):
            if len(ends) >= slots:
                break
            owner = owners[run_id]
            if held[owner] < quota(owner):
                waiting.remove(run_id)
                starts[run_id] = t
                ends.append((owner, t + durations[run_id]))
                held[owner] += 1
        t += 1.0
    return starts
