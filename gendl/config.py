"""Validation helpers used by every config dataclass's ``__post_init__``.

Each check raises :class:`ConfigError` naming the field, the bad value and what is allowed; nothing is
clamped silently.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from collections.abc import Iterable
from typing import Any, TypeVar

from gendl.errors import ConfigError

C = TypeVar("C")


def check_int(name: str, value: Any, low: int, high: int) -> None:
    """``value`` must be an int (not a bool) with ``low <= value <= high``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{name} must be in [{low}, {high}], got {value}")


def check_float(
    name: str, value: Any, low: float, high: float, *, low_inclusive: bool = True
) -> None:
    """``value`` must be a finite real number in ``[low, high]`` (``(low, high]`` if not inclusive)."""
    bracket = "[" if low_inclusive else "("
    allowed = f"{bracket}{low:g}, {high:g}]"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a number in {allowed}, got {value!r}")
    too_low = value < low if low_inclusive else value <= low
    if too_low or value > high:
        raise ConfigError(f"{name} must be in {allowed}, got {value:g}")


def check_choice(name: str, value: Any, choices: Iterable[str]) -> None:
    """``value`` must be one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def check_int_tuple(name: str, value: Any, low: int, high: int, max_len: int = 8) -> None:
    """``value`` must be a non-empty tuple of ints, each in ``[low, high]``."""
    if not isinstance(value, tuple) or not 1 <= len(value) <= max_len:
        raise ConfigError(f"{name} must be a tuple of 1 to {max_len} integers, got {value!r}")
    for i, item in enumerate(value):
        check_int(f"{name}[{i}]", item, low, high)


def config_from_dict(cls: type[C], data: Any) -> C:
    """Rebuild a frozen config dataclass from ``asdict`` output (lists back to tuples).

    Unknown or missing keys raise :class:`ConfigError`, so a file written by another version is
    reported instead of half-loaded.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} needs a dict, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{cls.__name__} has no field(s) {', '.join(unknown)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        if dataclasses.is_dataclass(hints[key]) and isinstance(value, dict):
            value = config_from_dict(hints[key], value)  # a nested config, e.g. the model's
        kwargs[key] = tuple(value) if isinstance(value, list) else value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{cls.__name__}: {exc}") from exc


def config_to_dict(config: Any) -> dict[str, Any]:
    """``asdict`` with tuples as lists: what JSON and checkpoints store."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` applied; nested dicts merge key by key instead of replacing."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            value = deep_merge(merged[key], value)
        merged[key] = value
    return merged
