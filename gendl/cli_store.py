"""The command line's ``runs`` (list, show, export a stored run) and ``cluster up`` (a Dask
scheduler and workers on this machine); ``gendl.cli`` builds the parser and runs them."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

# ---------------------------------------------------------------- runs


def cmd_runs(args: argparse.Namespace) -> int:
    from gendl.engine.export import export_run
    from gendl.engine.store import RunStore

    store = RunStore(args.runs_dir)
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


# ---------------------------------------------------------------- cluster


def cmd_cluster(args: argparse.Namespace) -> int:
    from gendl.engine.local_cluster import LocalDaskCluster

    with LocalDaskCluster(args.workers, host=args.address, port=args.port) as cluster:
        print(f"Dask scheduler at {cluster.address} with {args.workers} worker(s) on this machine")
        print(f"dashboard: GENDL_CLUSTER={cluster.address} make run")
        print(f"a lab machine joins with: dask worker {cluster.address} --nthreads 1")
        if args.address not in ("127.0.0.1", "localhost", "::1"):
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
