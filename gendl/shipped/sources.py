"""The generators the dashboard can explore: shipped GAN/VAE checkpoints and finished runs, by id.

    sources = list_generators(engine)          # GeneratorSource entries, broken files included
    model = load_generator("vae.pt")           # or "run:12"; CheckpointError for a broken file

An id is either a checkpoint's file name in the checkpoint directory (``checkpoints/``, or
``$GENDL_CHECKPOINT_DIR`` read at call time) or ``run:<id>`` for a run of the store. Ids come from
URLs, so they are matched against a strict pattern and resolve only to files inside those two places:
no path, no ``..``, no symlink out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from torch import nn

from gendl.checkpoints import load_checkpoint, load_model
from gendl.engine.records import MODEL_NAME, model_name
from gendl.engine.store import RunStore
from gendl.errors import CheckpointError, GendlError
from gendl.models import GENERATIVE_KINDS
from gendl.shipped.catalogue import CHECKPOINT_DIR_ENV as CHECKPOINT_DIR_ENV  # re-exported
from gendl.shipped.catalogue import checkpoint_dir, shipped_checkpoints

RUN_STATES = ("finished", "stopped")  # both save the trained model as runs/<id>/model.pt
_FILE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}\.pt")
_RUN_ID = re.compile(r"run:([0-9]{1,12})")
_SCORE_KEYS = ("inception_score", "inception_std")


class SourceError(GendlError):
    """A generator id that names nothing the dashboard may load."""


@dataclass(frozen=True)
class GeneratorSource:
    """One selectable generator. ``error`` says why it cannot be used (then ``kind`` may be "")."""

    id: str
    label: str
    kind: str
    variant: str  # GAN, LSGAN, DCGAN or VAE
    path: Path
    scores: dict[str, float] = field(default_factory=dict)
    run_id: int | None = None
    error: str | None = None

    def stamp(self) -> int:
        """The file's modification time (ns), 0 if it is gone: part of every cache key."""
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return 0


def _scores(values: Any) -> dict[str, float]:
    values = values if isinstance(values, dict) else {}
    return {k: float(values[k]) for k in _SCORE_KEYS if isinstance(values.get(k), (int, float))}


@lru_cache(maxsize=64)
def _scan(path: Path, mtime_ns: int, size: int) -> tuple[str, dict[str, Any]]:
    """``(kind, meta)`` of a checkpoint file; cached per file version because it reads the weights."""
    checkpoint = load_checkpoint(path)
    return checkpoint.kind, checkpoint.meta


def _shipped_source(path: Path, entry: dict[str, Any]) -> GeneratorSource | None:
    """The source for one checkpoint file, described by its manifest ``entry`` (may be empty)."""
    name, kind = path.name, entry.get("kind")
    config, scores = entry.get("config"), _scores(entry.get("scores"))
    if kind is not None and kind not in GENERATIVE_KINDS:
        return None  # a classifier or sequence model: nothing to decode
    if not path.resolve().is_relative_to(path.parent.resolve()):
        error = f"{path}: links to a file outside {path.parent}, which is never opened"
        return GeneratorSource(name, f"{name} (outside)", kind or "", "?", path, error=error)
    if not path.is_file():
        error = "listed in manifest.json, but the file is missing"
        return GeneratorSource(name, f"{name} (missing)", kind or "", "?", path, error=error)
    if kind is None:
        try:
            stat = path.stat()
            kind, meta = _scan(path, stat.st_mtime_ns, stat.st_size)
        except (CheckpointError, OSError) as exc:
            return GeneratorSource(name, f"{name} (unreadable)", "", "?", path, error=str(exc))
        if kind not in GENERATIVE_KINDS:
            return None  # a classifier or sequence model: nothing to decode
        config, scores = meta.get("config"), scores or _scores(meta)
    variant = model_name(kind, config)
    title = entry.get("name") if isinstance(entry.get("name"), str) else variant
    return GeneratorSource(name, f"{title} · {name}", kind, variant, path, scores)


