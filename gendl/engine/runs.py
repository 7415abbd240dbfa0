"""The run engine: runs train in a bounded pool of worker processes, controlled through the store.

    engine = RunEngine("runs", max_workers=2)
    run_id = engine.start("classifier", {"data": "fake", "max_steps": 200}, owner=session_id)
    engine.pause(run_id, owner=session_id); engine.step(run_id, 5, owner=session_id)
    rows = engine.metrics_since(run_id, last_step)      # what a dashboard polls once a second

Training never runs in the caller's process: Streamlit's post-run garbage collection holds the GIL
for 120-180 ms per rerun, which starved an in-process training thread from ~50 to 0.5 steps/s.
Each run is ``python -m gendl.engine.process`` (fork+exec, so no forked torch threads), and the SQLite
store is the only channel: commands go in as rows, metrics come out as rows, so any engine
instance, even one started after a server restart, can control a live run.

States: queued -> running <-> paused -> finished | failed | stopped; an active run whose process
died becomes interrupted, and ``resume`` continues it from its last checkpoint.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gendl.config import check_int, config_to_dict
from gendl.engine.backend import Backend
from gendl.engine.classroom import admit
from gendl.engine.cluster import CLUSTER_ENV, DaskPool
from gendl.engine.pool import CPU_RUNS, WorkerPool
from gendl.engine.records import CLI_OWNER
from gendl.engine.store import Run, RunStore
from gendl.errors import GendlError

TERMINAL_STATES = ("finished", "failed", "stopped", "interrupted")
MAX_SINGLE_STEPS = 10_000


class RunError(GendlError):
    """A command that does not fit the run: wrong state, or another session's run."""


