"""A run's trainer checkpoints, what ``resume`` continues from: runs/<id>/checkpoint.pt and the one
before it, checkpoint.prev.pt.

Each is written atomically with the SHA-256 of its contents, and the newest good one is kept as
``checkpoint.prev.pt`` before a new one replaces it. So a file cut short (a full disk, a copy
interrupted) or changed afterwards costs at most one checkpoint interval: the run resumes from the
previous one, or from step 0 if neither can be read, and says which file was damaged and why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gendl.checkpoints import atomic_save, state_sha256
from gendl.config import config_to_dict
from gendl.engine.records import CHECKPOINT_NAME, PREVIOUS_NAME
from gendl.train import make_trainer
from gendl.train.common import Trainer


def save_run_state(directory: Path, trainer: Trainer, elapsed_s: float) -> Path:
    """Write the trainer's state as ``checkpoint.pt``; the file it replaces becomes the previous."""
    state = {
        "family": trainer.family,
        "config": config_to_dict(trainer.config),  # what rebuilds the trainer
        "trainer": trainer.state_dict(),
        "elapsed_s": float(elapsed_s),
    }
    path = directory / CHECKPOINT_NAME
    tmp = directory / (CHECKPOINT_NAME + ".new")
    atomic_save({**state, "sha256": state_sha256(state)}, tmp)
    if path.is_file():
        os.replace(path, directory / PREVIOUS_NAME)
    os.replace(tmp, path)  # a kill between the two renames leaves the previous: still resumable
    return path


@dataclass
class Resumed:
    """The trainer to continue, the wall time it had used, and what happened to damaged files."""

    trainer: Trainer
    elapsed_s: float
    source: str | None  # the file it continues from; None: from step 0
    notice: str | None  # why a newer file was passed over, for the run's reason


def _read(path: Path) -> dict[str, Any]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch's own text is "PytorchStreamReader failed ... miniz"
        raise ValueError("truncated or damaged torch file") from exc
    if not isinstance(payload, dict) or not {"trainer", "elapsed_s"} <= set(payload):
        raise ValueError("not a run checkpoint")
    expected = payload.pop("sha256", None)
    if expected is not None and state_sha256(payload) != expected:
        raise ValueError("checksum mismatch, its contents changed after it was written")
    return payload


def resume_trainer(directory: Path, family: str, config: dict[str, Any]) -> Resumed:
    """The trainer rebuilt from the newest readable checkpoint in ``directory``, else a new one.

    Building the trainer itself (a bad config, missing data) raises as before: that is no damaged
    file, and starting again would fail the same way.
    """
    damaged = []
    for name in (CHECKPOINT_NAME, PREVIOUS_NAME):
        path = directory / name
        if not path.is_file():
            continue
        trainer = make_trainer(family, config)  # fresh for each try: a failed load may half-apply
        try:
            payload = _read(path)
            trainer.load_state_dict(payload["trainer"])
        except Exception as exc:
            damaged.append(f"{name} is damaged ({exc})")
            continue
        notice = _notice(damaged, f"resumed from {name} at step {trainer.step_count}")
        return Resumed(trainer, float(payload["elapsed_s"]), name, notice)
    notice = _notice(damaged, "started again from step 0; the recorded metrics are kept")
    return Resumed(make_trainer(family, config), 0.0, None, notice)


def _notice(damaged: list[str], what: str) -> str | None:
    return f"{'; '.join(damaged)}: {what}" if damaged else None
