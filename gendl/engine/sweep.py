"""RNN vs LSTM over sequence lengths and seeds: every cell is a sequence-family run in the engine.

    python -m gendl sweep --models rnn lstm --lengths 5 10 15 20 --seeds 3 --workers 2 --json

    sweep = Sweep.grid(["rnn", "lstm"], [5, 10], n_seeds=2).launch(engine, owner=session)
    summary(sweep.points(engine))          # what the CLI prints and the RNN vs LSTM page plots

Each run's config is the model's preset, then the sweep recipe (``SWEEP_PRESETS``), then the cell's
``seq_length`` and ``seed``, then any further overrides; all are validated before anything starts.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gendl.config import check_choice, check_int, config_to_dict, deep_merge
from gendl.engine.cluster import CLUSTER_ENV
from gendl.engine.pool import machine_bound
from gendl.engine.runs import TERMINAL_STATES, RunEngine
from gendl.engine.store import Run
from gendl.errors import ConfigError
from gendl.train import PRESETS, build_config
from gendl.train.sequence import SWEEP_PRESETS

SWEEP_MODELS = ("rnn", "lstm")


@dataclass(frozen=True)
class Cell:
    model: str
    length: int
    seed: int
    config: Any  # the validated SequenceTrainConfig

    @property
    def name(self) -> str:
        return f"{self.model} L={self.length} seed {self.seed}"


def sweep_cells(
    models: Sequence[str],
    lengths: Sequence[int],
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
                cells.append(Cell(model, length, seed, build_config("sequence", values)))
    return cells


def final_test_acc(rows: Sequence[dict[str, Any]]) -> float | None:
    """The last test accuracy in a run's metric rows (its final evaluation), if any."""
    for row in reversed(rows):
        if "test_acc" in row:
            return float(row["test_acc"])
    return None


def summary(points: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (model, length), in grid order: mean and sample standard deviation (n - 1) of
    ``test_acc`` over the seeds that have one, and, where points carry them, mean steps and states.
    This is the sweep JSON's result format."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for point in points:
        groups.setdefault((point["model"], point["length"]), []).append(point)
    results = []
    for (model, length), group in groups.items():
        accs = [float(p["test_acc"]) for p in group if p.get("test_acc") is not None]
        result = {
            "model": model,
            "length": length,
            "test_acc_mean": statistics.fmean(accs) if accs else None,
            "test_acc_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "n_seeds": len(accs),
        }
        if all("step" in p for p in group):
            result["steps_mean"] = statistics.fmean(p["step"] for p in group)
        if all("state" in p for p in group):
            result["states"] = sorted({p["state"] for p in group})
        results.append(result)
    return results


@dataclass(frozen=True)
class Sweep:
    """A grid of sequence runs, launched and read the same way by the CLI and the page.

    ``run_ids[k]`` is the run of ``cells[k]`` once launched (empty before)."""

    cells: tuple[Cell, ...]
    run_ids: tuple[int, ...] = ()

    @classmethod
    def grid(
        cls,
        models: Sequence[str],
        lengths: Sequence[int],
        n_seeds: int,
        preset: str = "default",
        overrides: dict[str, Any] | None = None,
    ) -> Sweep:
        return cls(tuple(sweep_cells(models, lengths, n_seeds, preset, overrides)))

    def launch(self, engine: RunEngine, *, owner: str | None = None) -> Sweep:
        """Queue every cell; returns the launched sweep. Longest sequences first, so the slowest
        runs do not start last and leave a worker idle; RNN and LSTM of a length side by side, so
        both curves fill in together."""
        order = sorted(range(len(self.cells)), key=lambda k: self._launch_key(self.cells[k]))
        for cell in {cell.model: cell for cell in self.cells}.values():  # all or nothing
            engine.admit("sequence", config_to_dict(cell.config), len(self.cells), owner=owner)
        ids = [0] * len(self.cells)
        for k in order:
            cell = self.cells[k]
            ids[k] = engine.start("sequence", cell.config, owner=owner, name=cell.name)
        return replace(self, run_ids=tuple(ids))

    @staticmethod
    def _launch_key(cell: Cell) -> tuple[int, int, str]:
        return (-cell.length, cell.seed, cell.model)

    def queued(self) -> list[Cell]:
        """The cells in the order :meth:`launch` queues them (what a duration estimate needs)."""
        return sorted(self.cells, key=self._launch_key)

    def runs(self, engine: RunEngine) -> list[tuple[Cell, Run]]:
        return [(c, engine.status(i)) for c, i in zip(self.cells, self.run_ids, strict=True)]

    def points(
        self,
        engine: RunEngine,
        rows_of: Callable[[Run], Sequence[dict[str, Any]]] | None = None,
    ) -> list[dict[str, Any]]:
        """One point per cell: model, length, seed, run id, state, step and final ``test_acc``;
        ``rows_of(run)`` reads a run's metric rows (default: all of them from the store)."""
        rows_of = rows_of or (lambda run: engine.metrics_since(run.id, 0))
        return [
            {
                "model": cell.model,
                "length": cell.length,
                "seed": cell.seed,
                "run_id": run.id,
                "state": run.state,
                "step": run.step,
                "test_acc": final_test_acc(rows_of(run)),
            }
            for cell, run in self.runs(engine)
        ]

    def stop(self, engine: RunEngine, *, owner: str | None = None) -> None:
        """Stop every run of the sweep that is still active."""
        for _, run in self.runs(engine):
            if run.active:
                engine.stop(run.id, owner=owner)


def run_sweep(
    sweep: Sweep,
    *,
    workers: int = 2,
    root: str | Path | None = None,
    on_done: Callable[[Cell, Run], None] | None = None,
) -> dict[str, Any]:
    """Run every cell in the engine, at most ``workers`` at once; returns wall time and results.

    Interrupting (Ctrl-C) closes the engine: running cells checkpoint and end as interrupted.
    On this machine ``workers`` is at most its bound, shared with the dashboard and CLI trains
    (:func:`gendl.engine.pool.machine_bound`); on a Dask cluster the lab machines set the pace.
    """
    bound = machine_bound()
    if not os.environ.get(CLUSTER_ENV) and workers > bound:
        raise ConfigError(
            f"workers {workers}: this machine trains at most {bound} runs at a time, for the "
            f"dashboard, sweeps and CLI trains together; give {bound} or fewer, or a cluster "
            "(--cluster) to train on lab machines"
        )
    start = time.perf_counter()
    with RunEngine(root, max_workers=workers) as engine:
        sweep = sweep.launch(engine)
        pending = dict(zip(sweep.run_ids, sweep.cells, strict=True))
        while pending:
            time.sleep(0.2)
            for run_id, cell in list(pending.items()):
                run = engine.status(run_id)
                if run.state in TERMINAL_STATES:
                    del pending[run_id]
                    if on_done is not None:
                        on_done(cell, run)
        results = summary(sweep.points(engine))
    return {"wall_s": round(time.perf_counter() - start, 2), "results": results}
