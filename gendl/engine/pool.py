"""The engine's pool of worker processes: start queued runs while fewer than ``max_workers`` run,
notice when a worker ends, and mark runs whose process is gone as interrupted.

A worker is ``python -m gendl.engine.process`` (fork+exec: a process with torch threads is never forked).
Each engine launches only the runs its process queued; the store's ``engine_pid``/``pid`` columns
(with the process start time, so a reused pid is not mistaken for the old process) say who holds a
run. ``max_workers`` bounds the runs active in the whole store: every engine on the same root (one
per server session, a CLI sweep) counts the others' runs before it claims one. A CLI ``train``
takes its turn in the same queue (:func:`claim_when_free`) and trains in its own process.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path

import gendl
from gendl.engine.classroom import running_quota
from gendl.engine.queue import fair_order
from gendl.engine.store import ACTIVE_STATES, Run, RunStore, pid_alive, process_started

log = logging.getLogger(__name__)
RECOVER_EVERY_S = 2.0  # how often the scheduler looks for runs whose process died elsewhere
# runs trained at once on a CPU-only machine, by the dashboard, sweeps and CLI trains together;
# with GPUs, gendl.device.run_bound raises it
CPU_RUNS = 2


def machine_bound(cpu_runs: int = CPU_RUNS) -> int:
    """Runs active at once in a store: ``cpu_runs``, or with GPUs ``gendl.device.gpu_runs()`` per
    GPU (:func:`gendl.device.run_bound`)."""
    from gendl.device import run_bound  # torch: `gendl runs list` and page loads stay quick

    return run_bound(cpu_runs)


def this_process() -> tuple[int, int | None]:
    """``(pid, start time)`` of this process: what a store records as a run's engine or worker."""
    return os.getpid(), process_started(os.getpid())


def recover_runs(store: RunStore, skip: Collection[int] = ()) -> list[int]:
    """Mark active runs whose process is gone as interrupted (except ``skip``); returns their ids.

    A running or paused run belongs to its worker pid, a queued one to the engine that queued it
    (or its worker once claimed). Runs of live processes elsewhere are left alone. Every engine, the
    dashboard's page loads and each ``gendl`` command that opens a store call this.
    """
    marked = []
    for run in store.list_runs(ACTIVE_STATES):
        if run.id in skip:
            continue
        if run.state == "queued" and run.pid is None:
            holder = (run.engine_pid, run.engine_started)
        else:
            holder = (run.pid, run.pid_started)
        if pid_alive(*holder):
            continue
        reason = "its process ended (server restart or kill); resume to continue"
        if store.update_run(run.id, state="interrupted", reason=reason, expect=(run.state,)):
            marked.append(run.id)
    return marked