def shipped_generators(directory: Path | None = None) -> list[GeneratorSource]:
    """GANs and VAEs in the checkpoint directory: those in ``manifest.json`` first, in its order,
    then any other ``*.pt`` file found there (read once per file version to learn its kind)."""
    directory = directory or checkpoint_dir()
    entries: dict[str, dict[str, Any]] = {}
    for entry in shipped_checkpoints(directory):
        name = entry.get("file")
        if isinstance(name, str) and _FILE_ID.fullmatch(name) and name not in entries:
            entries[name] = entry
    if directory.is_dir():
        for path in sorted(directory.glob("*.pt")):
            if _FILE_ID.fullmatch(path.name):
                entries.setdefault(path.name, {})
    sources = (_shipped_source(directory / name, entry) for name, entry in entries.items())
    return [source for source in sources if source is not None]


def _store_of(store_or_engine: Any) -> RunStore | None:
    return getattr(store_or_engine, "store", store_or_engine)


def run_generators(store: RunStore) -> list[GeneratorSource]:
    """Finished (or stopped) GAN and VAE runs that saved a model, newest first; one whose model
    file is gone since (deleted by hand) is an entry with its error."""
    sources = []
    for run in store.list_runs(RUN_STATES):
        if run.family not in GENERATIVE_KINDS:
            continue
        path = store.run_dir(run.id) / MODEL_NAME
        if not path.is_file() and not store.artifacts(run.id, "model"):
            continue  # never saved one: stopped before its first step, or while interrupted
        variant = model_name(run.family, run.config)
        last = store.metrics_since(run.id, run.step - 1)  # the final row carries the last scores
        name = f" {run.name}" if run.name else ""
        label = f"{variant} · run {run.id}{name} ({run.step} steps)"
        error = None
        if not path.is_file():
            label, error = f"{label} (model missing)", f"{path}: the run's model file is missing"
        scores = _scores(last[-1] if last else {})
        sources.append(
            GeneratorSource(
                f"run:{run.id}", label, run.family, variant, path, scores, run.id, error
            )
        )
    return sources


def list_generators(store_or_engine: Any = None) -> list[GeneratorSource]:
    """Shipped generators, then the runs of ``store_or_engine`` (a RunStore, a RunEngine or None)."""
    store = _store_of(store_or_engine)
    return shipped_generators() + (run_generators(store) if store is not None else [])


def resolve_generator(source_id: str, store_or_engine: Any = None) -> Path:
    """The file behind ``source_id``; SourceError unless it lies inside the checkpoint directory or
    the run store."""
    store = _store_of(store_or_engine)
    run_match = _RUN_ID.fullmatch(source_id) if isinstance(source_id, str) else None
    if run_match:
        if store is None:
            raise SourceError(f"{source_id}: no run store to look it up in")
        run = store.get_run(int(run_match[1]))
        if run.family not in GENERATIVE_KINDS:
            raise SourceError(f"{source_id} is a {run.family} run, not a GAN or VAE")
        root, path = store.root, store.run_dir(run.id) / MODEL_NAME
    elif isinstance(source_id, str) and _FILE_ID.fullmatch(source_id):
        root = checkpoint_dir()
        path = root / source_id
    else:
        raise SourceError(
            f"{source_id!r} is not a generator id: use a checkpoint file name such as vae.pt "
            "or run:<id>"
        )
    if not path.resolve().is_relative_to(root.resolve()):
        raise SourceError(f"{source_id}: points outside {root}")
    return path


def load_generator(source_id: str, store_or_engine: Any = None) -> nn.Module:
    """The GAN or VAE behind ``source_id``, in eval mode; CheckpointError if its file is broken."""
    return load_model(resolve_generator(source_id, store_or_engine), kind=GENERATIVE_KINDS)
