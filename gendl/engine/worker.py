"""One run's process: build the trainer, step it, obey the commands queued in the store, and write
metrics (batched, at most once per flush interval), checkpoints and sample grids under runs/<id>/.

A worker process is ``python -m gendl.engine.process`` (what RunEngine launches, one per run); the
CLI's synchronous ``train`` calls :func:`execute_run` in its own process instead.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gendl.checkpoints import save_checkpoint
from gendl.device import device_name
from gendl.engine.records import MODEL_NAME
from gendl.engine.resume import resume_trainer, save_run_state
from gendl.engine.store import RunStore, process_started
from gendl.train.common import Clock, Metrics, Trainer, TrainingDiverged, train_step

IDLE_POLL_S = 0.05  # how often a paused run looks for commands


@dataclass(frozen=True)
class WorkerOptions:
    flush_every: float = 1.0  # seconds between metric transactions
    checkpoint_every: float = 30.0  # seconds between trainer checkpoints


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):  # tensors and numpy values
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def split_metrics(metrics: Metrics) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """JSON-ready values, and image batches (4-D tensors such as ``sample_grid``) kept apart."""
    row, images = {}, {}
    for key, value in metrics.items():
        if isinstance(value, torch.Tensor) and value.dim() == 4:
            images[key] = value.detach()
        else:
            row[key] = _jsonable(value)
    return row, images


def save_grid(images: torch.Tensor, path: Path) -> Path:
    """(n, 1, 28, 28) in [0, 1] as one PNG grid of 8 per row, written atomically."""
    from torchvision.utils import make_grid, save_image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_image(make_grid(images.clamp(0, 1), nrow=8, padding=2), tmp, format="png")
    os.replace(tmp, path)
    return path


class RunLoop:
    """Drives one trainer; the store's command queue is read once per step (an indexed lookup)."""

    def __init__(
        self,
        store: RunStore,
        run_id: int,
        trainer: Trainer,
        options: WorkerOptions,
        on_step: Callable[[dict[str, Any]], None] | None = None,
        interrupted: Callable[[], str | None] | None = None,
        notice: str | None = None,
        stop_requested: Callable[[], str | None] | None = None,
    ) -> None:
        self.store, self.run_id, self.trainer, self.options = store, run_id, trainer, options
        # polled once per step: a reason to end resumable (interrupted) or for good (stopped)
        self.on_step, self.interrupted = on_step, interrupted or (lambda: None)
        self.stop_requested = stop_requested or (lambda: None)
        self.notice = notice  # shown as the run's reason while it runs (a damaged checkpoint)
        self.dir = store.run_dir(run_id)
        self.clock = Clock(trainer.config.max_steps, trainer.config.max_seconds)
        self.rows: list[dict[str, Any]] = []
        self.files: list[tuple[int, str, str]] = []
        self.last: dict[str, Any] = {}  # latest value of every metric, for the final summary
        self.paused_since: float | None = None
        self.queued_parts: list[str] = []  # single steps asked for while paused
        self.last_flush = self.last_checkpoint = time.monotonic()
        self.device = device_name(trainer.device)  # recorded in this process's first row

    # ------------------------------------------------------------ the loop

    def run(self) -> tuple[str, str | None]:
        """Train until finished, stopped, interrupted or failed; returns ``(state, reason)``."""
        try:
            state, reason = self._loop()
        except TrainingDiverged as exc:
            state, reason = "failed", str(exc)
        except KeyboardInterrupt:
            state, reason = "interrupted", "interrupted by Ctrl-C; resume to continue"
        except Exception as exc:
            (self.dir / "error.log").write_text(traceback.format_exc())
            state, reason = "failed", f"{type(exc).__name__}: {exc}"
        self._end(state, reason)
        return state, reason

    def _loop(self) -> tuple[str, str | None]:
        me = os.getpid()
        self.store.update_run(
            self.run_id,
            state="running",
            reason=self.notice,
            pid=me,
            pid_started=process_started(me),
        )
        while True:
            result = self._obey_commands()
            if result is not None:
                return result
            reason = self.stop_requested()
            if reason is not None:
                return "stopped", reason  # like a stop command: checkpoint and model saved
            reason = self.interrupted()
            if reason is not None:
                return "interrupted", reason
            if self.queued_parts:
                self._step(self.queued_parts.pop(0))
                if not self.queued_parts:
                    self.flush()  # a single step shows up at once
            elif self.paused_since is not None:
                time.sleep(IDLE_POLL_S)
            elif self._done():
                return "finished", None
            else:
                self._step("all")
            self._maybe_save()

    def _done(self) -> bool:
        return self.trainer.finished or self.clock.done(self.trainer.step_count)

    def _step(self, part: str) -> None:
        self._settle_pause()
        row, images = split_metrics(train_step(self.trainer, self.clock, part))
        if self.device is not None:  # where the run trains (a resumed run may move)
            row["device"], self.device = self.device, None
        step = row["step"]
        for key, grid in images.items():
            name = f"step_{step:06d}.png" if key == "sample_grid" else f"{key}_{step:06d}.png"
            self.files.append((step, key, str(save_grid(grid, self.dir / "samples" / name))))
        self.rows.append(row)
        self.last.update(row)
        if self.on_step is not None:
            self.on_step(row)

    def _settle_pause(self) -> None:
        """Move the clock past the time paused so far: a pause never uses the time budget."""
        if self.paused_since is not None:
            now = time.perf_counter()
            self.clock.start += now - self.paused_since
            self.paused_since = now

    def _obey_commands(self) -> tuple[str, str | None] | None:
        commands = self.store.pending_commands(self.run_id)
        if not commands:
            return None
        self.store.take_commands(self.run_id, commands[-1].id)
        for command in commands:
            if command.command == "stop":
                return "stopped", None
            if command.command == "pause" and self.paused_since is None:
                self.paused_since = time.perf_counter()
                self.checkpoint()  # flushes too: a paused run is fully on disk
                self.store.update_run(self.run_id, state="paused")
            elif command.command == "resume" and self.paused_since is not None:
                self._settle_pause()
                self.paused_since, self.queued_parts = None, []
                self.store.update_run(self.run_id, state="running")
            elif command.command == "step" and self.paused_since is not None:
                self.queued_parts += [command.arg.get("part", "all")] * int(command.arg.get("n", 1))
        if self._done():
            self.queued_parts = []  # single steps never go past the budget
        return None

    # ------------------------------------------------------------ writing

    def flush(self) -> None:
        """Write buffered metric rows and artifacts in one transaction."""
        if self.rows or self.files:
            self.store.append_metrics(self.run_id, self.rows, self.files)
            self.rows, self.files = [], []
        self.last_flush = time.monotonic()

    def checkpoint(self) -> None:
        """Flush, then save the trainer state atomically (rows never lag behind a checkpoint)."""
        self.flush()
        self._settle_pause()
        path = save_run_state(self.dir, self.trainer, self.clock.elapsed)
        step = self.trainer.step_count
        self.store.update_run(self.run_id, checkpoint=str(path), checkpoint_step=step)
        self.last_checkpoint = time.monotonic()

    def _maybe_save(self) -> None:
        now = time.monotonic()
        if now - self.last_checkpoint >= self.options.checkpoint_every:
            self.checkpoint()
        elif now - self.last_flush >= self.options.flush_every:
            self.flush()

    def _end(self, state: str, reason: str | None) -> None:
        try:
            if state == "failed":
                self.flush()  # every step before the failing one is kept
            else:
                self.checkpoint()
            if state in ("finished", "stopped"):
                # rows an earlier attempt wrote past this end are not part of the run
                self.store.truncate_after(self.run_id, self.trainer.step_count)
                self._save_model()
        except Exception as exc:  # disk full, store gone: still try to record why
            (self.dir / "error.log").write_text(traceback.format_exc())
            state, reason = "failed", f"could not save the run: {type(exc).__name__}: {exc}"
        self.store.update_run(self.run_id, state=state, reason=reason)

    def _save_model(self) -> None:
        run = self.store.get_run(self.run_id)
        summary = {k: v for k, v in self.last.items() if isinstance(v, (int, float))}
        meta = {"run_id": run.id, "family": run.family, "name": run.name, "config": run.config}
        model = self.trainer.export_model()
        path = save_checkpoint(self.dir / MODEL_NAME, model, {**meta, **summary})
        self.store.append_metrics(self.run_id, [], [(self.trainer.step_count, "model", str(path))])