class RunEngine:
    """Starts, controls and watches runs stored under ``root`` (default ``$GENDL_RUNS_DIR``/runs).

    ``owner`` identifies a session; who may control a run is :meth:`Run.controllable_by`
    (``owner=None`` in a call means the machine's user, the command line, who may control all;
    the runs it starts are owned by ``CLI_OWNER``). Every new run passes :meth:`admit`; queued
    runs start in the fair order of :mod:`gendl.engine.queue`.

    ``backend(store)`` makes what runs the workers (:mod:`gendl.engine.backend`); by default a
    pool of local processes. Workers use one torch thread each by default. Measured on 2 shared cores (classifier, MNIST):
    1 thread 32 steps/s; 2 threads 47 on an idle machine but 2.2 as soon as another process is busy
    (OpenMP threads spin at barriers; 25 with OMP_WAIT_POLICY=PASSIVE); two 1-thread runs together
    54, two 2-thread runs 2. Parallelism comes from running several runs, not threads within one.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        max_workers: int = CPU_RUNS,
        *,
        threads_per_worker: int = 1,
        flush_every: float = 1.0,
        checkpoint_every: float = 30.0,
        poll_interval: float = 0.2,
        cluster: str | None = None,
        backend: Callable[[RunStore], Backend] | None = None,
    ) -> None:
        check_int("max_workers", max_workers, 1, 256)
        check_int("threads_per_worker", threads_per_worker, 1, 256)
        self.store = RunStore(root)
        self._admitting = threading.Lock()  # the server's sessions share this engine
        cluster = cluster or os.environ.get(CLUSTER_ENV) or None
        options = (threads_per_worker, flush_every, checkpoint_every, poll_interval)
        if backend is None and cluster is None:  # local worker processes, the default

            def backend(store: RunStore) -> Backend:
                return WorkerPool(store, max_workers, *options)

        elif backend is None:  # a run is a Dask task there; this process applies what it sends

            def backend(store: RunStore) -> Backend:
                return DaskPool(store, max_workers, *options, address=cluster)

        # the backend recovers runs whose worker died, then starts queued runs in the background
        self.pool: Backend = backend(self.store)

    # ------------------------------------------------------------ starting and controlling

    def start(
        self,
        family_name: str,
        config: Any = None,
        *,
        owner: str | None = None,
        name: str | None = None,
        shared: bool = False,
    ) -> int:
        """Queue a run of ``family_name``; returns its id.

        ``config`` is the family's config object, validated when it was built and trusted here, or
        a dict of overrides, built (and so validated) now: a bad field raises ConfigError and
        nothing is queued.
        """
        from gendl.train import build_config, family  # torch: only for starting runs

        if not isinstance(config, family(family_name).config_cls):
            config = build_config(family_name, config or {})
        config = config_to_dict(config)
        with self._admitting:  # two tabs of one student must not both take a quota's last place
            self.admit(family_name, config, owner=owner)
            run_id = self.store.create_run(
                family_name, config, name=name, owner=owner or CLI_OWNER, shared=shared
            )
        self.pool.wake()
        return run_id

    def admit(
        self, family_name: str, config: dict[str, Any], n_runs: int = 1, *, owner: str | None = None
    ) -> None:
        """Raise ClassError (naming the rule) if ``owner`` may not queue ``n_runs`` runs of
        ``config`` now: the queue bound, the owner's quota, a class's locks and models
        (:func:`gendl.engine.classroom.admit`)."""
        admit(self.store, owner, family_name, config, n_runs)

    def pause(self, run_id: int, *, owner: str | None = None) -> None:
        """Pause after the current step (a queued run starts paused); checkpoints the run."""
        self._command(run_id, "pause", owner)

    def resume(self, run_id: int, *, owner: str | None = None) -> None:
        """Continue a paused run, or an interrupted one from its last checkpoint."""
        if self._controlled(run_id, owner).state == "interrupted":
            self.resume_interrupted(run_id, owner=owner)
        else:
            self._command(run_id, "resume", owner)

    def step(self, run_id: int, n: int = 1, part: str = "all", *, owner: str | None = None) -> None:
        """Run ``n`` single steps of a paused run; ``part`` is "all", or "d" / "g" for a GAN."""
        check_int("n", n, 1, MAX_SINGLE_STEPS)
        run = self._controlled(run_id, owner)
        from gendl.train import family

        trainer_cls = family(run.family).trainer_cls
        parts = getattr(trainer_cls, "parts", ("all",))
        if part not in parts:
            raise RunError(f"step part must be one of {', '.join(parts)}; got {part!r}")
        if not self._paused_after_pending(run):
            raise RunError(f"run {run_id} is {run.state}; pause it before single-stepping")
        self.store.push_command(run_id, "step", {"n": n, "part": part})

    def stop(self, run_id: int, *, owner: str | None = None) -> None:
        """End a run after its current step (at once if it has not started); saves its model."""
        run = self._controlled(run_id, owner)
        if run.state == "interrupted":
            self.store.update_run(run_id, state="stopped", expect=("interrupted",))
            return
        self._command(run_id, "stop", owner)
        # not yet handed to a worker: stop it here (atomically; otherwise the worker reads "stop")
        if self.store.update_run(run_id, state="stopped", expect=("queued",), unclaimed=True):
            self.store.clear_commands(run_id)

    def resume_interrupted(self, run_id: int, *, owner: str | None = None) -> None:
        """Queue an interrupted run again; its new process continues from the last checkpoint."""
        run = self._controlled(run_id, owner)
        if run.state != "interrupted":
            raise RunError(f"run {run_id} is {run.state}; only an interrupted run can be resumed")
        self.admit(run.family, run.config, owner=owner)  # queued again: the quotas apply
        self.store.clear_commands(run_id)
        self.store.update_run(
            run_id,
            state="queued",
            reason=None,
            finished=None,
            pid=None,
            pid_started=None,
            engine_pid=self.pool.holder[0],
            engine_started=self.pool.holder[1],
            expect=("interrupted",),
        )
        self.pool.wake()

    def share(self, run_id: int, shared: bool = True, *, owner: str | None = None) -> None:
        """Let every session control this run (or only its owner again)."""
        self._controlled(run_id, owner)
        self.store.update_run(run_id, shared=int(shared))

    def delete(self, run_id: int, *, owner: str | None = None) -> None:
        """Remove a run that is no longer active, with its metrics and files."""
        run = self._controlled(run_id, owner)
        if run.active:
            raise RunError(f"run {run_id} is {run.state}; stop it before deleting")
        self.store.delete_run(run_id)

    def _controlled(self, run_id: int, owner: str | None) -> Run:
        run = self.store.get_run(run_id)
        refusal = run.why_not_controllable(owner)
        if refusal is not None:
            raise RunError(refusal)
        return run

    def _command(self, run_id: int, command: str, owner: str | None) -> None:
        run = self._controlled(run_id, owner)
        if not run.active:
            raise RunError(f"cannot {command} run {run_id}: it is {run.state}")
        self.store.push_command(run_id, command)

    def _paused_after_pending(self, run: Run) -> bool:
        """Whether the run will be paused once its worker has read the queued commands."""
        if not run.active:
            return False
        paused = run.state == "paused"
        for command in self.store.pending_commands(run.id):
            if command.command in ("pause", "resume"):
                paused = command.command == "pause"
            elif command.command == "stop":
                return False
        return paused

    # ------------------------------------------------------------ reading

    def status(self, run_id: int) -> Run:
        return self.store.get_run(run_id)

    def list(self, owner: str | None = None) -> list[Run]:
        """Runs newest first: all of them, or those ``owner`` may control."""
        return [run for run in self.store.list_runs() if run.controllable_by(owner)]

    def metrics_since(self, run_id: int, step: int = 0) -> list[dict[str, Any]]:
        """Metric rows after ``step`` in step order (cheap: an index range scan)."""
        return self.store.metrics_since(run_id, step)

    def artifacts(self, run_id: int, kind: str | None = None) -> list[tuple[int, str, str]]:
        """``(step, kind, path)`` of sample grids ("sample_grid") and the final "model"."""
        return self.store.artifacts(run_id, kind)

    def wait(self, run_id: int, timeout: float | None = None, states=TERMINAL_STATES) -> Run:
        """Block until the run is in one of ``states``; raises TimeoutError after ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.store.get_run(run_id)
            if run.state in states:
                return run
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {run.state} after {timeout} s")
            time.sleep(0.05)

    # ------------------------------------------------------------ the pool

    def poll(self) -> None:
        """Reap ended workers and start queued runs now (the pool also does so every poll)."""
        self.pool.poll()

    def recover(self) -> list[int]:
        """Mark active runs whose process is gone as interrupted; returns their ids."""
        return self.pool.recover()

    def close(self, timeout: float = 30.0) -> None:
        """Stop scheduling; running workers checkpoint and end as interrupted (resumable)."""
        self.pool.close(timeout)

    def __enter__(self) -> RunEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
