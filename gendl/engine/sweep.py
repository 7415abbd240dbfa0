"""RNN vs LSTM over sequence lengths and seeds: every cell is a sequence-family run in the engine.

    python -m gendl sweep --models rnn lstm --lengths 5 10 15 20 --seeds 3 --workers 2 --json

Each run's config is the model's preset, then the sweep recipe (``SWEEP_PRESETS``), then the cell's
``seq_length`` and ``seed``, then any further overrides; all are validated before anything starts.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gendl.config import check_choice, check_int, config_to_dict, deep_merge
from gendl.engine.runs import TERMINAL_STATES, RunEngine
from gendl.engine.store import Run, RunStore
from gendl.errors import ConfigError
from gendl.train import PRESETS, build_config
from gendl.train.sequence import SWEEP_PRESETS

SWEEP_MODELS = ("rnn", "lstm")


@dataclass(frozen=True)
class Cell:
    model: str
    length: int
    seed: int
    config: dict[str, Any]


def sweep_cells(
    models: list[str],
    lengths: list[int],
    n_seeds: int,
    preset: str = "default",
    overrides: dict[str, Any] | None = None,
) -> list[Cell]:
    """The grid, seeds ``0 .. n_seeds - 1``; each config validated (ConfigError names the field)."""
    check_choice("preset", preset, SWEEP_PRESETS)
    check_int("seeds", n_seeds, 1, 1000)
    if not models or not lengths:
        raise ConfigError("a sweep needs at least one model and one length")
    cells = []
    for model in models:
        check_choice("model", model, SWEEP_MODELS)
        recipe = deep_merge(PRESETS[model][1], SWEEP_PRESETS[preset])
        for length in lengths:
            for seed in range(n_seeds):
                cell = {"seq_length": length, "seed": seed, "model": {"model": model}}
                values = deep_merge(deep_merge(recipe, cell), overrides or {})
                config = config_to_dict(build_config("sequence", values))
                cells.append(Cell(model, length, seed, config))
    return cells


def final_test_acc(store: RunStore, run: Run) -> float | None:
    """The last test accuracy a run recorded (its final evaluation), if any."""
    for row in reversed(store.metrics_since(run.id, 0)):
        if "test_acc" in row:
            return float(row["test_acc"])
    return None


def summarize(store: RunStore, cells: list[Cell], runs: list[Run]) -> list[dict[str, Any]]:
    """Mean and sample std of the final test accuracy per (model, length), over seeds."""
    groups: dict[tuple[str, int], list[Run]] = {}
    for cell, run in zip(cells, runs, strict=True):
        groups.setdefault((cell.model, cell.length), []).append(run)
    results = []
    for (model, length), group in groups.items():
        accs = [a for a in (final_test_acc(store, run) for run in group) if a is not None]
        results.append(
            {
                "model": model,
                "length": length,
                "test_acc_mean": statistics.fmean(accs) if accs else None,
                "test_acc_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                "n_seeds": len(accs),
                "steps_mean": statistics.fmean(run.step for run in group),
                "states": sorted({run.state for run in group}),
            }
        )
    return results


def run_sweep(
    cells: list[Cell],
    *,
    workers: int = 2,
    root: str | Path | None = None,
    on_done: Callable[[Cell, Run], None] | None = None,
) -> dict[str, Any]:
    """Run every cell in the engine, at most ``workers`` at once; returns wall time and results.

    Interrupting (Ctrl-C) closes the engine: running cells checkpoint and end as interrupted.
    """
    start = time.perf_counter()
    with RunEngine(root, max_workers=workers) as engine:
        # longest sequences first: the slowest runs do not start last and leave a worker idle
        ids = [0] * len(cells)
        for k in sorted(range(len(cells)), key=lambda k: -cells[k].length):
            c = cells[k]
            name = f"{c.model} L={c.length} seed={c.seed}"
            ids[k] = engine.start("sequence", c.config, name=name)
        pending, ended = dict(zip(ids, cells, strict=True)), {}
        while pending:
            time.sleep(0.2)
            for run_id, cell in list(pending.items()):
                run = engine.status(run_id)
                if run.state in TERMINAL_STATES:
                    ended[run_id] = run
                    del pending[run_id]
                    if on_done is not None:
                        on_done(cell, run)
        results = summarize(engine.store, cells, [ended[run_id] for run_id in ids])
    return {"wall_s": round(time.perf_counter() - start, 2), "results": results}
