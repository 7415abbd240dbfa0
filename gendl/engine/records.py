"""What the run store holds: the schema, a run's record and states, the commands a run obeys,
and whether the process holding a run is still alive.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATES = ("queued", "running", "paused", "finished", "failed", "stopped", "interrupted")
ACTIVE_STATES = ("queued", "running", "paused")
COMMANDS = ("pause", "resume", "step", "stop")
# the keys of gendl.train.FAMILIES, here without torch for pages that only list runs
FAMILY_NAMES = ("sequence", "gan", "vae", "classifier")
MODEL_NAME = "model.pt"  # a run's trained model in gendl.checkpoints format, for the dashboard
CHECKPOINT_NAME = "checkpoint.pt"  # trainer state for resuming: optimizers, generators, step
PREVIOUS_NAME = "checkpoint.prev.pt"  # the checkpoint before, used when the newest is damaged
# owners that are not a browser session: runs started from the command line, and the teacher's
# (in class mode the teacher's session acts as TEACHER and may control every run)
CLI_OWNER = "cli"
TEACHER = "teacher"

# one script per schema version; a database at version k gets scripts k, k+1, ... applied
MIGRATIONS = (
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        family TEXT NOT NULL,
        name TEXT,
        config TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        owner TEXT,
        shared INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        finished REAL,
        step INTEGER NOT NULL DEFAULT 0,
        pid INTEGER,
        pid_started INTEGER,
        engine_pid INTEGER,
        engine_started INTEGER,
        checkpoint TEXT,
        checkpoint_step INTEGER
    );
    CREATE INDEX runs_by_state ON runs (state);
    CREATE TABLE metrics (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (run_id, step)
    ) WITHOUT ROWID;
    CREATE TABLE artifacts (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        kind TEXT NOT NULL,
        path TEXT NOT NULL
    );
    CREATE INDEX artifacts_by_run ON artifacts (run_id, kind, step);
    CREATE TABLE commands (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        command TEXT NOT NULL,
        arg TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX commands_by_run ON commands (run_id, id);
    """,
    # where a run trains: NULL for this machine's worker processes, else a Dask worker's address
    "ALTER TABLE runs ADD COLUMN location TEXT;",
    # class mode: when a run was handed a worker (the fair queue serves owners served longest
    # ago first), the class's settings, and the students' display names
    """
    ALTER TABLE runs ADD COLUMN started REAL;
    CREATE INDEX runs_by_owner ON runs (owner);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE students (
        owner TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        joined REAL NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class Run:
    """One row of the ``runs`` table; ``config`` is the family's config as a dict."""

    id: int
    family: str
    name: str | None
    config: dict[str, Any]
    state: str
    reason: str | None
    owner: str | None
    shared: bool
    created: float
    updated: float
    finished: float | None
    step: int
    pid: int | None
    pid_started: int | None
    engine_pid: int | None
    engine_started: int | None
    checkpoint: str | None
    checkpoint_step: int | None
    location: str | None = None
    started: float | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Run:
        values = dict(row)
        values["config"] = json.loads(values["config"])
        values["shared"] = bool(values["shared"])
        return cls(**values)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def where(self) -> str:
        """Where the run trains or trained: "this machine", or the Dask worker's address."""
        return self.location or "this machine"

    @property
    def owned_by_cli(self) -> bool:
        """Started from the command line (runs from before owners were recorded count as such)."""
        return self.owner in (None, CLI_OWNER)

    def controllable_by(self, owner: str | None) -> bool:
        """Whether ``owner`` may pause, step, stop, share or delete this run: its own session,
        anyone once it is shared, the teacher in class mode, and ``None`` (the command line, the
        machine's user) always. A command-line run is read-only in every browser.
        The one permission rule: the engine enforces it, pages and tables show it."""
        if owner is None or owner == TEACHER or self.shared:
            return True
        return not self.owned_by_cli and self.owner == owner

    def why_not_controllable(self, owner: str | None) -> str | None:
        """Why ``owner`` may not control this run, in a sentence for a disabled button; or None."""
        if self.controllable_by(owner):
            return None
        if self.owned_by_cli:
            return f"run {self.id} was started from the command line: read-only here"
        return f"run {self.id} belongs to another session: only its owner can control it"


def model_name(family: str, config: Any) -> str:
    """The model's name as the catalogue writes it (GAN, LSGAN, DCGAN, VAE, RNN, LSTM, or the
    classifier's arch), from a run's training config or a checkpoint's model config; missing keys
    mean the defaults."""
    config = config if isinstance(config, Mapping) else {}
    model = config["model"] if isinstance(config.get("model"), Mapping) else config
    if family == "vae":
        return "VAE"
    if family == "gan":
        if model.get("arch") in ("infogan", "dcgan"):
            return "DCGAN"
        return "LSGAN" if config.get("loss") == "ls" else "GAN"
    if family == "sequence":
        return str(model.get("model", "lstm")).upper()
    return f"{model.get('arch', 'cnn')} classifier"


def variant(family: str, config: Any) -> str:
    """What a run trains, for tables and labels: the model's name and the setting that tells runs
    of it apart, ``LSTM L=20``, ``VAE z=20``, ``LSGAN``, ``mlp classifier``."""
    name = model_name(family, config)
    config = config if isinstance(config, Mapping) else {}
    model = config["model"] if isinstance(config.get("model"), Mapping) else config
    if family == "sequence" and "seq_length" in config:
        return f"{name} L={config['seq_length']}"
    if family == "vae" and "latent_dim" in model:
        return f"{name} z={model['latent_dim']}"
    return name


@dataclass(frozen=True)
class Command:
    id: int
    command: str
    arg: dict[str, Any]


def process_started(pid: int) -> int | None:
    """When a live process started (clock ticks since boot, from /proc), or None if unknown.

    Stored next to a pid so that a pid reused by another process (pids restart from 1 when a
    container restarts) is not mistaken for the run's worker.
    """
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid: int | None, started: int | None = None) -> bool:
    """Whether process ``pid`` (started at ``started``, if known) exists and has not exited."""
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return True  # no /proc (macOS): trust kill()
    if fields[0] == "Z":
        return False  # exited, not yet reaped
    return started is None or int(fields[19]) == started
