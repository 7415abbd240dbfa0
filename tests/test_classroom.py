"""Class mode's rules: display names, the teacher's secret, the settings the teacher stores, and the
one admission gate every new run passes (quotas, the queue bound, the class's locks), through a real
engine; last, a class's runs taking turns on real workers."""

import os
import string
import threading

import pytest

from gendl.config import config_to_dict
from gendl.engine import classroom
from gendl.engine.classroom import (
    CLASS_ENV,
    TOKEN_ENV,
    ClassError,
    ClassSettings,
    check_name,
    check_teacher,
    class_form,
    join,
    load_settings,
    save_settings,
    students,
    teacher_token,
)
from gendl.engine.records import TEACHER
from gendl.engine.runs import RunEngine
from gendl.engine.store import RunStore, process_started
from gendl.engine.sweep import Sweep
from gendl.errors import ConfigError
from gendl.train import FAMILIES, build_config

ANN, BOB, CY = "a" * 32, "b" * 32, "c" * 32  # browser sessions
# a live process other than this one, standing for another engine that queued rows
PARENT = (os.getppid(), process_started(os.getppid()))
FAST = {"threads_per_worker": 1, "flush_every": 0.2, "checkpoint_every": 0.5}
TINY = {"data": "fake", "max_steps": 20, "eval_every": 10, "batch_size": 16}


def config(family="classifier", **overrides):
    return config_to_dict(build_config(family, {**TINY, **overrides}))


def rows(store, owner, n, state="queued"):
    """``n`` runs of ``owner`` that no engine of this test will start: queued ones are held by
    another live process, running ones by this process as their worker."""
    ids = [store.create_run("classifier", config(), owner=owner, state=state) for _ in range(n)]
    if state == "queued":
        for run_id in ids:
            store.update_run(run_id, engine_pid=PARENT[0], engine_started=PARENT[1])
    return ids


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path)


@pytest.fixture
def in_class(monkeypatch, store):
    """Class mode with ann and bob joined (cy has not)."""
    monkeypatch.setenv(CLASS_ENV, "1")
    join(store, ANN, "Ann")
    join(store, BOB, "Bob")
    return store


def engine_on(store, max_workers=1):
    return RunEngine(store.root, max_workers=max_workers, **FAST)


# ------------------------------------------------------------------------ names


@pytest.mark.parametrize(
    "given, stored",
    [("Ann", "Ann"), ("  Ann Lee \u00a0 ", "Ann Lee"), ("x" * 32, "x" * 32), ("Zoë", "Zoë"),
     ("李雷", "李雷"), ("Ünal-Ø", "Ünal-Ø"), ("<b>Bo</b>", "<b>Bo</b>"), ("'; DROP--", "'; DROP--")],
)  # fmt: skip
def test_a_name_is_1_to_32_printable_characters_after_stripping(given, stored):
    assert check_name(given) == stored


@pytest.mark.parametrize(
    "given, words",
    [("", "1 to 32"), ("   ", "1 to 32"), ("x" * 33, "1 to 32"), ("a\tb", "printable"),
     ("a\nb", "printable"), ("a\u200bb", "printable"), ("teacher", "reserved"),
     ("Teacher", "reserved"), ("CLI", "reserved"), (None, "text"), (7, "text")],
)  # fmt: skip
def test_a_bad_name_is_refused_naming_why(given, words):
    with pytest.raises(ClassError, match=words):
        check_name(given)


def test_names_are_unique_in_the_class_ignoring_case_and_one_may_rename_oneself(store):
    assert join(store, ANN, " Ann ") == "Ann"
    for taken in ("Ann", "ann", "ANN "):
        with pytest.raises(ClassError, match="taken"):
            join(store, BOB, taken)
    join(store, CY, "Zoë")
    with pytest.raises(ClassError, match="taken"):
        join(store, BOB, "ZOË")  # case ignored beyond ASCII too
    assert join(store, ANN, "ANN") == "ANN"  # her own name in other letters
    join(store, BOB, "Bob")
    assert students(store) == {ANN: "ANN", CY: "Zoë", BOB: "Bob"}  # in the order they joined
    join(store, ANN, "Annie")
    assert join(store, BOB, "ann") == "ann"  # ann's old name is free again
    assert students(store) == {ANN: "Annie", CY: "Zoë", BOB: "ann"}
    assert students(RunStore(store.root)) == students(store)  # a restart keeps the class


