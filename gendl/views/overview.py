"""What the Overview page shows: the shipped checkpoints as a table of their scores."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gendl.views.style import course_words, likelihood_text


def score_text(scores: Any) -> str:
    """One readable cell for a manifest entry's scores: a generator's inception score, a
    classifier's test accuracy and the real test set's IS, or ``key value`` pairs otherwise."""
    if not isinstance(scores, dict):
        return ""
    parts = []
    if isinstance(scores.get("test_acc"), (int, float)):
        parts.append(f"test accuracy {100 * scores['test_acc']:.2f}%")
    if isinstance(scores.get("mnist_test_inception_score"), (int, float)):
        parts.append(f"real MNIST inception score {scores['mnist_test_inception_score']:.2f}")
    if isinstance(scores.get("inception_score"), (int, float)):
        spread = scores.get("inception_std")
        text = f"inception score {scores['inception_score']:.2f}"
        text += f" ± {spread:.2f}" if isinstance(spread, (int, float)) else ""
        n = scores.get("n_samples")
        parts.append(text + (f" ({n:,} samples)" if isinstance(n, int) else ""))
    if not parts:
        parts = [f"{k} {v}" for k, v in scores.items() if isinstance(v, (int, float, str))]
    return "; ".join(parts)


def shipped_name(entry: dict[str, Any]) -> str:
    """The entry's name in plain words: the course write-ups it follows said in words, and for a
    VAE the likelihood it actually trains with."""
    name = course_words(entry.get("name") or entry.get("file", "?"))
    train_config = entry.get("train_config")
    if entry.get("kind") == "vae" and isinstance(train_config, dict):
        name += f"; {likelihood_text(train_config).split(' (')[0]} likelihood"
    return name


def shipped_rows(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per manifest entry: name, kind, file, steps and its scores in one cell. Entries may
    lack any key; ``scores`` may be a dict of numbers or absent (an empty cell)."""
    return [
        {
            "name": shipped_name(entry),
            "kind": entry.get("kind", ""),
            "file": entry.get("file", ""),
            "steps": entry.get("steps"),
            "scores": score_text(entry.get("scores")),
        }
        for entry in entries
    ]
