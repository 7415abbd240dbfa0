"""Where each queued run stands: its place in the fair queue and when it should start.

The order is the fair queue's own (:func:`gendl.engine.queue.fair_order`), the start times its
schedule (:func:`gendl.engine.queue.start_times`) over each queued run's duration estimate
(:func:`gendl.views.estimates.estimate_seconds`) and each running run's time left at its pace so far.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gendl.engine.queue import Owner, Quota, fair_order, start_times
from gendl.engine.records import ACTIVE_STATES, Run
from gendl.engine.store import RunStore
from gendl.views.estimates import estimate_seconds, format_duration, progress


@dataclass(frozen=True)
class QueueSpot:
    """A queued run's place: ``position`` 1 starts next; ``eta_s`` seconds from now."""

    position: int
    eta_s: float

    def __str__(self) -> str:
        """``2nd in the queue · starts in about 3 min 20 s``."""
        wait = format_duration(self.eta_s)
        return f"{ordinal(self.position)} in the queue · starts in about {wait}"


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def queue_spots(
    queued: Sequence[tuple[int, Owner]],
    active: Mapping[Owner, int],
    last_started: Mapping[Owner, float],
    durations: Mapping[int, float],
    running_left: Sequence[tuple[Owner, float]],
    slots: int,
    quota: Quota | None = None,
) -> dict[int, QueueSpot]:
    """Each queued run's place and start time, from what the store's ``queue_state`` returns, the
    queued runs' expected seconds and the ``(owner, seconds left)`` of runs holding a worker."""
    order = fair_order(queued, active, last_started)
    owners = dict(queued)
    no_quota: Quota = lambda owner: None  # noqa: E731
    starts = start_times(order, owners, durations, running_left, slots, quota or no_quota)
    return {run_id: QueueSpot(k + 1, starts[run_id]) for k, run_id in enumerate(order)}


def time_left(
    run: Run,
    last_row: Mapping[str, Any] | None,
    timing: str | Path | None = None,
    now: float | None = None,
) -> float:
    """Seconds until a run holding a worker ends: at its pace so far once it has logged a step,
    else its duration estimate less the time since it was handed a worker."""
    config = run.config
    if last_row is not None:
        _, eta = progress(
            last_row["step"], last_row["elapsed_s"], config["max_steps"], config["max_seconds"]
        )
        if eta is not None:
            return eta
    since = 0.0 if run.started is None else (now or time.time()) - run.started
    return max(0.0, estimate_seconds(run.family, config, timing) - since)


def store_queue(
    store: RunStore, slots: int, quota: Quota | None = None, timing: str | Path | None = None
) -> dict[int, QueueSpot]:
    """:func:`queue_spots` of every queued run in ``store``, with ``slots`` workers."""
    queued, active, last_started = store.queue_state()
    if not queued:
        return {}
    runs = {run.id: run for run in store.list_runs(ACTIVE_STATES)}
    estimates: dict[str, float] = {}  # one estimate per distinct config (a class runs a few)
    durations = {}
    for run_id, _ in queued:
        if run_id in runs:
            run = runs[run_id]
            key = json.dumps([run.family, run.config], sort_keys=True)
            if key not in estimates:
                estimates[key] = estimate_seconds(run.family, run.config, timing)
            durations[run_id] = estimates[key]
    running_left = []
    for run in runs.values():
        if run.pid is not None:  # holds a worker: running, paused, or claimed and starting
            rows = store.metrics_since(run.id, run.step - 1) if run.step else []
            left = time_left(run, rows[-1] if rows else None, timing)
            running_left.append((run.owner, left))
    return queue_spots(queued, active, last_started, durations, running_left, slots, quota)