# ------------------------------------------------------------------------ the teacher's secret


def test_only_the_right_secret_opens_the_teacher_page(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "s3cret-Token")
    check_teacher("s3cret-Token")
    for wrong in ("s3cret-token", "s3cret-Token ", "s3cret", "x" * 40, "ß3cret-Token"):
        with pytest.raises(ClassError, match="wrong teacher secret"):
            check_teacher(wrong)
    for missing in ("", None, 12):
        with pytest.raises(ClassError, match="teacher link"):
            check_teacher(missing)


def test_without_a_configured_secret_nothing_opens_the_teacher_page(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "")
    for given in ("", None, "anything"):
        with pytest.raises(ClassError, match="no teacher secret"):
            check_teacher(given)


def test_the_secret_is_the_environments_or_a_new_random_one(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert teacher_token() == "from-env"
    made = []
    for _ in range(2):
        monkeypatch.setenv(TOKEN_ENV, "")  # unset: a new one, kept for the server's pages
        made.append(teacher_token())
        assert os.environ[TOKEN_ENV] == made[-1] == teacher_token()
        check_teacher(made[-1])
    assert made[0] != made[1]
    assert all(
        len(t) >= 20 and set(t) <= set(string.ascii_letters + string.digits + "-_") for t in made
    )


# ------------------------------------------------------------------------ settings

SETTINGS = ClassSettings(
    models=("vae", "classifier"),
    locks={"classifier": {"model.arch": "mlp"}, "vae": {"model.latent_dim": 2}},
    ranges={"classifier": {"lr": [1e-4, 1e-2]}, "vae": {"lr_schedule": ["constant"]}},
    quota_running=2,
    quota_queued=3,
    max_steps=500,
    max_seconds=60.0,
    spotlight=7,
)


def test_settings_round_trip_through_the_store_and_survive_a_restart(store):
    assert load_settings(store) == ClassSettings()  # nothing stored: the defaults
    assert save_settings(store, SETTINGS) == SETTINGS
    assert load_settings(store) == SETTINGS
    assert load_settings(RunStore(store.root)) == SETTINGS


@pytest.mark.parametrize(
    "changes, error, words",
    [({"models": ("bert",)}, ClassError, "no model 'bert'"),
     ({"locks": {"bert": {"lr": 0.1}}}, ClassError, "no model 'bert'"),
     ({"locks": {"classifier": {"model.dropout": 0.95}}}, ConfigError, "model.dropout"),
     ({"locks": {"classifier": {"model.arch": "resnet"}}}, ConfigError, "model.arch"),
     ({"locks": {"classifier": {"model.nope": 1}}}, ConfigError, "no field model.nope"),
     ({"ranges": {"classifier": {"model.dropout": [0.0, 1.0]}}}, ConfigError, "model.dropout"),
     ({"ranges": {"vae": {"lr_schedule": ["step"]}}}, ConfigError, "lr_schedule"),
     ({"quota_running": 0}, ConfigError, "quota_running"),
     ({"quota_running": 11}, ConfigError, "quota_running"),
     ({"quota_queued": -1}, ConfigError, "quota_queued"),
     ({"quota_queued": 1.5}, ConfigError, "quota_queued"),
     ({"max_steps": 0}, ConfigError, "max_steps"),
     ({"max_steps": 2.5}, ConfigError, "max_steps"),
     ({"max_seconds": 0.0}, ConfigError, "max_seconds")],
)  # fmt: skip
def test_settings_that_break_a_models_form_are_refused_and_not_stored(store, changes, error, words):
    save_settings(store, SETTINGS)
    with pytest.raises(error, match=words):
        save_settings(store, ClassSettings().replace(**changes))
    assert load_settings(store) == SETTINGS


def test_class_form_locks_narrows_and_caps_a_models_form():
    plain = class_form("classifier", ClassSettings())
    assert plain == FAMILIES["classifier"].form
    form = class_form("classifier", SETTINGS)
    assert form["model.arch"].locked and form["model.arch"].choices == ("mlp",)
    assert (form["lr"].low, form["lr"].high) == (1e-4, 1e-2)
    assert form["max_steps"].high == 500 and not form["max_steps"].optional
    assert form["max_seconds"].high == 60.0 and not form["max_seconds"].optional
    good = config(**{"model": {"arch": "mlp"}, "lr": 1e-3, "max_steps": 500, "max_seconds": 60.0})
    assert form.problems(good) == {}
    bad = {**good, "model": {"arch": "cnn"}, "lr": 0.1, "max_steps": 501, "max_seconds": None}
    assert set(form.problems(bad)) == {"model.arch", "lr", "max_steps", "max_seconds"}
    assert plain.problems(bad) == {}
    # a budget cap leaves a field the teacher locked as locked
    locked = class_form("vae", ClassSettings(locks={"vae": {"max_steps": 50}}, max_steps=200))
    assert (locked["max_steps"].low, locked["max_steps"].high) == (50, 50)


# ------------------------------------------------------------------------ admission


def test_a_student_must_join_before_queueing(in_class):
    with engine_on(in_class) as engine:
        with pytest.raises(ClassError, match="join the class"):
            engine.start("classifier", TINY, owner=CY)
        engine.admit("classifier", config(), owner=ANN)
    assert in_class.list_runs() == []


def test_a_model_not_allowed_a_broken_lock_or_the_budget_cap_is_refused(in_class):
    save_settings(in_class, SETTINGS)
    with engine_on(in_class) as engine:
        with pytest.raises(ClassError, match="model not allowed today: dcgan"):
            engine.start("gan", {"model": {"arch": "infogan"}, "data": "fake"}, owner=ANN)
        with pytest.raises(ClassError, match="class settings: model.arch"):
            engine.start("classifier", {**TINY, "max_seconds": 60.0}, owner=ANN)
        mlp = {**TINY, "model": {"arch": "mlp"}, "lr": 1e-3, "max_seconds": 60.0}
        with pytest.raises(ClassError, match="max_steps must be in \\[1, 500\\], got 501"):
            engine.start("classifier", {**mlp, "max_steps": 501}, owner=ANN)
        with pytest.raises(ClassError, match="max_seconds"):
            engine.start("classifier", {**mlp, "max_seconds": None}, owner=ANN)
        assert in_class.list_runs() == []
        engine.admit("classifier", config(**mlp), owner=ANN)
        # the teacher and the command line are held to none of it
        wild = config("gan", model={"arch": "infogan"}, max_steps=10**6)
        engine.admit("gan", wild, owner=TEACHER)
        engine.admit("gan", wild, owner=None)


def test_a_students_fourth_run_is_over_quota(in_class):
    running = rows(in_class, ANN, 1, state="running")
    rows(in_class, ANN, 2)
    rows(in_class, None, 5)
    rows(in_class, TEACHER, 5, state="running")
    with engine_on(in_class) as engine:
        with pytest.raises(ClassError, match="quota: you have 3 runs queued or running"):
            engine.start("classifier", TINY, owner=ANN)
        engine.admit("classifier", config(), owner=BOB)
        with pytest.raises(ClassError, match="quota"):
            engine.admit("classifier", config(), n_runs=4, owner=BOB)
        engine.admit("classifier", config(), n_runs=50, owner=TEACHER)
        engine.admit("classifier", config(), n_runs=50, owner=None)
        in_class.update_run(running[0], state="finished")
        engine.admit("classifier", config(), owner=ANN)  # one ended: room for another
        save_settings(in_class, ClassSettings(quota_queued=1))
        with pytest.raises(ClassError, match="1 running \\+ 1 queued"):
            engine.admit("classifier", config(), owner=ANN)
    assert len(in_class.list_runs(owner=ANN)) == 3


def test_starts_racing_from_several_tabs_cannot_pass_the_quota_together(in_class):
    rows(in_class, TEACHER, 1, state="running")  # holds the one worker: nothing starts
    with engine_on(in_class) as engine:
        barrier, refused = threading.Barrier(8), []

        def start():
            barrier.wait()
            try:
                engine.start("classifier", TINY, owner=ANN)
            except ClassError as exc:
                refused.append(exc)

        threads = [threading.Thread(target=start) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(in_class.list_runs(owner=ANN)) == 3 and len(refused) == 5


def test_a_sweep_over_quota_queues_nothing(in_class):
    with engine_on(in_class) as engine:
        sweep = Sweep.grid(["rnn", "lstm"], [5, 10], n_seeds=1, overrides={"max_steps": 5})
        with pytest.raises(ClassError, match="quota"):
            sweep.launch(engine, owner=ANN)
    assert in_class.list_runs() == []


@pytest.mark.parametrize("class_on", [True, False])
def test_the_queue_bound_holds_for_everyone_in_every_mode(monkeypatch, store, class_on):
    monkeypatch.setattr(classroom, "QUEUE_BOUND", 4)
    monkeypatch.setenv(CLASS_ENV, "1" if class_on else "0")
    join(store, ANN, "Ann")
    bobs = rows(store, BOB, 3)
    for owner in (ANN, TEACHER, None):
        classroom.admit(store, owner, "classifier", config())
        with pytest.raises(ClassError, match="queue bound: 3 runs are waiting"):
            classroom.admit(store, owner, "classifier", config(), n_runs=2)
    store.update_run(bobs[0], pid=PARENT[0])  # claimed by a worker: no longer waiting
    classroom.admit(store, ANN, "classifier", config(), n_runs=2)


def test_outside_class_mode_one_session_may_queue_up_to_the_owner_bound(monkeypatch, store):
    monkeypatch.setattr(classroom, "OWNER_QUEUE_BOUND", 3)
    monkeypatch.delenv(CLASS_ENV, raising=False)
    rows(store, ANN, 3)
    with engine_on(store) as engine:
        with pytest.raises(ClassError, match="queue quota: you have 3 runs waiting"):
            engine.start("classifier", TINY, owner=ANN)
        engine.admit("classifier", config(), n_runs=3, owner=BOB)
        with pytest.raises(ClassError, match="at most 3"):
            engine.admit("classifier", config(), n_runs=4, owner=BOB)
        engine.admit("classifier", config(), n_runs=40, owner=None)  # the command line
        engine.admit("classifier", config(), owner=CY)  # no name needed outside class mode
    assert len(store.list_runs()) == 3


# ------------------------------------------------------------------------ a class on real workers


def test_one_worker_serves_a_class_round_robin(in_class):
    """Ann queues both her runs first; bob's still starts before her second."""
    short = {**TINY, "max_steps": 2, "eval_every": 2}
    with engine_on(in_class) as engine:
        ids = [engine.start("classifier", short, owner=o) for o in (ANN, ANN, BOB)]
        runs = [engine.wait(run_id, 120) for run_id in ids]
    assert [run.state for run in runs] == ["finished"] * 3
    started = [run.id for run in sorted(runs, key=lambda run: run.started)]
    assert started == [ids[0], ids[2], ids[1]]


@pytest.mark.slow
def test_a_class_takes_turns_on_real_workers_one_run_each_at_a_time(in_class):
    join(in_class, CY, "Cy")
    short = {**TINY, "max_steps": 3, "eval_every": 3}
    with engine_on(in_class, max_workers=2) as engine:
        queued = [engine.start("classifier", short, owner=ANN) for _ in range(3)]
        queued += [engine.start("classifier", short, owner=o) for o in (BOB, BOB, CY, CY)]
        runs = [engine.wait(run_id, 180) for run_id in queued]
    assert [run.state for run in runs] == ["finished"] * 7
    by_start = sorted(runs, key=lambda run: run.started)
    turns, seen = [], {}
    for run in by_start:
        seen[run.owner] = seen.get(run.owner, 0) + 1
        turns.append(seen[run.owner])
    assert turns == sorted(turns), [run.owner[0] for run in by_start]  # round by round
    for owner in (ANN, BOB, CY):  # never two of a student's runs at once
        mine = sorted((run.started, run.finished) for run in runs if run.owner == owner)
        assert all(end <= start for (_, end), (start, _) in zip(mine, mine[1:], strict=False))