def execute_run(
    store: RunStore,
    run_id: int,
    options: WorkerOptions = WorkerOptions(),
    on_step: Callable[[dict[str, Any]], None] | None = None,
    interrupted: Callable[[], str | None] | None = None,
    stop_requested: Callable[[], str | None] | None = None,
) -> tuple[str, str | None]:
    """Build the run's trainer (from its newest readable checkpoint, if any) and train it to the end.

    ``interrupted`` and ``stop_requested``, polled once per step, end the run resumable or for
    good (the CLI's SIGTERM: checkpoint and model saved) when they return a reason. Returns the
    final ``(state, reason)``, which is also written to the store. A run whose trainer cannot even
    be built ends as failed with the reason.
    """
    run = store.get_run(run_id)
    directory = store.run_dir(run_id)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        resumed = resume_trainer(directory, run.family, run.config)
    except Exception as exc:
        (directory / "error.log").write_text(traceback.format_exc())
        reason = f"{type(exc).__name__}: {exc}"
        store.update_run(run_id, state="failed", reason=reason)
        return "failed", reason
    # artifacts past the resumed step are drawn again; metric rows stay until recomputed
    store.truncate_after(run_id, resumed.trainer.step_count, metrics=False)
    trainer, notice = resumed.trainer, resumed.notice
    loop = RunLoop(store, run_id, trainer, options, on_step, interrupted, notice, stop_requested)
    loop.clock.start -= resumed.elapsed_s
    return loop.run()
