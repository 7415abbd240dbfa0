"""Runs on a Dask cluster: each run is one Dask task on a worker, the run store stays here.

    engine = RunEngine("runs", cluster="tcp://127.0.0.1:8786")   # or GENDL_CLUSTER=tcp://...

A worker shares no filesystem with this machine. It trains in a temporary directory through a
``RemoteStore`` (gendl/engine/cluster_task.py), which stands in for the run store: every write (state, metric rows, sample
grids, checkpoints, the final model) becomes an event on the run's Dask queue, and this side's
:class:`DaskPool` applies the events to the SQLite store and the run's directory. Commands (pause,
step, stop) go out on a second queue. The newest checkpoint is also kept in a Dask variable, so
when a worker dies the scheduler runs the task again on another worker, which resumes from it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from gendl.engine.cluster_task import CONNECT_TIMEOUT_S, names, remote_run
from gendl.engine.pool import WorkerPool
from gendl.engine.records import CHECKPOINT_NAME, PREVIOUS_NAME, Run
from gendl.engine.store import ACTIVE_STATES, RunStore
from gendl.errors import GendlError

log = logging.getLogger(__name__)
CLUSTER_ENV = "GENDL_CLUSTER"


class ClusterError(GendlError):
    """The Dask scheduler cannot be reached, or answered with an error."""


def connect(address: str, timeout: float = CONNECT_TIMEOUT_S):
    """A Dask client of the scheduler at ``address``; a clear error within ``timeout`` seconds."""
    from distributed import Client

    if not isinstance(address, str) or "://" not in address:
        raise ClusterError(
            f"cluster address must look like tcp://HOST:PORT (or tls://...), got {address!r}"
        )
    try:
        return Client(address, timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(
            f"could not reach the Dask scheduler at {address} within {timeout:g} s ({exc}); "
            "runs stay queued. Start one with `python -m gendl cluster up` or check the address."
        ) from None


# ---------------------------------------------------------------- this machine's side


class DaskJob:
    """One submitted run, seen by :class:`WorkerPool` as it sees a worker process."""

    def __init__(self, pool: DaskPool, run: Run) -> None:
        from distributed import Queue, Variable

        self.pool, self.store, self.run_id = pool, pool.store, run.id
        self.token = uuid.uuid4().hex[:12]
        events, commands, checkpoint = names(self.token, run.id)
        client = pool.client
        self.events, self.commands = Queue(events, client=client), Queue(commands, client=client)
        self.checkpoint = Variable(checkpoint, client=client)
        local = Path(run.checkpoint) if run.checkpoint else None
        self.checkpoint.set(local.read_bytes() if local and local.is_file() else b"")
        self.attempts, self.code = 0, None
        self.future = client.submit(
            remote_run,
            run,
            self.token,
            pool.threads,
            pool.flush_every,
            pool.checkpoint_every,
            key=f"gendl-run-{run.id}-{self.token}",
            pure=False,
        )

    def poll(self) -> int | None:
        """Forward commands, apply events; 0 once the task has ended and its events are in."""
        if self.code is not None:
            return self.code
        done = self.future.done()
        self._forward_commands()
        self._apply(self.events.get(batch=True))
        if not done:
            return None
        if self.future.status == "error":
            self._ended_badly(self.future.exception())
        self._cleanup()
        self.code = 0
        return 0

    def _forward_commands(self) -> None:
        commands = self.store.pending_commands(self.run_id)
        for command in commands:
            self.commands.put({"id": command.id, "command": command.command, "arg": command.arg})
        if commands:
            self.store.take_commands(self.run_id, commands[-1].id)

    def _apply(self, events: list[dict[str, Any]]) -> None:
        directory = self.store.run_dir(self.run_id)
        for event in events:
            kind = event["kind"]
            if kind == "attempt":
                self.attempts += 1
                fields: dict[str, Any] = {"location": event["where"]}
                if self.attempts > 1:
                    fields["reason"] = (
                        f"its worker was lost; resumed from the last checkpoint on {event['where']}"
                    )
                self.store.update_run(self.run_id, **fields)
            elif kind == "metrics":
                files = [
                    (step, name, str(_write(directory, f))) for step, name, f in event["artifacts"]
                ]
                self.store.append_metrics(self.run_id, event["rows"], files)
            elif kind == "truncate":
                self.store.truncate_after(self.run_id, event["step"], **event["options"])
            elif kind == "update":
                fields = dict(event["fields"])
                newest = directory / CHECKPOINT_NAME
                if fields.get("checkpoint") and newest.is_file():  # kept as the worker keeps it
                    os.replace(newest, directory / PREVIOUS_NAME)
                paths = [_write(directory, f) for f in event["files"]]
                if fields.get("checkpoint"):
                    fields["checkpoint"] = str(paths[0])
                self.store.update_run(self.run_id, **fields)

    def _ended_badly(self, exc: BaseException | None) -> None:
        run = self.store.get_run(self.run_id)
        if not run.active:
            return
        name = type(exc).__name__ if exc is not None else "unknown error"
        if name == "KilledWorker":
            reason = (
                "every worker that ran it was lost; resume to continue from the last checkpoint"
            )
            state = "interrupted"
        else:
            reason, state = f"{name}: {exc}", "failed"
        self.store.update_run(self.run_id, state=state, reason=reason, expect=ACTIVE_STATES)

    def _cleanup(self) -> None:
        try:
            self.checkpoint.delete()
            self.events.close()
            self.commands.close()
        except Exception:  # the scheduler may be gone; nothing of ours is left on it then
            log.debug("could not clean up run %s on the scheduler", self.run_id, exc_info=True)

    def send_signal(self, _signal: int) -> None:
        self.commands.put({"interrupt": "the dashboard's engine closed; resume to continue"})

    def wait(self, timeout: float | None = None) -> int:
        deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
        while (code := self.poll()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {self.run_id} on the cluster did not end")
            time.sleep(0.1)
        return code

    def kill(self) -> None:
        self.future.cancel()


def _preload() -> None:
    """Import the training stack (torch, the trainers, the LSTM kernel) on a worker."""
    import gendl.engine.worker  # noqa: F401
    from gendl.models.lstm_bptt import kernel

    kernel()


def _write(directory: Path, file: dict[str, Any]) -> Path:
    """A file sent by a worker, written atomically under the run's directory here."""
    path = (directory / file["name"]).resolve()
    if directory.resolve() not in path.parents:
        raise ClusterError(f"a worker sent a file outside its run's directory: {file['name']!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(file["data"])
    os.replace(tmp, path)
    return path


class DaskPool(WorkerPool):
    """A :class:`WorkerPool` whose workers are Dask tasks on the cluster at ``address``."""

    def __init__(self, store: RunStore, max_workers: int, *args: Any, address: str, **kw) -> None:
        self.address = address
        self.client = connect(address)
        # the first run on each worker starts sooner; a worker that fails to preload still trains
        threading.Thread(target=self._preload, name="gendl-preload", daemon=True).start()
        super().__init__(store, max_workers, *args, **kw)

    def _preload(self) -> None:
        try:
            self.client.run(_preload)
        except Exception:
            log.warning("could not preload the training stack on the workers", exc_info=True)

    def _launch(self, run: Run) -> DaskJob:  # type: ignore[override]
        try:
            return DaskJob(self, run)
        except Exception as exc:  # the scheduler went away between two runs
            raise OSError(f"the Dask scheduler at {self.address} refused the run: {exc}") from exc

    def _after_exit(self, run_id: int, code: int) -> None:
        run = self.store.get_run(run_id)
        if run.active:  # the task ended without saying how (cancelled, scheduler restarted)
            reason = "its Dask task ended early; resume to continue from the last checkpoint"
            self.store.update_run(run_id, state="interrupted", reason=reason, expect=ACTIVE_STATES)

    def close(self, timeout: float = 30.0) -> None:
        super().close(timeout)
        self.client.close()
