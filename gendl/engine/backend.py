"""Where runs execute: the seam between the engine and what runs its workers.

``RunEngine`` queues runs in the store and hands them to a backend; the backend starts each claimed
run's worker (``gendl.engine.worker.execute_run``) somewhere, notices when it ends, and marks runs
whose worker is gone as interrupted. Everything else (commands, metrics, checkpoints) goes through
the store, so a backend only has to start and watch workers.

``gendl.engine.pool.WorkerPool`` is the local one: one process per run on this machine. Another
(a Dask cluster) implements the same four calls and is passed as ``RunEngine(backend=...)``.
"""

from __future__ import annotations

from typing import Protocol


class Backend(Protocol):
    max_workers: int  # runs active at once across the store
    holder: tuple[int, int | None]  # (pid, start time) recorded on the runs this engine queues

    def wake(self) -> None:
        """Look at the queue now: a run was queued or resumed."""

    def poll(self) -> None:
        """Reap ended workers, then start queued runs while fewer than ``max_workers`` run."""

    def recover(self) -> list[int]:
        """Mark active runs whose worker is gone as interrupted; returns their ids."""

    def close(self, timeout: float = 30.0) -> None:
        """Stop scheduling; running workers checkpoint and end as interrupted (resumable)."""
