"""The command line's ``runs`` (list, show, export, stop, resume, delete a stored run), ``cluster
up`` (a Dask scheduler and workers on this machine), and training a stored run in this process
(``train``, ``runs resume``); ``gendl.cli`` builds the parser and runs them.

Every command that opens the store first marks runs whose process died as interrupted. The command
line is the machine's user: it may control every run, whoever started it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from gendl.engine.store import RunStore

EXIT_CODES = {"failed": 1, "interrupted": 130}  # any other end exits 0
STOP_WAIT_S = 60.0  # how long ``runs stop`` waits to report the run's end

# ---------------------------------------------------------------- training in this process


@contextmanager
def stop_signals() -> Iterator[Callable[[], str | None]]:
    """SIGTERM and SIGINT end the run, not the process: yields what the run loop polls once per
    step (and the queue while the run waits), a reason once a signal came. The handler only
    records; the loop writes the checkpoint and the store."""
    received: list[str] = []
    if threading.current_thread() is not threading.main_thread():  # signals reach it only there
        yield lambda: None
        return

    def record(number: int, frame: Any) -> None:
        received.append(signal.Signals(number).name)

    previous = {sig: signal.signal(sig, record) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield lambda: f"stopped by {received[0]}" if received else None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def progress(total: int | None, label: str, quiet: bool) -> Iterator[tuple[Callable, dict]]:
    """A progress bar on stderr; yields ``(on_step, last)``: the run's row callback and the latest
    value of each number it reported (and the device it trains on)."""
    from tqdm import tqdm

    last: dict[str, Any] = {}
    bar = tqdm(
        total=total, desc=label, unit="step", file=sys.stderr, disable=quiet, dynamic_ncols=True
    )

    def on_step(row: dict[str, Any]) -> None:
        last.update({k: v for k, v in row.items() if isinstance(v, (int, float))})
        if "device" in row:  # the first row says where the run trains
            last["device"] = row["device"]
        bar.update(row["step"] - bar.n)
        if "loss" in row or "d_loss" in row:
            bar.set_postfix(loss=f"{row.get('loss', row.get('d_loss')):.4g}", refresh=False)

    with bar:
        yield on_step, last


def train_here(
    store: RunStore, run_id: int, label: str, threads: int = 1, quiet: bool = False
) -> tuple[str, str | None, dict[str, Any]]:
    """Train run ``run_id``, queued by this process, here once the machine's queue gives it a
    worker; returns ``(state, reason, last values)``. SIGTERM or Ctrl-C stops it for good (saved)."""
    import torch

    from gendl.engine.pool import claim_when_free
    from gendl.engine.worker import WorkerOptions, execute_run

    def tell(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    with stop_signals() as stop_requested:
        if claim_when_free(store, run_id, stop_requested, on_wait=tell) is None:
            run = store.get_run(run_id)  # stopped while it waited
            return run.state, run.reason and f"{run.reason} before it started", {}
        torch.set_num_threads(threads)
        torch.set_flush_denormal(True)  # denormal gradients are ~10x slower on CPU
        total = store.get_run(run_id).config.get("max_steps")
        with progress(total, label, quiet) as (on_step, last):
            state, reason = execute_run(
                store, run_id, WorkerOptions(), on_step=on_step, stop_requested=stop_requested
            )
    return state, reason, last


def end_line(store: RunStore, run_id: int, state: str, reason: str | None, last: dict) -> str:
    """``run 3 finished at step 200 (4.1 s on cpu (...)): test_acc 0.97; model in PATH``, with why
    it ended early; ``error: run 3 failed: REASON`` (for stderr) when it failed."""
    from gendl.engine.records import MODEL_NAME

    if state == "failed":
        return f"error: run {run_id} failed: {reason}"
    scores = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k.endswith("acc"))
    where = f" on {last['device']}" if "device" in last else ""
    wall = round(last.get("elapsed_s", 0.0), 2)
    model = store.run_dir(run_id) / MODEL_NAME
    return (
        f"run {run_id} {state} at step {last.get('step', 0)} ({wall} s{where})"
        + (f": {scores}" if scores else "")
        + (f"; {reason}" if reason else "")
        + (f"; model in {model}" if model.is_file() else "")
    )


def print_end(store: RunStore, run_id: int, state: str, reason: str | None, last: dict) -> int:
    """Print :func:`end_line` (a failure on stderr); returns the command's exit code."""
    line = end_line(store, run_id, state, reason, last)
    print(line, file=sys.stderr if state == "failed" else None)
    return EXIT_CODES.get(state, 0)


# ---------------------------------------------------------------- runs


