"""A run as one zip file: config JSON, metrics CSV, sample PNGs, weights and logs; a class's runs
as one zip, and the end of a class (its runs and students deleted once exported).

python -m gendl runs export 3 --out run3.zip      # or --out exports/: exports/run3.zip
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from gendl.engine.classroom import (
    forget_students,
    load_settings,
    owner_label,
    save_settings,
    students,
)
from gendl.engine.records import CHECKPOINT_NAME, MODEL_NAME, PREVIOUS_NAME, Run, variant
from gendl.engine.store import RunStore
from gendl.errors import GendlError
from gendl.outputs import output_path

FILES = (MODEL_NAME, CHECKPOINT_NAME, PREVIOUS_NAME, "error.log", "worker.log")


def metrics_csv(rows: list[dict[str, Any]]) -> str:
    """One line per step; columns in first-seen order; list values as JSON, missing ones empty."""
    columns: dict[str, None] = {"step": None}
    for row in rows:
        columns.update(dict.fromkeys(row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in row.items()})
    return out.getvalue()


def export_run(store: RunStore, run_id: int, out: str | Path) -> Path:
    """Write a zip holding ``config.json``, ``metrics.csv``, ``samples/*.png`` and the run's weights
    (``model.pt``, checkpoints) and logs where they exist; returns its path.

    ``out`` is a .zip file that does not exist yet, or a directory to write ``run<id>.zip`` in;
    anything else is refused (GendlError) before the archive is started."""
    run = store.get_run(run_id)
    with _archive(out, f"run{run_id}.zip") as (archive, path):
        _write_run(archive, store, run, "")
    return path


def export_runs(store: RunStore, run_ids: Iterable[int], out: str | Path) -> Path:
    """Write one zip holding each run as :func:`export_run` does, under ``run<id>/``, and
    ``class.json``: every run's id, owner (a student's name, "teacher", "command line"), name,
    model, state and step. ``out`` as for :func:`export_run` (default name ``class.zip``)."""
    runs = [store.get_run(run_id) for run_id in run_ids]
    names = students(store)
    listing = [
        {
            "id": run.id,
            "owner": owner_label(run.owner, names),
            "name": run.name,
            "family": run.family,
            "model": variant(run.family, run.config),
            "state": run.state,
            "step": run.step,
        }
        for run in runs
    ]
    with _archive(out, "class.zip") as (archive, path):
        archive.writestr("class.json", json.dumps({"runs": listing}, indent=2))
        for run in runs:
            _write_run(archive, store, run, f"run{run.id}/")
    return path


@contextmanager
def _archive(out: str | Path, default_name: str) -> Iterator[tuple[zipfile.ZipFile, Path]]:
    """A zip written beside ``out`` and moved there once complete: never a half-written file."""
    path = output_path(out, ".zip", default_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            yield archive, path
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_run(archive: zipfile.ZipFile, store: RunStore, run: Run, prefix: str) -> None:
    directory = store.run_dir(run.id)
    archive.writestr(f"{prefix}config.json", json.dumps(dataclasses.asdict(run), indent=2))
    archive.writestr(f"{prefix}metrics.csv", metrics_csv(store.metrics_since(run.id, 0)))
    for _, _, path in store.artifacts(run.id, "sample_grid"):
        if Path(path).is_file():
            archive.write(path, f"{prefix}samples/{Path(path).name}")
    for name in FILES:
        if (directory / name).is_file():
            archive.write(directory / name, f"{prefix}{name}")


# ---------------------------------------------------------------- the end of a class


def store_bytes(store: RunStore) -> int:
    """The run store's size on disk: its database and every run's files."""
    total = 0
    for directory, _, files in os.walk(store.root):  # a folder deleted meanwhile is skipped
        for name in files:
            with suppress(OSError):  # a file replaced meanwhile (a checkpoint being written)
                total += os.stat(os.path.join(directory, name)).st_size
    return total


def end_class(store: RunStore, run_ids: Iterable[int]) -> None:
    """Delete the class's runs (refused while any is active: stop them first), the students list
    and the spotlight; the teacher's other settings stay for the next class."""
    runs = [store.get_run(run_id) for run_id in run_ids]
    active = [str(run.id) for run in runs if run.active]
    if active:
        raise GendlError(f"runs {', '.join(active)} are still active: stop all first")
    for run in runs:
        store.delete_run(run.id)
    forget_students(store)
    save_settings(store, load_settings(store).replace(spotlight=None))
