"""A worker process's entry point: it lowers its CPU priority first, then imports the training
stack (torch: ~2 s of CPU) and runs one run with :func:`gendl.engine.worker.execute_run`.

    python -m gendl.engine.process --root runs --run-id 3     # what RunEngine launches, one per run

On a class server the dashboard and the workers share the cores: a run that starts or trains must
not slow the pages the class is reading, so a worker runs below the server (Unix nice) from its
first instruction on.
"""

from __future__ import annotations

import argparse
import os
import signal

WORKER_NICENESS = 10  # a worker's CPU priority below the dashboard's (Unix nice; ~1/10 the weight)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gendl.engine.process", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--root", required=True)
    parser.add_argument("--run-id", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--flush-every", type=float, default=1.0)
    parser.add_argument("--checkpoint-every", type=float, default=30.0)
    parser.add_argument("--parent-pid", type=int, default=None, help="end when it is gone")
    args = parser.parse_args(argv)
    if hasattr(os, "nice"):
        os.nice(WORKER_NICENESS)
    signals: list[str] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, frame: signals.append(signal.Signals(number).name))

    import torch  # after nice: the import itself is seconds of CPU

    from gendl.engine.store import RunStore
    from gendl.engine.worker import WorkerOptions, execute_run

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # denormal gradients are ~10x slower on CPU

    def interrupted() -> str | None:
        if signals:
            return f"stopped by {signals[0]} (server shutdown); resume to continue"
        if args.parent_pid is not None and os.getppid() != args.parent_pid:
            return "the engine process ended (server restart); resume to continue"
        return None

    options = WorkerOptions(args.flush_every, args.checkpoint_every)
    state, _ = execute_run(RunStore(args.root), args.run_id, options, interrupted=interrupted)
    return 0 if state != "failed" else 1


if __name__ == "__main__":
    raise SystemExit(main())