def cmd_runs(args: argparse.Namespace) -> int:
    from gendl.engine.export import export_run
    from gendl.engine.pool import recover_runs

    if args.action in ("stop", "resume", "delete"):
        return _control(args)
    store = RunStore(args.runs_dir)
    recover_runs(store)
    if args.action == "list":
        print(
            f"{'id':>4}  {'name':18} {'family':10} {'state':11} {'step':>8}  {'created':16}  reason"
        )
        for run in store.list_runs():
            created = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.created))
            print(
                f"{run.id:4d}  {run.name or '-':18.18} {run.family:10} {run.state:11} "
                f"{run.step:8d}  {created:16}  {run.reason or ''}"
            )
    elif args.action == "show":
        run = store.get_run(args.id)
        for key in ("id", "name", "family", "state", "reason", "owner", "step", "checkpoint"):
            print(f"{key:11} {getattr(run, key)}")
        print(f"{'where':11} {run.where}")
        print(f"{'directory':11} {store.run_dir(run.id)}")
        devices = [row["device"] for row in store.metrics_since(run.id, 0) if "device" in row]
        if devices:  # one per start or resume of the run
            print(f"{'device':11} {devices[-1]}")
        print("config     ", json.dumps(run.config, indent=2).replace("\n", "\n" + " " * 12))
        rows = store.metrics_since(run.id, max(run.step - 1, 0))
        if rows:
            print("last step  ", json.dumps(rows[-1]))
        for step, kind, path in store.artifacts(run.id):
            print(f"{kind:11} step {step}: {path}")
    else:
        print(f"wrote {export_run(store, args.id, args.out)}")
    return 0


def _control(args: argparse.Namespace) -> int:
    """``runs stop|resume|delete ID`` through the engine's rules, as the machine's user."""
    from gendl.engine.pool import ThisProcess
    from gendl.engine.runs import RunEngine

    engine = RunEngine(args.runs_dir, backend=ThisProcess)  # starts no worker processes
    if args.action == "delete":
        engine.delete(args.id)
        print(f"deleted run {args.id} and its files ({engine.store.run_dir(args.id)})")
    elif args.action == "stop":
        engine.stop(args.id)
        try:
            run = engine.wait(args.id, STOP_WAIT_S)
            print(f"run {run.id} {run.state} at step {run.step}")
        except TimeoutError:
            print(f"run {args.id} stops after its current step")
    else:
        engine.resume(args.id)
        run = engine.status(args.id)
        if run.state == "queued" and (run.engine_pid, run.engine_started) == engine.pool.holder:
            # it was interrupted and is queued again by this process: it trains here, like train
            label = run.name or f"run {run.id}"
            state, reason, last = train_here(engine.store, run.id, label, quiet=args.no_progress)
            return print_end(engine.store, run.id, state, reason, last)
        print(f"run {run.id} resumes in the process that trains it")
    return 0


# ---------------------------------------------------------------- cluster


def is_loopback(address: str) -> bool:
    """Whether a server bound to ``address`` answers this machine only."""
    import ipaddress

    try:
        return address == "localhost" or ipaddress.ip_address(address).is_loopback
    except ValueError:  # a host name
        return False


def cmd_cluster(args: argparse.Namespace) -> int:
    from gendl.engine.local_cluster import LocalDaskCluster

    with LocalDaskCluster(args.workers, host=args.address, port=args.port) as cluster:
        print(f"Dask scheduler at {cluster.address} with {args.workers} worker(s) on this machine")
        print(f"dashboard: GENDL_CLUSTER={cluster.address} make run")
        print(f"a lab machine joins with: dask worker {cluster.address} --nthreads 1")
        if not is_loopback(args.address):
            print(
                f"warning: anyone who reaches {args.address}:{args.port} can run code on these "
                "workers; use Dask's TLS on a network you do not trust (README)"
            )
        print("Ctrl-C stops the scheduler and the workers", flush=True)
        try:
            while cluster.scheduler.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


# ---------------------------------------------------------------- parser


def add_store_commands(commands: Any, store: argparse.ArgumentParser) -> None:
    """The ``runs`` and ``cluster`` subcommands; ``store`` holds the shared ``--runs-dir``."""
    runs = commands.add_parser("runs", help="runs in the store")
    actions = runs.add_subparsers(dest="action", required=True)
    actions.add_parser("list", parents=[store], help="all runs, newest first")
    show = actions.add_parser("show", parents=[store], help="one run's config, state and files")
    show.add_argument("id", type=int)
    export = actions.add_parser("export", parents=[store], help="one run as a zip file")
    export.add_argument("id", type=int)
    export.add_argument(
        "--out", required=True, help="a new FILE.zip, or a DIR/ to write run<ID>.zip in"
    )
    helps = {
        "stop": "end a run after its current step (a queued one at once); its model is saved",
        "resume": "continue a paused run; an interrupted one trains here from its checkpoint",
        "delete": "remove a run that is not active, files included",
    }
    for action, text in helps.items():
        control = actions.add_parser(action, parents=[store], help=text)
        control.add_argument("id", type=int)
        if action == "resume":
            control.add_argument("--no-progress", action="store_true", help="no progress bar")
    runs.set_defaults(func=cmd_runs)

    cluster = commands.add_parser("cluster", help="a Dask cluster on this machine, for a demo")
    cluster_actions = cluster.add_subparsers(dest="action", required=True)
    up = cluster_actions.add_parser("up", help="start a scheduler and workers until Ctrl-C")
    up.add_argument(
        "--workers",
        type=int,
        choices=range(0, 65),
        default=2,
        metavar="N",
        help="worker processes on this machine, 0 to 64 (default 2; 0: lab machines join)",
    )
    up.add_argument("--address", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    up.add_argument("--port", type=int, default=8786, help="scheduler port (default 8786)")
    cluster.set_defaults(func=cmd_cluster)
