"""A Dask scheduler and workers on this machine, as separate processes: for a demo, the tests and
the benchmarks (``python -m gendl cluster up --workers 2``).

Each worker runs in its own temporary directory, as a lab machine would: it shares nothing with the
dashboard but the scheduler's address. Everything binds the given host (127.0.0.1 by default).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gendl
from gendl.engine.cluster import ClusterError

START_TIMEOUT_S = 60.0
PACKAGE_ROOT = str(Path(gendl.__file__).resolve().parent.parent)


def _dask(*args: str) -> list[str]:
    """The ``dask`` command of this interpreter's environment."""
    return [sys.executable, "-m", "distributed.cli.dask_" + args[0], *args[1:]]


class LocalDaskCluster:
    """``with LocalDaskCluster(2) as cluster: RunEngine(root, cluster=cluster.address)``."""

    def __init__(
        self,
        n_workers: int = 2,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        threads: int = 1,
        worker_env: dict[str, str] | None = None,
    ) -> None:
        self.n_workers, self.host, self.port, self.threads = n_workers, host, port, threads
        self.worker_env = worker_env or {}
        self.dir = Path(tempfile.mkdtemp(prefix="gendl-cluster-"))
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.worker_dirs: list[Path] = []
        self.address = ""

    def start(self) -> LocalDaskCluster:
        file = self.dir / "scheduler.json"
        self.scheduler = self._spawn(  # it unpickles the tasks, so it imports gendl too
            _dask("scheduler", "--host", self.host, "--port", str(self.port))
            + ["--no-dashboard", "--scheduler-file", str(file)],
            self.dir,
            {"PYTHONPATH": PACKAGE_ROOT},
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not file.is_file() or not file.read_text().strip():
            if self.scheduler.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise ClusterError(f"the Dask scheduler did not start; see {self.dir}/log")
            time.sleep(0.1)
        self.address = json.loads(file.read_text())["address"]
        for _ in range(self.n_workers):
            self.add_worker()
        self.wait_for_workers(self.n_workers)
        return self

    def add_worker(self) -> subprocess.Popen:
        """One more worker process, in a directory of its own (its data and scratch files)."""
        directory = self.dir / f"worker{len(self.workers)}"
        directory.mkdir()
        env = {"PYTHONPATH": PACKAGE_ROOT, "GENDL_DATA_DIR": str(directory / "data")}
        args = _dask("worker", self.address, "--host", self.host, "--nthreads", str(self.threads))
        args += ["--no-dashboard", "--local-directory", str(directory)]
        proc = self._spawn(args, directory, {**env, **self.worker_env})
        self.workers.append(proc)
        self.worker_dirs.append(directory)
        return proc

    def wait_for_workers(self, n: int, timeout: float = START_TIMEOUT_S) -> None:
        from distributed import Client

        with Client(self.address, timeout="10s", set_as_default=False) as client:
            client.wait_for_workers(n, timeout=timeout)

    def _spawn(self, args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
        with open(cwd / "log", "ab") as log:
            return subprocess.Popen(
                args,
                cwd=cwd,
                env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE", **env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def close(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*self.workers, self.scheduler]:
            if proc is None:
                continue
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalDaskCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
