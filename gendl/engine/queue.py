"""The fair queue: which queued run starts next, in what order the queued runs will start, and when.

Runs are served round-robin over their owners (students, the teacher, the command line): the next
run to start is the oldest queued run of the owner with the fewest runs holding a worker now, ties
going to the owner served longest ago (never served first), then to the owner who asked first. So
nobody's second run starts while another owner waits with a first, and one owner's 240-run sweep
takes turns with everyone else's single runs. An owner at their running quota (class mode: a
student's "1 running") is skipped until one of their runs ends.

Pure functions over plain values; the store applies :func:`pick_next` inside its claim transaction.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence

Owner = str | None
Quota = Callable[[Owner], int | None]  # an owner's running quota; None: no per-owner limit


def _no_quota(owner: Owner) -> int | None:
    return None


def _waiting(queued: Sequence[tuple[int, Owner]]) -> dict[Owner, list[int]]:
    """Each owner's queued run ids, oldest first, owners in the order they first asked."""
    by_owner: dict[Owner, list[int]] = defaultdict(list)
    for run_id, owner in sorted(queued):
        by_owner[owner].append(run_id)
    return by_owner


def pick_next(
    queued: Sequence[tuple[int, Owner]],
    active: Mapping[Owner, int],
    last_started: Mapping[Owner, float],
    quota: Quota = _no_quota,
) -> int | None:
    """The id of the queued run to start now, or None when every waiting owner is at quota.

    ``queued``: ``(run_id, owner)`` of runs waiting for a worker; ``active``: runs holding a worker
    per owner; ``last_started``: when each owner's latest run was handed a worker.
    """
    best: tuple[int, float, int] | None = None
    for owner, ids in _waiting(queued).items():
        limit = quota(owner)
        if limit is not None and active.get(owner, 0) >= limit:
            continue
        key = (active.get(owner, 0), last_started.get(owner, -math.inf), ids[0])
        if best is None or key < best:
            best = key
    return None if best is None else best[2]


def fair_order(
    queued: Sequence[tuple[int, Owner]],
    active: Mapping[Owner, int],
    last_started: Mapping[Owner, float],
) -> list[int]:
    """The queued run ids in the order they will start if nobody queues or stops anything and
    each start keeps its worker (the order :func:`pick_next` follows, quotas aside)."""
    waiting = _waiting(queued)
    held = Counter(active)
    heap = [
        (held[owner], last_started.get(owner, -math.inf), ids[0], owner)
        for owner, ids in waiting.items()
    ]
    heapq.heapify(heap)
    order, clock = [], max(last_started.values(), default=0.0)
    while heap:
        count, _, _, owner = heapq.heappop(heap)
        ids = waiting[owner]
        order.append(ids.pop(0))
        if ids:
            clock += 1.0  # served now: after everyone served before
            heapq.heappush(heap, (count + 1, clock, ids[0], owner))
    return order


def start_times(
    order: Sequence[int],
    owners: Mapping[int, Owner],
    durations: Mapping[int, float],
    running_left: Sequence[tuple[Owner, float]],
    slots: int,
    quota: Quota = _no_quota,
) -> dict[int, float]:
    """Seconds from now until each queued run in ``order`` starts: whenever one of ``slots``
    workers is free, the first run in ``order`` whose owner is under quota takes it (an owner at
    quota waits for one of their runs to end and holds up nobody behind them).

    ``durations``: each queued run's expected seconds; ``running_left``: ``(owner, seconds left)``
    of each run holding a worker now (more than ``slots`` of them: a worker frees only when enough
    have ended). A run that can never start (a quota of 0) gets ``math.inf``.
    """
    lefts = sorted(left for _, left in running_left)
    free = [0.0] * max(0, slots - len(lefts)) + lefts[max(0, len(lefts) - slots) :]
    heapq.heapify(free)
    ends: dict[Owner, list[float]] = defaultdict(list)  # each owner's runs' end times
    for owner, left in running_left:
        ends[owner].append(left)
    waiting, starts = list(order), {}
    while waiting and free:
        at = heapq.heappop(free)  # workers free up in time order, so every start so far is <= at
        held = {o: sum(end > at for end in ends[o]) for o in {owners[r] for r in waiting}}
        run_id = next((r for r in waiting if _under(quota, owners[r], held)), None)
        if run_id is None:  # every waiting owner is at quota: the worker idles until a run ends
            later = [end for o in held for end in ends[o] if end > at]
            if later:
                heapq.heappush(free, min(later))
            continue
        waiting.remove(run_id)
        starts[run_id] = at
        ends[owners[run_id]].append(at + durations.get(run_id, 0.0))
        heapq.heappush(free, at + durations.get(run_id, 0.0))
    return {**starts, **dict.fromkeys(waiting, math.inf)}


def _under(quota: Quota, owner: Owner, held: Mapping[Owner, int]) -> bool:
    limit = quota(owner)
    return limit is None or held[owner] < limit
