"""Engine overhead: steps/s of a run driven through the engine (worker process, metrics stored,
a reader polling ``metrics_since`` once a second like the dashboard) vs ``run_trainer`` in-process.

    python bench/engine_overhead.py                 # classifier on MNIST, 25 s each
    python bench/engine_overhead.py --seconds 10 --repeats 2 --json

The goal is a ratio of at least 0.90. Both sides use the same config and thread count (1, the
engine's default; see RunEngine), and steps/s is counted on each run's own training clock; the
engine's figure including process start-up is printed too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from gendl.engine.runs import RunEngine  # noqa: E402
from gendl.train import make_trainer  # noqa: E402
from gendl.train.common import run_trainer  # noqa: E402


def bench_config(family: str, seconds: float, data: str) -> dict:
    config = {"max_steps": 1_000_000, "max_seconds": seconds}
    if family in ("classifier", "gan", "vae"):
        config["data"] = data
    if family in ("gan", "vae"):
        config["n_score_samples"] = 0
    if family == "sequence":
        config["solved_acc"] = None  # no early stop: both sides run the full budget
    return config


def direct(family: str, config: dict, threads: int) -> float:
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    history = run_trainer(make_trainer(family, config))
    return len(history) / history[-1]["elapsed_s"]


def through_engine(family: str, config: dict, threads: int) -> tuple[float, float, int]:
    """(steps/s on the worker's clock, steps/s including start-up, reader polls)."""
    with (
        tempfile.TemporaryDirectory() as root,
        RunEngine(root, max_workers=1, threads_per_worker=threads) as engine,
    ):
        start = time.perf_counter()
        run_id = engine.start(family, config)
        last_step, polls, last = 0, 0, {}
        while engine.status(run_id).active:
            time.sleep(1.0)  # the dashboard's refresh
            rows = engine.metrics_since(run_id, last_step)
            polls += 1
            if rows:
                last_step, last = rows[-1]["step"], rows[-1]
        run = engine.status(run_id)
        if run.state != "finished":
            raise SystemExit(f"engine run ended {run.state}: {run.reason}")
        rows = engine.metrics_since(run_id, last_step)
        last = rows[-1] if rows else last
        wall = time.perf_counter() - start
        return last["step"] / last["elapsed_s"], last["step"] / wall, polls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="classifier")
    parser.add_argument("--data", default="mnist", help="mnist or fake")
    parser.add_argument("--seconds", type=float, default=25.0, help="training budget per run")
    parser.add_argument("--repeats", type=int, default=1, help="alternating direct/engine pairs")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on both sides")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    threads = args.threads
    config = bench_config(args.family, args.seconds, args.data)
    direct_rates, engine_rates, wall_rates = [], [], []
    for i in range(args.repeats):
        if i % 2 == 0:  # alternate the order so drifting load from other processes evens out
            direct_rates.append(direct(args.family, config, threads))
        rate, wall_rate, polls = through_engine(args.family, config, threads)
        if i % 2 == 1:
            direct_rates.append(direct(args.family, config, threads))
        engine_rates.append(rate)
        wall_rates.append(wall_rate)
        print(
            f"pair {i + 1}: direct {direct_rates[-1]:.1f} steps/s, engine {rate:.1f} steps/s "
            f"({wall_rate:.1f} with start-up, {polls} reader polls)",
            file=sys.stderr,
        )
    result = {
        "family": args.family,
        "threads": threads,
        "seconds": args.seconds,
        "direct_steps_per_s": round(statistics.median(direct_rates), 2),
        "engine_steps_per_s": round(statistics.median(engine_rates), 2),
        "engine_steps_per_s_with_startup": round(statistics.median(wall_rates), 2),
    }
    result["ratio"] = round(result["engine_steps_per_s"] / result["direct_steps_per_s"], 3)
    print(
        f"direct {result['direct_steps_per_s']} steps/s, engine {result['engine_steps_per_s']} "
        f"steps/s: ratio {result['ratio']} (goal >= 0.90)"
    )
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
