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
        raise ConfigError(f"{name} must be an integer in [{low}, {high}], got {_short(value)}")
    if not low <= value <= high:
        raise ConfigError(f"{name} must be in [{low}, {high}], got {_short(value)}")


def check_float(
    name: str, value: Any, low: float, high: float, *, low_inclusive: bool = True
) -> None:
    """``value`` must be a finite real number in ``[low, high]`` (``(low, high]`` if not inclusive)."""
    bracket = "[" if low_inclusive else "("
    allowed = f"{bracket}{low:g}, {high:g}]"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
        raise ConfigError(f"{name} must be a number in {allowed}, got {_short(value)}")
    too_low = value < low if low_inclusive else value <= low
    if too_low or value > high:
        raise ConfigError(f"{name} must be in {allowed}, got {value:g}")


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _short(value: Any, limit: int = 80) -> str:
    """``repr`` cut to ``limit`` characters: a message stays one line for any input."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _key(key: Any) -> str:
    """A dict key for a message: as typed if it is a name, else quoted (newlines, odd types)."""
    return key if isinstance(key, str) and key.isidentifier() else _short(key, 40)


def check_config(name: str, value: Any, cls: type) -> None:
    """``value`` must be a ``cls`` instance (a nested config such as the model's)."""
    if not isinstance(value, cls):
        raise ConfigError(
            f"{name} must be a {cls.__name__} (a dict of its fields), got {_short(value)}"
        )


def check_choice(name: str, value: Any, choices: Iterable[str]) -> None:
    """``value`` must be one of ``choices``."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {_short(value)}")


def check_int_tuple(name: str, value: Any, low: int, high: int, max_len: int = 8) -> None:
    """``value`` must be a non-empty tuple of ints, each in ``[low, high]``."""
    if not isinstance(value, tuple) or not 1 <= len(value) <= max_len:
        raise ConfigError(f"{name} must be a list of 1 to {max_len} integers, got {_short(value)}")
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
    unknown = sorted(_key(key) for key in data if key not in fields)
    if unknown:
        raise ConfigError(
            f"{cls.__name__} has no field(s) {', '.join(unknown)}; its fields: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        if dataclasses.is_dataclass(hints[key]):
            if not isinstance(value, (dict, hints[key])):
                raise ConfigError(
                    f"{key} must be a dict of {hints[key].__name__} fields, got {_short(value)}"
                )
            if isinstance(value, dict):
                value = _nested(key, hints[key], value)  # a nested config, e.g. the model's
        kwargs[key] = tuple(value) if isinstance(value, list) else value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{cls.__name__}: {exc}") from exc


def _nested(key: str, cls: type, data: dict[str, Any]) -> Any:
    """``config_from_dict`` for a nested config; its errors name the field as ``key.field``."""
    try:
        return config_from_dict(cls, data)
    except ConfigError as exc:
        first = str(exc).split(" ", 1)[0]
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        message = f"{key}.{exc}" if first.split("[")[0] in names else f"{key}: {exc}"
        raise ConfigError(message) from None


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


@dataclasses.dataclass(frozen=True)
class Field:
    """One config field as a form shows it and a validator checks it: the single place its range
    lives. ``path`` is where it sits in a config dict (``model.hidden_dim``); a validator checks the
    value under the last part of the path, so a nested config's message reads ``model.hidden_dim``.

    ``kind`` is ``int``, ``float`` or ``choice``; ``optional`` fields accept None (the form shows 0
    for it: "no limit"); ``log`` marks a rate shown in scientific notation; ``advanced`` fields are
    hidden in presenter mode; ``slider`` asks a form for a slider instead of a typed number."""

    path: str
    label: str
    kind: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""
    low_inclusive: bool = True
    optional: bool = False
    log: bool = False
    advanced: bool = False
    slider: bool = False
    locked: bool = False

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    def under(self, parent: str) -> Field:
        """This field as it sits in a parent config: ``hidden_dim`` -> ``model.hidden_dim``."""
        return dataclasses.replace(self, path=f"{parent}.{self.path}")

    def check(self, value: Any, name: str | None = None) -> None:
        """Raise :class:`ConfigError` naming the field, ``value`` and the allowed range."""
        name = name or self.name
        if value is None and self.optional:
            return
        if self.kind == "choice":
            check_choice(name, value, self.choices)
        elif self.kind == "int":
            check_int(name, value, int(self.low), int(self.high))  # type: ignore[arg-type]
        else:
            low, high = float(self.low), float(self.high)  # type: ignore[arg-type]
            check_float(name, value, low, high, low_inclusive=self.low_inclusive)

    def allowed(self) -> str:
        """The allowed values in words: ``1 to 2048``, ``one of adam, rmsprop``, ``fixed at 64``."""
        if self.locked:
            return f"fixed at {self.choices[0] if self.kind == 'choice' else _number(self.low)}"
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.low_inclusive:
            text = f"{_number(self.low)} to {_number(self.high)}"
        else:
            text = f"above {_number(self.low)} up to {_number(self.high)}"
        return text + (", or no limit" if self.optional else "")


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else f"{value:,}".replace(",", "")
