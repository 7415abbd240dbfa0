"""Class mode: one server for a whole class, with a teacher in charge.

    python -m gendl class --address 0.0.0.0 --port 8501     # prints the student and teacher links

The teacher's settings (models allowed today, fields locked or narrowed per model, the students'
quota, a per-run budget cap, the spotlighted run) and the students' display names live in the run
store, so a server restart keeps them. :func:`admit` is the one gate every new run passes
(``RunEngine.start``): whatever page or client sends a request, a student's run that breaks the
class's rules is refused with a message naming the rule. The queue's fairness is
:mod:`gendl.engine.queue`; who may control a run is :meth:`Run.controllable_by`.
"""

from __future__ import annotations

import dataclasses
import hmac
import os
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gendl.engine.queue import Quota
from gendl.engine.records import CLI_OWNER, TEACHER, model_name
from gendl.engine.store import ACTIVE_STATES, Run, RunStore
from gendl.errors import GendlError

CLASS_ENV = "GENDL_CLASS"  # "1": the dashboard serves a class
TOKEN_ENV = "GENDL_TEACHER_TOKEN"  # the teacher link's secret (random when unset)
SETTINGS_KEY = "class"
NAME_MAX = 32
RESERVED_NAMES = (TEACHER, CLI_OWNER)
QUEUE_BOUND = 500  # runs waiting for a worker in the whole store, in every mode
OWNER_QUEUE_BOUND = 250  # runs one owner may have waiting outside class mode (a full sweep: 240)


class ClassError(GendlError):
    """A request the class's rules refuse: over quota, past the queue bound, a locked field, a
    model not allowed today, no display name yet, a wrong teacher secret."""


@dataclass(frozen=True)
class ClassSettings:
    """What the teacher decides. ``models``: preset names allowed (empty: all); ``locks``: per
    preset, field path -> the one value allowed; ``ranges``: per preset, field path -> ``[low,
    high]`` or a list of choices; ``max_steps``/``max_seconds``: the per-run budget cap (None: no
    cap); ``spotlight``: the run shown large on the board."""

    models: tuple[str, ...] = ()
    locks: dict[str, dict[str, Any]] = field(default_factory=dict)
    ranges: dict[str, dict[str, Any]] = field(default_factory=dict)
    quota_running: int = 1
    quota_queued: int = 2
    max_steps: int | None = None
    max_seconds: float | None = None
    spotlight: int | None = None

    def replace(self, **changes: Any) -> ClassSettings:
        return dataclasses.replace(self, **changes)


def class_mode() -> bool:
    """Whether this server serves a class (``python -m gendl class`` sets GENDL_CLASS=1)."""
    return os.environ.get(CLASS_ENV) == "1"


# ---------------------------------------------------------------- settings


def load_settings(store: RunStore) -> ClassSettings:
    stored = store.setting(SETTINGS_KEY, {})
    known = {f.name for f in dataclasses.fields(ClassSettings)}
    values = {k: v for k, v in stored.items() if k in known}
    if "models" in values:
        values["models"] = tuple(values["models"])
    return ClassSettings(**values)


def save_settings(store: RunStore, settings: ClassSettings) -> ClassSettings:
    """Check ``settings`` (every lock and range against its model's form) and store them."""
    from gendl.config import check_int
    from gendl.train import PRESETS  # torch: the teacher page and the CLI only

    unknown = [m for m in (*settings.models, *settings.locks, *settings.ranges) if m not in PRESETS]
    if unknown:
        raise ClassError(f"no model {unknown[0]!r}; the models: {', '.join(PRESETS)}")
    check_int("quota_running", settings.quota_running, 1, 10)
    check_int("quota_queued", settings.quota_queued, 0, 20)
    for preset in PRESETS:
        class_form(preset, settings)  # raises ConfigError naming a bad lock or range
    store.put_setting(SETTINGS_KEY, dataclasses.asdict(settings))
    return settings


def class_form(preset: str, settings: ClassSettings) -> Any:
    """The form spec of ``preset`` with the class's locks, ranges and budget cap applied: what a
    student's form shows and what :func:`admit` checks a student's config against."""
    from gendl.train import FAMILIES, PRESETS

    form = base = FAMILIES[PRESETS[preset][0]].form
    for path, allowed in settings.ranges.get(preset, {}).items():
        if form[path].kind == "choice":
            form = form.narrow(path, choices=tuple(allowed))
        else:
            form = form.narrow(path, low=allowed[0], high=allowed[1])
    for path, value in settings.locks.get(preset, {}).items():
        form = form.lock(path, value)
    for path in ("max_steps", "max_seconds"):
        cap = getattr(settings, path)
        if cap is None:
            continue
        base[path].check(cap, path)  # a cap of 0 s or 2.5 steps would refuse every run
        if not form[path].locked:
            high = min(cap, form[path].high)
            form = form.narrow(path, high=high).replace(path, optional=False)
    return form


# ---------------------------------------------------------------- students


def check_name(name: Any) -> str:
    """A display name as it will be stored: 1-32 printable characters, spaces at the ends removed."""
    if not isinstance(name, str):
        raise ClassError("a display name must be text")
    name = name.strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise ClassError(f"a display name has 1 to {NAME_MAX} characters; got {len(name)}")
    if not name.isprintable():
        raise ClassError("a display name must be printable characters only (no tabs or newlines)")
    if name.casefold() in RESERVED_NAMES:
        raise ClassError(f"{name!r} is reserved; choose another name")
    return name


