"""The Dask backend against the local one, on this machine: a scheduler and two workers on
127.0.0.1 (separate processes, each in its own directory), the run store here.

    python bench/cluster.py            # overhead, steps/s, the default sweep, a class cost model
    python bench/cluster.py --quick    # the harness on tiny budgets
    python bench/cluster.py --json

Measures, alternating the backends so both see the same machine load, (1) the time from ``start``
to the first metric row in the store (median of a few runs; both backends write rows once a
second), (2) steps/s of a run on a Dask worker against the same run in a local worker process,
each on its own training clock (median), (3) the RNN vs LSTM sweep (lengths
5 10 20 40, one seed) on both, and (4) from the measured run times, a model of a class of 30 VAE
runs on N lab machines.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gendl.engine.local_cluster import LocalDaskCluster  # noqa: E402
from gendl.engine.runs import TERMINAL_STATES, RunEngine  # noqa: E402
from gendl.train import PRESETS  # noqa: E402

LENGTHS = (5, 10, 20, 40)


def first_row_s(engine: RunEngine, config: dict) -> float:
    start = time.perf_counter()
    run_id = engine.start("sequence", config)
    while not engine.metrics_since(run_id):
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    engine.stop(run_id)
    engine.wait(run_id, timeout=120)
    return elapsed


def steps_per_s(engine: RunEngine, config: dict) -> float:
    run_id = engine.start("sequence", config)
    engine.wait(run_id, timeout=600)
    rows = engine.metrics_since(run_id)
    return len(rows) / rows[-1]["elapsed_s"]


def sweep_s(engine: RunEngine, max_steps: int | None) -> tuple[float, list[float]]:
    """Wall time of the sweep, and each run's own training time."""
    start = time.perf_counter()
    ids = []
    for model in ("rnn", "lstm"):
        for length in LENGTHS:
            config = {"model": {"model": model}, "seq_length": length}
            if max_steps is not None:
                config["max_steps"] = max_steps
            ids.append(engine.start("sequence", config))
    for run_id in ids:
        engine.wait(run_id, timeout=1800, states=TERMINAL_STATES)
    wall = time.perf_counter() - start
    return wall, [engine.metrics_since(i)[-1]["elapsed_s"] for i in ids]


def class_model(run_s: float, overhead_s: float, machines: int, runs_each: int = 2) -> float:
    """Minutes for 30 runs of ``run_s`` on ``machines`` lab PCs running ``runs_each`` at a time."""
    waves = math.ceil(30 / (machines * runs_each))
    return waves * (run_s + overhead_s) / 60


def vae_run_s(engine: RunEngine, steps: int) -> float:
    """Training time of the VAE preset (what a class runs) cut to ``steps``."""
    family, values = PRESETS["vae"]
    run_id = engine.start(family, {**values, "max_steps": steps, "eval_every": steps})
    engine.wait(run_id, timeout=1800)
    return engine.metrics_since(run_id)[-1]["elapsed_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets: checks the harness")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    repeats, seconds = (2, 3.0) if args.quick else (5, 10.0)
    probe = {
        "model": {"model": "lstm"},
        "seq_length": 10,
        "max_steps": 1_000_000,
        "solved_acc": None,
    }
    timed = {**probe, "max_seconds": seconds}
    sweep_steps = 50 if args.quick else None
    vae_steps = 50 if args.quick else 1000
    results: dict = {"local": {}, "dask": {}}
    with (
        tempfile.TemporaryDirectory() as root,
        LocalDaskCluster(2) as cluster,
        RunEngine(Path(root) / "local") as local_engine,
        RunEngine(Path(root) / "dask", cluster=cluster.address) as dask_engine,
    ):
        engines = {"local": local_engine, "dask": dask_engine}
        first_row_s(dask_engine, probe)  # each worker's first task imports the training stack
        first_row_s(dask_engine, probe)
        samples: dict = {name: {"first": [], "speed": []} for name in engines}
        for _ in range(repeats):  # alternated, so both backends see the same machine load
            for name, engine in engines.items():
                samples[name]["first"].append(first_row_s(engine, probe))
                samples[name]["speed"].append(steps_per_s(engine, timed))
        for name, engine in engines.items():
            wall, run_times = sweep_s(engine, sweep_steps)
            results[name] = {
                "first_row_s": statistics.median(samples[name]["first"]),
                "steps_per_s": statistics.median(samples[name]["speed"]),
                "sweep_wall_s": wall,
                "sweep_run_s_mean": statistics.mean(run_times),
                "vae_run_s": vae_run_s(engine, vae_steps),
            }
    local, dask = results["local"], results["dask"]
    results["overhead_s"] = dask["first_row_s"] - local["first_row_s"]
    results["steps_ratio"] = dask["steps_per_s"] / local["steps_per_s"]
    results["class_of_30_min"] = {
        n: class_model(dask["vae_run_s"], max(dask["first_row_s"], 0.0), n) for n in (1, 2, 5, 15)
    }
    results["vae_steps"] = vae_steps
    if args.json:
        print(json.dumps(results))
        return
    print(
        f"first metric row after start: local {local['first_row_s']:.2f} s, "
        f"dask {dask['first_row_s']:.2f} s (overhead {results['overhead_s']:+.2f} s; goal <= 1 s)"
    )
    print(
        f"steps/s: local {local['steps_per_s']:.1f}, dask {dask['steps_per_s']:.1f} "
        f"(ratio {results['steps_ratio']:.3f}; goal >= 0.95)"
    )
    print(
        f"sweep (8 runs, 2 at a time): local {local['sweep_wall_s']:.1f} s, "
        f"dask on 2 local workers {dask['sweep_wall_s']:.1f} s"
    )
    print(
        f"class of 30 VAE runs of {vae_steps} steps ({dask['vae_run_s']:.1f} s each), "
        "2 runs per lab PC:"
    )
    for n, minutes in results["class_of_30_min"].items():
        print(f"  {n:2d} lab PC(s): {minutes:.1f} min")


if __name__ == "__main__":
    main()
