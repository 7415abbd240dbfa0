"""What the Train and Runs pages show: duration estimates, progress, live curves, run tables and
config diffs. Plain data in (config dicts, metric rows), Plotly figures or table rows out.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from gendl.engine.classroom import owner_label
from gendl.engine.records import Run
from gendl.engine.records import variant as variant  # re-exported for the run tables' pages
from gendl.train.timing import start_seconds, step_seconds
from gendl.views.style import RUN_COLORS, label, tidy

# Steps per second of one worker (1 torch thread) at each model's reference config
# (gendl.train.timing.REFERENCE) and seconds per periodic evaluation (GAN/VAE with 2000 scoring
# samples), measured on the 2-core development machine while other processes were busy. An estimate
# given a timing cache uses this machine's measured step time instead, and scales the evaluation
# time by the same factor.
STEPS_PER_SECOND = {
    "rnn": 60.0,
    "lstm": 15.6,
    "gan": 11.8,  # MLP GAN and LSGAN (mlp, mlp_bn)
    # convolutional architectures (infogan, dcgan), channels-last weights: 2.8 on an idle machine
    "dcgan": 2.0,
    "vae": 16.6,
    "classifier": 13.6,
}
# steps per second with precision = "bf16" over fp32, 1 thread (CPU with avx512_bf16)
BF16_SPEEDUP = {"gan": 1.6, "dcgan": 1.7, "vae": 1.45}
EVAL_SECONDS = {"rnn": 0.22, "lstm": 0.54, "gan": 1.4, "dcgan": 3.9, "vae": 0.6, "classifier": 6.3}
# a worker process starting (Python, the torch import, the data set) where no timing cache is
# given; with one, this machine's start time is measured once and cached beside its step times
START_SECONDS = 6.0

# per family: metrics on the left axis (losses) and on the right axis (accuracies, scores)
CURVES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "gan": (("d_loss", "g_loss"), ("inception_score",)),
    "vae": (("recon_loss",), ("kl_loss",)),
    "sequence": (("loss",), ("train_acc", "test_acc")),
    "classifier": (("loss",), ("train_acc", "test_acc")),
}
MAX_POINTS = 2000  # per dense curve; longer histories are thinned evenly
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")  # losses first, then the right axis


def speed_key(family: str, config: dict[str, Any]) -> str:
    """Which measured rate applies: the sequence model, the GAN's architecture, or the family."""
    if family == "sequence":
        return config["model"]["model"]
    if family == "gan":
        return "dcgan" if config["model"]["arch"] in ("infogan", "dcgan") else "gan"
    return family


