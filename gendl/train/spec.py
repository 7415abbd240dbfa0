"""A training family's form: the config fields a person sets, in the order a form shows them.

Each family declares its :class:`FormSpec` next to its config; the fields are the same
:class:`~gendl.config.Field` objects its validators check with, so a form's ranges are the
validator's. The Train page and ``python -m gendl train MODEL --help`` are drawn from it.

A narrowed copy (a field locked to a value, or a range narrowed) is a new spec; ``check`` refuses a
config that breaks it, naming the field, the value and what is allowed::

    form = FORMS["sequence"].lock("model.hidden_dim", 64).narrow("seq_length", high=30)
    form.check(config)  # ConfigError: seq_length must be in [2, 30], got 40
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from gendl.config import Field, deep_merge
from gendl.errors import ConfigError


def get_path(config: dict[str, Any], path: str) -> Any:
    """``config["model"]["hidden_dim"]`` for ``model.hidden_dim``; KeyError if absent."""
    for part in path.split("."):
        config = config[part]
    return config


def set_path(path: str, value: Any) -> dict[str, Any]:
    """``{"model": {"hidden_dim": 64}}`` for ``("model.hidden_dim", 64)``: a dict to merge."""
    *parents, leaf = path.split(".")
    node: dict[str, Any] = {leaf: value}
    for part in reversed(parents):
        node = {part: node}
    return node


@dataclasses.dataclass(frozen=True)
class FormSpec:
    fields: tuple[Field, ...]

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    def __getitem__(self, path: str) -> Field:
        for field in self.fields:
            if field.path == path:
                return field
        raise ConfigError(f"no field {path}; the fields: {', '.join(f.path for f in self)}")

    def replace(self, path: str, **changes: Any) -> FormSpec:
        new = dataclasses.replace(self[path], **changes)
        return FormSpec(tuple(new if f.path == path else f for f in self.fields))

    def narrow(
        self,
        path: str,
        low: float | None = None,
        high: float | None = None,
        choices: tuple[str, ...] | None = None,
    ) -> FormSpec:
        """A copy whose ``path`` allows only ``[low, high]`` (or only ``choices``), which must lie
        within what it allows now."""
        field = self[path]
        if field.kind == "choice":
            chosen = tuple(choices if choices is not None else field.choices)
            outside = [c for c in chosen if c not in field.choices]
            if not chosen or outside:
                raise ConfigError(
                    f"{path} can be narrowed to some of {', '.join(field.choices)}; "
                    f"got {', '.join(outside) or 'none'}"
                )
            return self.replace(path, choices=chosen)
        low = field.low if low is None else low
        high = field.high if high is None else high
        if not field.low <= low <= high <= field.high:  # type: ignore[operator]
            raise ConfigError(
                f"{path} can be narrowed within [{field.low:g}, {field.high:g}] with low <= high; "
                f"got [{low:g}, {high:g}]"
            )
        if field.kind == "int":
            low, high = int(low), int(high)  # type: ignore[arg-type]
        inclusive = field.low_inclusive or low > field.low  # type: ignore[operator]
        return self.replace(path, low=low, high=high, low_inclusive=inclusive)

    def lock(self, path: str, value: Any) -> FormSpec:
        """A copy whose ``path`` allows ``value`` alone (a form shows it disabled)."""
        field = self[path]
        field.check(value, path)
        if field.kind == "choice":
            return self.replace(path, choices=(value,), locked=True)
        return self.replace(path, low=value, high=value, low_inclusive=True, locked=True)

    def problem(self, path: str, value: Any) -> str | None:
        """Why ``value`` is not allowed at ``path`` (naming field, value and range), or None."""
        try:
            self[path].check(value, path)
        except ConfigError as exc:
            return str(exc)
        return None

    def problems(self, config: dict[str, Any]) -> dict[str, str]:
        """Each field of ``config`` (a config dict) that breaks this spec, with its message."""
        found = {}
        for field in self.fields:
            try:
                value = get_path(config, field.path)
            except (KeyError, TypeError):
                continue  # absent: the config's own defaults and validators apply
            message = self.problem(field.path, value)
            if message is not None:
                found[field.path] = message
        return found

    def check(self, config: dict[str, Any]) -> None:
        """Raise :class:`ConfigError` with the first field of ``config`` this spec refuses."""
        for message in self.problems(config).values():
            raise ConfigError(message)

    def values(self, config: dict[str, Any]) -> dict[str, Any]:
        """The form's fields of ``config`` as one nested dict (what the form would submit)."""
        merged: dict[str, Any] = {}
        for field in self.fields:
            merged = deep_merge(merged, set_path(field.path, get_path(config, field.path)))
        return merged


def describe(form: FormSpec, defaults: dict[str, Any], width: int = 100) -> str:
    """The fields as text for ``--help``: path, label, allowed values, default and help."""
    lines = []
    for field in form:
        default = get_path(defaults, field.path)
        default = "no limit" if default is None else default
        head = f"  {field.path:<22} {field.label}: {field.allowed()}; default {default}"
        lines.append(head + (" (advanced)" if field.advanced else ""))
        if field.help:
            words, line = field.help.split(), " " * 25
            for word in words:
                if len(line) + len(word) + 1 > width:
                    lines.append(line.rstrip())
                    line = " " * 25
                line += word + " "
            lines.append(line.rstrip())
    return "\n".join(lines)
