"""How long one training step takes on this machine: measured once per model kind and cached.

A run's duration estimate (``gendl.views.estimates.estimate_seconds``) scales these from the
reference config to the run's own. The measurement runs the family's trainer as a worker does (one
torch thread, denormals flushed) on the tiny fake data set for about a second; the result is kept in
``step_times.json`` in the machine's cache folder (``$GENDL_CACHE_DIR``, else ``~/.cache/gendl``),
keyed by the machine (CPU model, torch version).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from gendl.errors import ConfigError

# the config each kind is timed at: its preset with batch 128 (sequences of length 20, 128 units)
REFERENCE: dict[str, tuple[str, dict[str, Any]]] = {
    "rnn": ("sequence", {"model": {"model": "rnn"}}),
    "lstm": ("sequence", {"model": {"model": "lstm"}}),
    "gan": ("gan", {"model": {"arch": "mlp_bn"}, "data": "fake"}),
    "dcgan": ("gan", {"model": {"arch": "infogan"}, "data": "fake"}),
    "vae": ("vae", {"data": "fake"}),
    "classifier": ("classifier", {"data": "fake"}),
}
FILE_NAME = "step_times.json"
START_KEY = "worker_start"  # beside the step times: seconds for a worker process to start
WARMUP_STEPS = 3  # first steps allocate buffers and pick kernels
MEASURE_S = 1.0
_lock = threading.Lock()  # one measurement at a time: two would slow each other down
_parsed: dict[Path, tuple[int, dict[str, Any]]] = {}  # path -> (mtime, content) last read


def cache_dir() -> Path:
    """Where this machine's step times are kept."""
    return Path(os.environ.get("GENDL_CACHE_DIR") or Path.home() / ".cache" / "gendl")


def machine() -> str:
    """What the measurement depends on: the CPU model and the torch version."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu} | {os.cpu_count()} cpus | torch {torch.__version__}"


def measure_step_seconds(kind: str, seconds: float = MEASURE_S) -> float:
    """Seconds per training step of ``kind`` at its reference config, as a worker runs it."""
    from gendl.train import make_trainer  # the trainers import this package's siblings

    if kind not in REFERENCE:
        raise ConfigError(f"kind must be one of {', '.join(REFERENCE)}; got {kind!r}")
    family, overrides = REFERENCE[kind]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the engine's workers train
    torch.set_flush_denormal(True)
    try:
        trainer = make_trainer(family, {**overrides, "max_steps": 1_000_000})
        for _ in range(WARMUP_STEPS):
            trainer.step()
        start, n = time.perf_counter(), 0
        while n < 3 or time.perf_counter() - start < seconds:
            trainer.step()
            n += 1
        return (time.perf_counter() - start) / n
    finally:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(False)


def measure_start_seconds() -> float:
    """Seconds a worker process takes to start: an interpreter importing the training stack."""
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    begin = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import gendl.engine.worker"],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - begin


def step_seconds(kind: str, cache: str | Path | None = None) -> float:
    """This machine's seconds per step of ``kind``, from ``step_times.json`` in ``cache`` (default
    :func:`cache_dir`) or measured now (a few seconds) and written there."""
    return _cached(kind, lambda: measure_step_seconds(kind), cache)


def start_seconds(cache: str | Path | None = None) -> float:
    """This machine's worker start time, cached like the step times."""
    return _cached(START_KEY, measure_start_seconds, cache)


def _cached(key: str, measure: Callable[[], float], cache: str | Path | None) -> float:
    path = Path(cache or cache_dir()) / FILE_NAME
    with _lock:
        cached = _read(path)
        entry = cached.get(machine(), {})
        if key not in entry:
            entry[key] = measure()
            cached[machine()] = entry
            _write(path, cached)
        return float(entry[key])


def _read(path: Path) -> dict[str, Any]:
    """The cache file's content, parsed again only when the file changed (a class server asks
    for estimates many times a second)."""
    try:
        stamp = path.stat().st_mtime_ns
        if _parsed.get(path, (None,))[0] == stamp:
            return json.loads(json.dumps(_parsed[path][1]))  # a copy: callers may change it
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # absent or half-written: measure again
    data = data if isinstance(data, dict) else {}
    _parsed[path] = (stamp, data)
    return json.loads(json.dumps(data))


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)  # another process never reads half a file