class WorkerPool:
    """Worker processes for the runs this process queued in ``store``, started while fewer than
    ``max_workers`` runs are active in the store as a whole."""

    def __init__(
        self,
        store: RunStore,
        max_workers: int,
        threads: int,
        flush_every: float,
        checkpoint_every: float,
        poll_interval: float = 0.2,
    ) -> None:
        self.store, self.threads = store, threads
        self.max_workers = machine_bound(max_workers)
        self.flush_every, self.checkpoint_every = flush_every, checkpoint_every
        self.poll_interval = poll_interval
        self.holder = this_process()  # (engine_pid, engine_started) of the runs it queues
        self._procs: dict[int, subprocess.Popen] = {}
        self._lock = threading.RLock()
        self._wake, self._closed = threading.Event(), threading.Event()
        self.recover()
        self._thread = threading.Thread(target=self._schedule, name="gendl-runs", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look at the queue now instead of at the next poll."""
        self._wake.set()

    def poll(self) -> None:
        """Reap ended workers, then start queued runs while fewer than ``max_workers`` run."""
        with self._lock:
            for run_id, proc in list(self._procs.items()):
                code = proc.poll()
                if code is not None:
                    del self._procs[run_id]
                    self._after_exit(run_id, code)
            while len(self._procs) < self.max_workers and not self._closed.is_set():
                run = self._claim_next()
                if run is None:
                    break
                try:
                    self._procs[run.id] = self._launch(run)
                except OSError as exc:  # no such interpreter, too many processes, disk full
                    reason = f"could not start a worker process: {exc}"
                    self.store.update_run(run.id, state="failed", reason=reason)

    def _claim_next(self) -> Run | None:
        # the bound holds across every engine on this store (threads, processes), not per engine
        return self.store.claim_queued(self.holder, self.max_workers, running_quota(self.store))

    def _launch(self, run: Run) -> subprocess.Popen:
        package_root = str(Path(gendl.__file__).parent.parent)
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": package_root + (os.pathsep + path if path else "")}
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # no spinning threads if several are used
        options = {
            "--root": self.store.root,
            "--run-id": run.id,
            "--threads": self.threads,
            "--flush-every": self.flush_every,
            "--checkpoint-every": self.checkpoint_every,
            "--parent-pid": os.getpid(),
        }
        args = [sys.executable, "-m", "gendl.engine.process"]
        for flag, value in options.items():
            args += [flag, str(value)]
        with open(self.store.run_dir(run.id) / "worker.log", "ab") as log:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C reaches the engine, which interrupts cleanly
            )
        self.store.update_run(run.id, pid=proc.pid, pid_started=process_started(proc.pid))
        return proc

    def _after_exit(self, run_id: int, code: int) -> None:
        run = self.store.get_run(run_id)
        if not run.active:
            return  # the worker recorded how it ended
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        if run.state == "queued" and code > 0:  # it never trained; resuming would fail the same way
            reason = f"worker process failed to start ({how}); see {run_id}/worker.log"
            self.store.update_run(run_id, state="failed", reason=reason, expect=("queued",))
        else:
            reason = f"worker process died ({how}); resume continues from the last checkpoint"
            self.store.update_run(run_id, state="interrupted", reason=reason, expect=ACTIVE_STATES)

    def recover(self) -> list[int]:
        """Mark active runs whose process is gone as interrupted; returns their ids."""
        with self._lock:
            return recover_runs(self.store, skip=self._procs)

    def _schedule(self) -> None:
        last_recover = time.monotonic()
        while not self._closed.is_set():
            try:
                self.poll()
                if time.monotonic() - last_recover > RECOVER_EVERY_S:
                    self.recover()
                    last_recover = time.monotonic()
            except Exception:  # a locked or vanished store must not kill the scheduler
                log.exception("run engine: scheduling failed; retrying")
            self._wake.wait(self.poll_interval)
            self._wake.clear()

    def close(self, timeout: float = 30.0) -> None:
        """Stop scheduling; running workers checkpoint and end as interrupted (resumable)."""
        self._closed.set()
        self._wake.set()
        self._thread.join()
        with self._lock:
            for proc in self._procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for run_id, proc in list(self._procs.items()):
                try:
                    code = proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    code = proc.wait()
                self._after_exit(run_id, code)
            self._procs.clear()


# ---------------------------------------------------------------- a run trained in this process


class ThisProcess:
    """A backend that starts no worker processes: the command line queues a run with it, waits
    for the run's turn (:func:`claim_when_free`) and trains it in its own process."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.max_workers = machine_bound()
        self.holder = this_process()
        recover_runs(store)

    def wake(self) -> None:
        pass

    def poll(self) -> None:
        pass

    def recover(self) -> list[int]:
        return recover_runs(self.store)

    def close(self, timeout: float = 30.0) -> None:
        pass


def claim_when_free(
    store: RunStore,
    run_id: int,
    stop_requested: Callable[[], str | None] = lambda: None,
    on_wait: Callable[[str], None] | None = None,
    poll_interval: float = 0.2,
) -> Run | None:
    """Wait until the fair queue hands run ``run_id``, queued by this process, one of the machine's
    workers, and claim it for this process; the same bound and order as every engine's workers.

    Returns the claimed run, or None when it left the queue first (stopped from elsewhere, or here
    when ``stop_requested()`` gives a reason). ``on_wait`` hears once why the run waits.
    """
    bound, holder = machine_bound(), this_process()
    last_recover, told = time.monotonic(), False
    while True:
        claimed = store.claim_queued(holder, bound, running_quota(store))
        if claimed is not None:
            return claimed
        reason = stop_requested()
        if reason is not None:
            store.update_run(run_id, state="stopped", reason=reason, expect=("queued",))
        if store.get_run(run_id).state != "queued":
            return None
        if not told and on_wait is not None:
            on_wait(_waiting(store, run_id, bound))
            told = True
        if time.monotonic() - last_recover > RECOVER_EVERY_S:
            recover_runs(store)  # a dead process's runs must not hold the machine's workers
            last_recover = time.monotonic()
        time.sleep(poll_interval)


def _waiting(store: RunStore, run_id: int, bound: int) -> str:
    queued, active, last_started = store.queue_state()
    order = fair_order(queued, active, last_started)
    ahead = order.index(run_id) if run_id in order else 0  # claimed or stopped meanwhile
    held = sum(active.values())
    return (
        f"run {run_id} queued: {held} run{'s hold' if held != 1 else ' holds'} the machine's "
        f"{bound} workers" + (f", {ahead} queued ahead of it" if ahead else "") + "; waiting ..."
    )
