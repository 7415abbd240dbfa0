"""The RNN vs LSTM page's sweep estimate against the sweep's real wall time on this machine.

    python bench/estimate.py                     # lengths 5 10 15 20, one seed, 2 workers
    python bench/estimate.py --lengths 5 10 --seeds 2 --json

The estimate is what the page shows before Launch (``sweep_seconds`` from this machine's measured
step times, the shipped sweep's steps for cells that stop once solved); the sweep then runs through
the engine exactly as the page launches it. The goal is a ratio within 0.7-1.3.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gendl.config import config_to_dict  # noqa: E402
from gendl.engine.runs import TERMINAL_STATES, RunEngine  # noqa: E402
from gendl.engine.sweep import SWEEP_MODELS, Sweep  # noqa: E402
from gendl.shipped.catalogue import checkpoint_dir  # noqa: E402
from gendl.train.timing import cache_dir  # noqa: E402
from gendl.views.estimates import solved_steps, sweep_seconds  # noqa: E402
from gendl.views.sweep import load_sweep_result  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", nargs="+", type=int, default=[5, 10, 15, 20])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sweep = Sweep.grid(SWEEP_MODELS, sorted(args.lengths), args.seeds, "default")
    steps = solved_steps(load_sweep_result(checkpoint_dir() / "sweep_default.json"))
    configs = [config_to_dict(cell.config) for cell in sweep.queued()]
    estimate = sweep_seconds(configs, args.workers, cache_dir(), steps)
    with tempfile.TemporaryDirectory() as root, RunEngine(root, args.workers) as engine:
        start = time.perf_counter()
        sweep = sweep.launch(engine)
        for _, run in sweep.runs(engine):
            engine.wait(run.id, timeout=3600, states=TERMINAL_STATES)
        wall = time.perf_counter() - start
    result = {
        "runs": len(configs),
        "workers": args.workers,
        "estimate_s": round(estimate, 1),
        "wall_s": round(wall, 1),
        "ratio": round(estimate / wall, 3),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['runs']} runs, {args.workers} at a time: estimated {result['estimate_s']} s, "
            f"took {result['wall_s']} s (estimate / wall {result['ratio']}; goal 0.7-1.3)"
        )


if __name__ == "__main__":
    main()
