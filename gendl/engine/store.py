"""The run store: an SQLite database (WAL mode) under ``runs/`` holding every run's config, state,
metric rows, artifacts and pending control commands; it is the only channel between the dashboard
and the worker processes.

    store = RunStore("runs")            # runs/runs.sqlite, files under runs/<id>/
    rows = store.metrics_since(run_id, last_step)

Every write is one transaction (gendl/engine/database.py), so a process killed at any moment leaves
all committed rows intact (``synchronous=NORMAL`` in WAL mode survives a crashed process; only a
power cut may lose the last commits). Standard library only, so readers stay cheap to import.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gendl.engine.database import Database, StoreError
from gendl.engine.queue import Quota, pick_next
from gendl.engine.records import (
    ACTIVE_STATES,
    COMMANDS,
    STATES,
    Command,
    Run,
    pid_alive,
    process_started,
)

__all__ = ["ACTIVE_STATES", "STATES", "Command", "Run", "RunStore", "StoreError", "pid_alive"]

# a run holds a worker from its claim (pid set while queued) until it ends; a paused run keeps it
HOLDS_WORKER = "state IN ('running', 'paused') OR (state = 'queued' AND pid IS NOT NULL)"
# what the fair queue decides from: the runs waiting for a worker, runs holding one per owner,
# and when each owner was last handed one
WAITING = (
    "SELECT id, owner, engine_pid, engine_started FROM runs "
    "WHERE state = 'queued' AND pid IS NULL ORDER BY id"
)
HOLDING = f"SELECT owner, COUNT(*) FROM runs WHERE {HOLDS_WORKER} GROUP BY owner"
LAST_STARTED = "SELECT owner, MAX(started) FROM runs WHERE started IS NOT NULL GROUP BY owner"
DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "runs"
DB_NAME = "runs.sqlite"


class RunStore(Database):
    """Runs, metrics, artifacts and commands in ``root/runs.sqlite``; run files in ``root/<id>/``.

    ``root`` defaults to ``$GENDL_RUNS_DIR`` or ``runs/`` at the repository root. One connection per
    process, shared by its threads under a lock (queries take microseconds).
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root or os.environ.get("GENDL_RUNS_DIR") or DEFAULT_ROOT)
        self.root.mkdir(parents=True, exist_ok=True)
        super().__init__(self.root / DB_NAME)

    # ------------------------------------------------------------ runs

    def run_dir(self, run_id: int) -> Path:
        return self.root / str(run_id)

    def create_run(
        self,
        family: str,
        config: dict[str, Any],
        *,
        name: str | None = None,
        owner: str | None = None,
        shared: bool = False,
        state: str = "queued",
    ) -> int:
        """A new run held by this process: as the engine that queued it (state ``queued``) or as
        its worker (the CLI's ``running``). Its directory is created empty."""
        now, me = time.time(), os.getpid()
        holder = ("engine_pid", "engine_started") if state == "queued" else ("pid", "pid_started")
        values = {
            "family": family,
            "name": name,
            "config": json.dumps(config),
            "state": state,
            "owner": owner,
            "shared": int(shared),
            "created": now,
            "updated": now,
            holder[0]: me,
            holder[1]: process_started(me),
        }
        if state != "queued":  # its own worker from the start
            values["started"] = now
        with self._write() as conn:
            cursor = conn.execute(
                f"INSERT INTO runs ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                tuple(values.values()),
            )
            run_id = int(cursor.lastrowid)
            # before the commit: an engine may claim the run, and open its log, once it is visible
            directory = self.run_dir(run_id)
            shutil.rmtree(directory, ignore_errors=True)  # left over from a deleted database
            directory.mkdir(parents=True)
        return run_id

    def get_run(self, run_id: int) -> Run:
        rows = self._read("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise StoreError(f"no run with id {run_id!r} in {self.path}")
        return Run.from_row(rows[0])

    def list_runs(self, states: Iterable[str] | None = None, owner: str | None = None) -> list[Run]:
        """All runs, newest first; ``states`` restricts to those states, ``owner`` to one owner's."""
        where, params = [], []
        if states is not None:
            states = tuple(states)
            where.append(f"state IN ({', '.join('?' * len(states))})")
            params += states
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        return [Run.from_row(row) for row in self._read(sql + " ORDER BY id DESC", params)]

    def update_run(
        self,
        run_id: int,
        *,
        expect: Iterable[str] | None = None,
        unclaimed: bool = False,
        **fields: Any,
    ) -> bool:
        """Set columns of a run; with ``expect``, only if its state is one of those, and with
        ``unclaimed`` only if no process holds it yet (``pid`` is null), atomically.

        Returns whether the row changed. ``state`` must be one of :data:`STATES`; a terminal state
        also stamps ``finished``.
        """
        if "state" in fields:
            if fields["state"] not in STATES:
                raise StoreError(
                    f"state must be one of {', '.join(STATES)}; got {fields['state']!r}"
                )
            if fields["state"] not in ACTIVE_STATES:
                fields.setdefault("finished", time.time())
        fields["updated"] = time.time()
        sql = "UPDATE runs SET " + ", ".join(f"{key} = ?" for key in fields) + " WHERE id = ?"
        params = [*fields.values(), run_id]
        if expect is not None:
            expect = tuple(expect)
            sql += f" AND state IN ({', '.join('?' * len(expect))})"
            params += expect
        if unclaimed:
            sql += " AND pid IS NULL"
        with self._write() as conn:
            return conn.execute(sql, params).rowcount == 1

    def claim_queued(
        self, holder: tuple[int, int | None], max_active: int, quota: Quota | None = None
    ) -> Run | None:
        """Hand engine ``holder`` (pid, start time) the run the fair queue serves next
        (:func:`gendl.engine.queue.pick_next`, with ``quota`` an owner's running quota), if it is
        one this engine queued and fewer than ``max_active`` runs hold a worker now; else None.

        Counting and claiming are one transaction, so engines in any number of threads or
        processes sharing this store (the dashboard, CLI trains and sweeps) never run more than
        ``max_active`` runs at once between them, and serve owners in one fair order. A run holds
        a worker from its claim (``pid`` set while queued) until it ends; a paused run keeps it.
        """
        mine = (
            "SELECT 1 FROM runs WHERE state = 'queued' AND pid IS NULL AND engine_pid = ? LIMIT 1"
        )
        # read first: an engine polls several times a second and rarely has anything to claim
        if not self._read(mine, holder[:1]):
            return None
        if self._read(f"SELECT COUNT(*) FROM runs WHERE {HOLDS_WORKER}")[0][0] >= max_active:
            return None  # every worker busy (a class's queue): no write transaction
        with self._write() as conn:
            active = dict(conn.execute(HOLDING).fetchall())
            if sum(active.values()) >= max_active:
                return None
            queued = conn.execute(WAITING).fetchall()
            last = conn.execute(LAST_STARTED).fetchall()
            chosen = pick_next(
                [(row[0], row[1]) for row in queued], active, dict(last), quota or (lambda o: None)
            )
            row = next((r for r in queued if r[0] == chosen), None)
            if row is None or (row[2], row[3]) != tuple(holder):
                return None  # nothing to start, or another engine's run is next: it claims it
            now = time.time()
            conn.execute(
                "UPDATE runs SET pid = ?, pid_started = ?, started = ?, updated = ? WHERE id = ?",
                (*holder, now, now, chosen),
            )
            claimed = conn.execute("SELECT * FROM runs WHERE id = ?", (chosen,)).fetchone()
        return Run.from_row(claimed)

    def queue_state(self) -> tuple[list[tuple[int, str | None]], dict, dict]:
        """What the fair queue decides from: ``(run id, owner)`` of the runs waiting for a worker,
        runs holding a worker per owner, and when each owner was last handed a worker."""
        queued = [(row[0], row[1]) for row in self._read(WAITING)]
        return queued, dict(self._read(HOLDING)), dict(self._read(LAST_STARTED))

    def delete_run(self, run_id: int) -> None:
        """Remove a run's rows (metrics, artifacts, commands) and its directory."""
        with self._write() as conn:
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    # ------------------------------------------------------------ metrics and artifacts

    def append_metrics(
        self,
        run_id: int,
        rows: list[dict[str, Any]],
        artifacts: Iterable[tuple[int, str, str]] = (),
    ) -> None:
        """Write metric rows (each with an int ``step``) and ``(step, kind, path)`` artifacts in one
        transaction; the run's ``step`` becomes the last row's. A step written twice is replaced."""
        with self._write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO metrics (run_id, step, data) VALUES (?, ?, ?)",
                [(run_id, int(row["step"]), json.dumps(row)) for row in rows],
            )
            conn.executemany(
                "INSERT INTO artifacts (run_id, step, kind, path) VALUES (?, ?, ?, ?)",
                [(run_id, step, kind, str(path)) for step, kind, path in artifacts],
            )
            fields, params = "updated = ?", [time.time()]
            if rows:
                fields, params = fields + ", step = ?", [*params, int(rows[-1]["step"])]
            conn.execute(f"UPDATE runs SET {fields} WHERE id = ?", (*params, run_id))

    def metrics_since(
        self, run_id: int, after_step: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Metric rows with ``step > after_step`` in step order (an index range scan)."""
        sql = "SELECT data FROM metrics WHERE run_id = ? AND step > ? ORDER BY step"
        params: tuple[Any, ...] = (run_id, after_step)
        if limit is not None:
            sql, params = sql + " LIMIT ?", (*params, limit)
        return [json.loads(row[0]) for row in self._read(sql, params)]

    def truncate_after(self, run_id: int, step: int, *, metrics: bool = True) -> None:
        """Forget artifacts past ``step`` and, with ``metrics``, metric rows too; the run is at
        ``step`` again. A resuming run keeps its rows (``metrics=False``): each is replaced when
        its step is recomputed, and none is lost if the run is interrupted again first."""
        with self._write() as conn:
            if metrics:
                conn.execute("DELETE FROM metrics WHERE run_id = ? AND step > ?", (run_id, step))
            conn.execute("DELETE FROM artifacts WHERE run_id = ? AND step > ?", (run_id, step))
            conn.execute("UPDATE runs SET step = ? WHERE id = ?", (step, run_id))

    def artifacts(
        self, run_id: int, kind: str | None = None, after_step: int = -1
    ) -> list[tuple[int, str, str]]:
        """``(step, kind, path)`` of a run's files in step order, optionally of one kind."""
        sql = "SELECT step, kind, path FROM artifacts WHERE run_id = ? AND step > ?"
        params: tuple[Any, ...] = (run_id, after_step)
        if kind is not None:
            sql, params = sql + " AND kind = ?", (*params, kind)
        return [tuple(row) for row in self._read(sql + " ORDER BY step, id", params)]

    # ------------------------------------------------------------ commands (the transport)

    def push_command(self, run_id: int, command: str, arg: dict[str, Any] | None = None) -> int:
        if command not in COMMANDS:
            raise StoreError(f"command must be one of {', '.join(COMMANDS)}; got {command!r}")
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO commands (run_id, command, arg) VALUES (?, ?, ?)",
                (run_id, command, json.dumps(arg or {})),
            )
            return int(cursor.lastrowid)

    def pending_commands(self, run_id: int) -> list[Command]:
        """Commands not yet taken, oldest first (what a worker polls once per step)."""
        rows = self._read(
            "SELECT id, command, arg FROM commands WHERE run_id = ? ORDER BY id", (run_id,)
        )
        return [Command(row[0], row[1], json.loads(row[2])) for row in rows]

    def take_commands(self, run_id: int, up_to: int) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM commands WHERE run_id = ? AND id <= ?", (run_id, up_to))

    def clear_commands(self, run_id: int) -> None:
        self.take_commands(run_id, 2**62)