def estimate_seconds(
    family: str, config: dict[str, Any], timing: str | Path | None = None, steps: int | None = None
) -> float:
    """Wall time of a run with ``config`` (a full config dict) in one worker, including its start.

    With ``timing`` (a cache folder, ``gendl.train.timing.cache_dir()``), from this machine's step
    time, measured once and cached there; without, from the development machine's figures above.
    ``steps``: the steps it is expected to take if fewer than its budget (a task solved early).
    A time budget caps the estimate.
    """
    step_s, eval_s = step_costs(family, config, timing)
    start = START_SECONDS if timing is None else start_seconds(timing)
    max_steps, max_seconds = config.get("max_steps"), config.get("max_seconds")
    if max_steps is None:
        return start + max_seconds
    n = max_steps if steps is None else min(steps, max_steps)
    seconds = n * step_s + (n // config["eval_every"] + 1) * eval_s
    return start + (seconds if max_seconds is None else min(seconds, max_seconds))


def step_costs(
    family: str, config: dict[str, Any], timing: str | Path | None = None
) -> tuple[float, float]:
    """Seconds per training step and per evaluation of ``config``.

    Step cost grows with the square root of the batch size (small batches are overhead-bound), with
    sequence length^0.75 and hidden size^0.9 (fitted to lengths 20/40 and sizes 128/256), and with
    the discriminator steps per generator step; bfloat16 products cut it.
    """
    key = speed_key(family, config)
    reference_s = 1 / STEPS_PER_SECOND[key]
    measured_s = reference_s if timing is None else step_seconds(key, timing)
    step_s = (config["batch_size"] / 128) ** 0.5 * measured_s
    if config.get("precision") == "bf16":
        step_s /= BF16_SPEEDUP[key]
    eval_s = EVAL_SECONDS[key] * measured_s / reference_s
    if family == "sequence":
        length = (config["seq_length"] / 20) ** 0.75
        step_s *= length * (config["model"]["hidden_dim"] / 128) ** 0.9
        eval_s *= length
    if family == "gan":
        step_s *= (config["d_steps"] + 1) / 2
    if "n_score_samples" in config:
        eval_s *= 0.2 + 0.8 * config["n_score_samples"] / 2000
    return step_s, eval_s


def sweep_seconds(
    configs: Sequence[dict[str, Any]],
    workers: int,
    timing: str | Path | None = None,
    solved_steps: dict[tuple[str, int], float] | None = None,
) -> float:
    """Wall time of a sweep of sequence runs, ``workers`` at a time, queued in the order given
    (a :class:`~gendl.engine.sweep.Sweep`'s cells: longest sequences first). ``solved_steps``: the mean steps a (model, length)
    cell took in an earlier sweep of the same recipe; a cell that stops once solved takes about as
    many again."""
    free = [0.0] * max(1, workers)  # when each worker is next free
    for config in configs:
        steps = None
        if config.get("solved_acc") is not None and solved_steps:
            steps = expected_steps(solved_steps, config["model"]["model"], config["seq_length"])
        seconds = estimate_seconds("sequence", config, timing, steps)
        heapq.heapreplace(free, free[0] + seconds)  # the next cell goes to the first free worker
    return max(free)


def expected_steps(
    solved_steps: dict[tuple[str, int], float], model: str, length: int
) -> int | None:
    """Steps to solve ``length``, linear between the nearest lengths measured for ``model`` (the
    nearest one's beyond them); None if none was."""
    known = sorted((n, steps) for (m, n), steps in solved_steps.items() if m == model)
    if not known:
        return None
    below = [k for k in known if k[0] <= length] or known[:1]
    above = [k for k in known if k[0] >= length] or known[-1:]
    (n0, s0), (n1, s1) = below[-1], above[0]
    weight = 0.0 if n1 == n0 else (length - n0) / (n1 - n0)
    return round(s0 + weight * (s1 - s0))


def solved_steps(result: dict[str, Any] | None) -> dict[tuple[str, int], float]:
    """(model, length) -> mean steps taken, from a sweep result (``load_sweep_result``)."""
    rows = result["results"] if result else []
    return {
        (row["model"], row["length"]): row["steps_mean"]
        for row in rows
        if isinstance(row.get("steps_mean"), (int, float))  # an older file may lack it
    }


def format_duration(seconds: float | None) -> str:
    """``"45 s"``, ``"3 min 20 s"``, ``"1 h 05 min"``; ``"-"`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def progress(
    step: int, elapsed_s: float, max_steps: int | None, max_seconds: float | None
) -> tuple[float, float | None]:
    """Fraction of the budget used (the larger of steps and time) and the seconds left at the pace
    so far (None before the first step)."""
    fractions = []
    if max_steps:
        fractions.append(step / max_steps)
    if max_seconds:
        fractions.append(elapsed_s / max_seconds)
    fraction = min(1.0, max(fractions, default=0.0))
    if fraction <= 0 or elapsed_s <= 0:
        return fraction, None
    return fraction, elapsed_s * (1 - fraction) / fraction


# ---------------------------------------------------------------- curves


def series(
    rows: Sequence[dict[str, Any]], key: str, max_points: int = MAX_POINTS
) -> tuple[list[int], list[float]]:
    """``(steps, values)`` of rows holding a number under ``key``, thinned to ``max_points``."""
    points = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
    if len(points) > max_points:
        stride = math.ceil(len(points) / max_points)
        points = points[::stride] + ([points[-1]] if (len(points) - 1) % stride else [])
    return [p[0] for p in points], [p[1] for p in points]


def run_device(rows: Iterable[dict[str, Any]]) -> str | None:
    """Where a run trained: the device its latest worker recorded (a resumed run may move)."""
    devices = [row["device"] for row in rows if isinstance(row.get("device"), str)]
    return devices[-1] if devices else None


def numeric_keys(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Metric names with number values (not ``step`` or ``elapsed_s``), in first-seen order."""
    keys: dict[str, None] = {}
    for row in rows:
        for key, value in row.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                keys.setdefault(key)
    return [k for k in keys if k not in ("step", "elapsed_s")]


def curves_figure(family: str, rows: Sequence[dict[str, Any]], revision: Any = None) -> go.Figure:
    """The family's live curves: losses on the left axis, accuracies or scores on the right one.

    Sparse metrics (test accuracy, inception score: only at evaluations) are drawn with markers.
    ``revision`` keeps the user's zoom while new rows arrive (Plotly's ``uirevision``).
    """
    left, right = CURVES[family]
    fig = go.Figure()
    for axis, keys in (("y", left), ("y2", right)):
        for key in keys:
            color = COLORS[(left + right).index(key)]
            steps, values = series(rows, key)
            if not steps:
                continue  # not logged by this run (no inception score without the classifier)
            sparse = len(steps) < 0.5 * len(rows)
            fig.add_trace(
                go.Scatter(
                    x=steps,
                    y=values,
                    name=label(key),
                    yaxis=axis,
                    mode="lines+markers" if sparse else "lines",
                    line={"color": color, "dash": "dot" if axis == "y2" else "solid"},
                )
            )
    fig.update_layout(
        xaxis_title="training step",
        yaxis={"title": " / ".join(map(label, left))},
        yaxis2={
            "title": " / ".join(map(label, right)),
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
        },
        uirevision=revision,
    )
    return tidy(fig, height=320)


def overlay_figure(curves: dict[str, Sequence[dict[str, Any]]], metric: str) -> go.Figure:
    """One line per run (name -> rows) of ``metric`` against step, each run its own colour."""
    fig = go.Figure()
    for k, (name, rows) in enumerate(curves.items()):
        steps, values = series(rows, metric)
        color = RUN_COLORS[k % len(RUN_COLORS)]
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=values,
                name=name,
                mode="lines+markers" if len(steps) < 30 else "lines",
                line={"color": color},
            )
        )
    fig.update_layout(xaxis_title="training step", yaxis_title=label(metric))
    return tidy(fig, height=340)


