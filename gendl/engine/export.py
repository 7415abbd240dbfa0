"""A run as one zip file: config JSON, metrics CSV, sample PNGs, weights and logs.

python -m gendl runs export 3 --out run3.zip      # or --out exports/: exports/run3.zip
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from gendl.engine.records import CHECKPOINT_NAME, MODEL_NAME, PREVIOUS_NAME
from gendl.engine.store import RunStore
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
    out = output_path(out, ".zip", f"run{run_id}.zip")
    out.parent.mkdir(parents=True, exist_ok=True)
    directory = store.run_dir(run_id)
    tmp = out.with_name(out.name + ".tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("config.json", json.dumps(dataclasses.asdict(run), indent=2))
            archive.writestr("metrics.csv", metrics_csv(store.metrics_since(run_id, 0)))
            for _, _, path in store.artifacts(run_id, "sample_grid"):
                if Path(path).is_file():
                    archive.write(path, f"samples/{Path(path).name}")
            for name in FILES:
                if (directory / name).is_file():
                    archive.write(directory / name, name)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