def join(store: RunStore, owner: str, name: str) -> str:
    """Give browser ``owner`` the display ``name`` (unique in the class, ignoring case); a second
    call renames. Returns the name as stored."""
    name = check_name(name)
    with store._write() as conn:
        others = conn.execute("SELECT name FROM students WHERE owner != ?", (owner,))
        # casefold here: SQLite's NOCASE folds ASCII letters only, so Zoë and ZOË would both pass
        if any(other.casefold() == name.casefold() for (other,) in others):
            raise ClassError(f"the name {name!r} is taken in this class; choose another")
        conn.execute(
            "INSERT INTO students (owner, name, joined) VALUES (?, ?, ?) "
            "ON CONFLICT (owner) DO UPDATE SET name = excluded.name",
            (owner, name, time.time()),
        )
    return name


def students(store: RunStore) -> dict[str, str]:
    """Display name per owner, in the order they joined."""
    rows = store._read("SELECT owner, name FROM students ORDER BY joined")
    return {row[0]: row[1] for row in rows}


def forget_students(store: RunStore) -> None:
    """Empty the class list (the end of a class): every browser joins again with a name."""
    with store._write() as conn:
        conn.execute("DELETE FROM students")


def class_runs(runs: Iterable[Run], names: dict[str, str]) -> list[Run]:
    """The class's runs: those of a joined student (``names``: owner -> name) or of the teacher."""
    return [run for run in runs if run.owner == TEACHER or run.owner in names]


def owner_label(owner: str | None, names: dict[str, str]) -> str:
    """Who a run belongs to, in words: a student's name, "teacher", "command line" or "a session"."""
    if owner in (None, CLI_OWNER):
        return "command line"
    if owner == TEACHER:
        return "teacher"
    return names.get(owner, "a session")


# ---------------------------------------------------------------- the teacher's secret


def teacher_token() -> str:
    """The teacher link's secret: ``$GENDL_TEACHER_TOKEN``, else a new random one set there (the
    server's pages read it from the environment ``python -m gendl class`` gives them)."""
    token = os.environ.get(TOKEN_ENV)
    if not token:
        token = os.environ[TOKEN_ENV] = secrets.token_urlsafe(18)
    return token


def check_teacher(given: Any) -> None:
    """Raise ClassError unless ``given`` is the teacher secret (compared in constant time)."""
    expected = os.environ.get(TOKEN_ENV, "")
    if not expected:
        raise ClassError("this server has no teacher secret: start it with python -m gendl class")
    if not isinstance(given, str) or not given:
        raise ClassError("the teacher page needs the teacher link (it carries the secret)")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ClassError("wrong teacher secret: use the teacher link the server printed")


# ---------------------------------------------------------------- admission


def admit(
    store: RunStore, owner: str | None, family: str, config: dict[str, Any], n_runs: int = 1
) -> None:
    """Refuse (ClassError, naming the rule) ``n_runs`` new runs of ``config`` for ``owner`` if
    they would pass the queue bound, the owner's quota, or, for a student in class mode, the
    class's models, locks, ranges and budget cap."""
    queued, _, _ = store.queue_state()
    if len(queued) + n_runs > QUEUE_BOUND:
        raise ClassError(
            f"queue bound: {len(queued)} runs are waiting for a worker and the server takes at "
            f"most {QUEUE_BOUND}; try again when some have started"
        )
    mine = sum(1 for _, who in queued if who == owner)
    if not class_mode() or owner in (None, TEACHER):
        if owner is not None and mine + n_runs > OWNER_QUEUE_BOUND:
            raise ClassError(
                f"queue quota: you have {mine} runs waiting and a session may have at most "
                f"{OWNER_QUEUE_BOUND}; stop some or wait for them to start"
            )
        return
    names = students(store)
    if owner not in names:
        raise ClassError("join the class first: type your display name on the Class board page")
    settings = load_settings(store)
    preset = preset_of(family, config)
    if settings.models and preset not in settings.models:
        raise ClassError(
            f"model not allowed today: {preset}; the teacher allows {', '.join(settings.models)}"
        )
    problems = class_form(preset, settings).problems(config)
    if problems:
        raise ClassError("class settings: " + "; ".join(problems.values()))
    active = len(store.list_runs(ACTIVE_STATES, owner=owner))
    allowed = settings.quota_running + settings.quota_queued
    if active + n_runs > allowed:
        raise ClassError(
            f"quota: you have {active} runs queued or running and the class allows "
            f"{settings.quota_running} running + {settings.quota_queued} queued; stop one or "
            "wait for one to finish"
        )


def preset_of(family: str, config: dict[str, Any]) -> str:
    """The preset a config trains (its model decides: a GAN config with the DCGAN architecture is
    ``dcgan`` whatever name it was sent with)."""
    from gendl.config import config_to_dict
    from gendl.train import PRESETS, build_config

    presets = [p for p, (preset_family, _) in PRESETS.items() if preset_family == family]
    if len(presets) == 1:  # the classifier: one preset whatever its arch
        return presets[0]
    for preset, (preset_family, values) in PRESETS.items():
        if preset_family == family:
            preset_config = config_to_dict(build_config(family, values))
            if model_name(family, preset_config) == model_name(family, config):
                return preset
    raise ClassError(f"no preset trains {model_name(family, config)}")


def running_quota(store: RunStore) -> Quota:
    """Each owner's running quota for the fair queue: in class mode a student's (the settings are
    read when a student's run is first considered, not on every poll of an idle queue), else none."""
    if not class_mode():
        return lambda owner: None
    limit: list[int] = []

    def quota(owner: str | None) -> int | None:
        if owner in (None, CLI_OWNER, TEACHER):
            return None
        if not limit:
            limit.append(load_settings(store).quota_running)
        return limit[0]

    return quota
