"""Where a run trains: the ``device`` field every training config carries, in one place.

``auto`` (the default) is the first CUDA GPU when torch sees one, else the CPU; ``cpu``, ``cuda`` and
``cuda:N`` name a device. A config that names a GPU the machine does not have is refused when it is
built (:func:`check_device`), with a message instead of a CUDA traceback mid-run. Checkpoints never
hold device tensors (``gendl.checkpoints`` saves CPU copies), so a run moves freely between machines.
"""

from __future__ import annotations

import os
import platform
import re
from functools import cache
from typing import Any

import torch

from gendl.config import check_choice
from gendl.errors import ConfigError

DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:[0-9]{1,2})?")
GPU_RUNS_ENV = "GENDL_GPU_RUNS"  # runs trained at once on each GPU
DEFAULT_GPU_RUNS = 4


def device_choices() -> tuple[str, ...]:
    """What a form offers on this machine: auto, cpu and each GPU torch sees (cuda:0, ...)."""
    if not torch.cuda.is_available():
        return ("auto", "cpu")
    return ("auto", "cpu", *(f"cuda:{i}" for i in range(torch.cuda.device_count())))


def check_device(value: object, name: str = "device") -> None:
    """``value`` must be auto, cpu, cuda or cuda:N, and a named GPU must exist on this machine."""
    if not isinstance(value, str) or not DEVICE_PATTERN.fullmatch(value):
        check_choice(name, value, device_choices())  # the form's words: what it offers here
    if not value.startswith("cuda"):
        return  # "auto" never touches CUDA here: a CPU-only server stays free of it
    if not torch.cuda.is_available():
        built = "with" if torch.version.cuda else "without"
        raise ConfigError(
            f"{name} {value!r}: CUDA is not available on this machine (torch {torch.__version__} "
            f"built {built} CUDA, no GPU visible); use device 'auto' or 'cpu'"
        )
    index = int(value.partition(":")[2] or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise ConfigError(
            f"{name} {value!r}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
        )


def resolve_device(value: str = "auto") -> torch.device:
    """The torch device a config's ``device`` names (``auto``: CUDA if available, else CPU)."""
    check_device(value)
    if value == "auto":
        value = "cuda" if torch.cuda.is_available() else "cpu"
    if value == "cuda":
        value = f"cuda:{torch.cuda.current_device()}"
    return torch.device(value)


def prepare_device(device: torch.device) -> None:
    """Per-process settings for fast training on a GPU: TF32 matrix products (float32 weights,
    10-bit mantissa products, as cuDNN's own default for convolutions) and cuDNN autotuning."""
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.set_float32_matmul_precision("high")
        torch.backends.cudnn.benchmark = True


def device_name(device: torch.device | str) -> str:
    """What a run records about where it trained: ``cuda:0 (NVIDIA H200)`` or ``cpu (x86_64, 1
    thread)``."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    threads = torch.get_num_threads()
    return f"cpu ({_cpu_model()}, {threads} thread{'s' if threads != 1 else ''})"


@cache
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine() or "unknown"


def gpu_runs() -> int:
    """How many runs the engine trains at once on each GPU (``$GENDL_GPU_RUNS``, default 4): small
    MNIST models leave most of a GPU idle, so a class shares one."""
    text = os.environ.get(GPU_RUNS_ENV, str(DEFAULT_GPU_RUNS))
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise ConfigError(f"{GPU_RUNS_ENV} must be an integer in [1, 256], got {text!r}")
    return int(text)


def to_cpu(obj: Any) -> Any:
    """``obj`` (tensors in nested dicts, lists, tuples) with every tensor on the CPU: what a
    checkpoint holds, so a file written on a GPU loads anywhere."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {key: to_cpu(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(value) for value in obj)
    return obj


def run_bound(cpu_runs: int) -> int:
    """How many runs an engine trains at once: ``cpu_runs`` on a CPU-only machine; with GPUs,
    :func:`gpu_runs` per GPU (runs on ``auto`` train there), and never fewer than ``cpu_runs``."""
    if not torch.cuda.is_available():
        return cpu_runs
    return max(cpu_runs, gpu_runs() * torch.cuda.device_count())
