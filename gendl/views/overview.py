"""What the Overview page shows: the shipped checkpoints as a table of their scores."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def shipped_rows(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per manifest entry: name, kind and file, then each score as its own column.

    Entries may lack any key; ``scores`` may be a dict of numbers or absent. Score columns follow
    the order in which they first appear, and an entry without a score leaves the cell empty.
    """
    rows = []
    for entry in entries:
        row = {
            "name": entry.get("name") or entry.get("file", "?"),
            "kind": entry.get("kind", ""),
            "file": entry.get("file", ""),
        }
        scores = entry.get("scores")
        if isinstance(scores, dict):
            row.update({k: v for k, v in scores.items() if isinstance(v, (int, float, str))})
        rows.append(row)
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return [{key: row.get(key) for key in columns} for row in rows]
