"""How long a run or a sweep will take, and how far a run is: the Train page's duration estimate,
the RNN vs LSTM page's sweep estimate, the queue's ETAs and a run's progress bar.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gendl.train.timing import start_seconds, step_seconds

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