# ---------------------------------------------------------------- run tables


def run_row(run: Run, viewer: str | None, names: dict[str, str] | None = None) -> dict[str, Any]:
    """One line of a runs table as ``viewer`` sees it: ``owner`` in words (a student's name from
    ``names``, "teacher", "command line", "you"), ``control`` whether ``viewer`` may control it."""
    return {
        "id": run.id,
        "name": run.name or "",
        "family": run.family,
        "variant": variant(run.family, run.config),
        "state": run.state,
        "step": run.step,
        "created": dt.datetime.fromtimestamp(run.created).strftime("%Y-%m-%d %H:%M:%S"),
        "owner": owner_words(run, viewer, names or {}),
        "control": run.controllable_by(viewer),
        "where": run.where,
        "reason": run.reason or "",
    }


def owner_words(run: Run, viewer: str | None, names: dict[str, str]) -> str:
    """Whose run it is, for ``viewer``: "you", a student's name, "teacher", "command line", or
    "a session"; a shared run says so."""
    mine = viewer is not None and run.owner == viewer and not run.owned_by_cli
    words = "you" if mine else owner_label(run.owner, names)
    return words + (" (shared)" if run.shared else "")


def run_place(run: Run, rows: Sequence[dict[str, Any]]) -> str:
    """Where a run trains: the machine (this one, or a Dask worker's address) and, once its
    first row is in, the device, ``this machine, cpu (AMD EPYC 7B13, 1 thread)``."""
    device = next((row["device"] for row in rows if "device" in row), None)
    return run.where + (f", {device}" if device else "")


def filter_runs(
    runs: Iterable[Run], families: Sequence[str] = (), states: Sequence[str] = ()
) -> list[Run]:
    """Runs of any of ``families`` and any of ``states`` (an empty selection keeps all)."""
    return [
        run
        for run in runs
        if (not families or run.family in families) and (not states or run.state in states)
    ]


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config dicts as dotted keys: ``{"model": {"arch": "mlp"}}`` -> ``model.arch``."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_diff(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Fields whose values differ (or exist in only one config), as ``{field, a, b}`` rows;
    values are shown as text so one column can hold numbers, strings and lists."""
    flat_a, flat_b = flatten(a), flatten(b)
    missing = "(absent)"
    return [
        {"field": key, "a": str(flat_a.get(key, missing)), "b": str(flat_b.get(key, missing))}
        for key in sorted(flat_a.keys() | flat_b.keys())
        if flat_a.get(key, missing) != flat_b.get(key, missing)
    ]
