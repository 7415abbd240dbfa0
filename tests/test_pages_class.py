"""Class mode on the Teacher, Train, Runs and RNN vs LSTM pages, in AppTest over the real engine.

Each AppTest is its own browser session (its own owner id). Runs that only need to exist are
written into the store directly: a "running" row held by this test process is alive to the engine
and never trains; rows the engine queues stay queued while blocker rows fill every worker slot.
"""

import json
import uuid
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_pages.common import TEACHER_BROWSERS, engine
from gendl.config import config_to_dict
from gendl.engine.classroom import CLASS_ENV, TOKEN_ENV, ClassError, join, load_settings, students
from gendl.engine.export import end_class
from gendl.engine.records import CLI_OWNER, TEACHER
from gendl.engine.runs import RunError
from gendl.errors import GendlError
from gendl.train import preset_config

PAGES = Path(__file__).resolve().parent.parent / "app_pages"
TOKEN = "class-secret-7f3a"
LSTM = config_to_dict(preset_config("lstm")[1])


@pytest.fixture
def class_env(app_env, monkeypatch):
    """A class server's environment; yields the run store."""
    monkeypatch.setenv(CLASS_ENV, "1")
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return app_env[1]


def page(name: str, teacher: str | None = None, owner: str | None = None, **params: str) -> AppTest:
    """``name`` opened by a new browser session, or by browser ``owner`` again (a reload)."""
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=60)
    if owner is not None:
        at.session_state["owner"] = owner
    for key, value in {**params, **({} if teacher is None else {"teacher": teacher})}.items():
        at.query_params[key] = value
    return rendered(at.run())


def rendered(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def student(store, name: str, page_name: str = "train", **params: str) -> AppTest:
    """A browser that joined the class as ``name``, on ``page_name``."""
    owner = uuid.uuid4().hex
    join(store, owner, name)
    return page(page_name, owner=owner, **params)


def fake_run(store, owner: str, state: str = "running", **config) -> int:
    """A run row in ``state`` held by this process: alive to the engine, it never trains."""
    return store.create_run("sequence", {**LSTM, **config}, owner=owner, state=state, name="lstm")


def fill_workers(store) -> None:
    """Runs from the command line on every worker slot: the engine starts nothing more."""
    for _ in range(engine().pool.max_workers):
        fake_run(store, CLI_OWNER)


def help_of(at: AppTest, key: str) -> str:
    return at.button(key=key).proto.help


# ---------------------------------------------------------------- the teacher page


@pytest.mark.parametrize("given", [None, "wrong-secret", ""], ids=["missing", "wrong", "empty"])
def test_the_teacher_page_shows_only_a_refusal_without_the_secret(class_env, given):
    at = page("teacher", teacher=given)
    (error,) = at.error
    assert ("wrong teacher secret" if given else "needs the teacher link") in error.value
    assert not (at.subheader or at.button or at.multiselect or at.selectbox or at.number_input)
    assert class_env.setting(TEACHER_BROWSERS, []) == []


def test_a_lock_shows_disabled_on_a_students_form_and_the_engine_refuses_breaking_it(class_env):
    teacher = page("teacher", teacher=TOKEN)
    assert "teacher" not in teacher.query_params  # not left in a projected address bar
    teacher.multiselect(key="teacher_models").set_value(["lstm", "vae"])
    teacher.button(key="FormSubmitter:teacher_models_form-Save models").click().run()
    teacher.selectbox(key="teacher_rule_model").set_value("lstm").run()
    teacher.selectbox(key="teacher_rule_field_lstm").set_value("model.hidden_dim").run()
    teacher.number_input(key="teacher_rule_lstm_model.hidden_dim_lock").set_value(64)
    rendered(teacher.button(key="teacher_rule_add").click().run())
    teacher.selectbox(key="teacher_rule_field_lstm").set_value("seq_length").run()
    teacher.button_group(key="teacher_rule_how").set_value("narrow").run()
    teacher.number_input(key="teacher_rule_lstm_seq_length_narrow_low").set_value(5)
    teacher.number_input(key="teacher_rule_lstm_seq_length_narrow_high").set_value(15)
    rendered(teacher.button(key="teacher_rule_add").click().run())
    settings = load_settings(class_env)
    assert settings.models == ("lstm", "vae")
    assert settings.locks == {"lstm": {"model.hidden_dim": 64}}
    assert settings.ranges == {"lstm": {"seq_length": [5, 15]}}
    rules = [m.value for m in teacher.markdown if m.value.startswith("**lstm**")]
    assert rules == [
        "**lstm** · `model.hidden_dim`: fixed at 64",
        "**lstm** · `seq_length`: 5 to 15",
    ]

    alice = page("train")
    assert not alice.button_group and "train_start" not in {b.key for b in alice.button}
    alice.text_input(key="train_name").set_value("Alice")
    rendered(alice.button(key="FormSubmitter:train_join-Join the class").click().run())
    assert students(class_env) == {alice.session_state["owner"]: "Alice"}
    assert list(alice.button_group(key="train_preset").options) == ["lstm", "vae"]
    hidden = alice.number_input(key="train_lstm_hidden_dim")
    assert hidden.disabled and hidden.value == 64
    length = alice.slider(key="train_lstm_seq_length")
    assert (length.min, length.max) == (5, 15) and 5 <= length.value <= 15

    with pytest.raises(ClassError, match="hidden_dim"):
        engine().start(
            "sequence", {"model": {"hidden_dim": 128}}, owner=alice.session_state["owner"]
        )
    with pytest.raises(ClassError, match="model not allowed"):
        engine().start("gan", {"data": "fake"}, owner=alice.session_state["owner"])

    fill_workers(class_env)  # Alice's runs queue and wait
    for seed in range(3):  # the class's quota: 1 running + 2 queued (a repeated click of one
        alice.number_input(key="train_lstm_seed").set_value(seed)  # config is one start)
        rendered(alice.button(key="train_start").click().run())
    mine = class_env.list_runs(owner=alice.session_state["owner"])
    assert len(mine) == 3 and {run.config["model"]["hidden_dim"] for run in mine} == {64}
    queue = [m.value for m in alice.markdown if " in the queue · starts in about " in m.value]
    assert [q.split(" · ")[3] for q in queue] == [
        "1st in the queue",
        "2nd in the queue",
        "3rd in the queue",
    ]
    alice.number_input(key="train_lstm_seed").set_value(3)
    rendered(alice.button(key="train_start").click().run())
    assert any("quota" in e.value for e in alice.error)
    assert len(class_env.list_runs(owner=alice.session_state["owner"])) == 3
    first = min(run.id for run in mine)
    rendered(alice.button(key=f"train_show_{first}").click().run())
    assert alice.session_state["train_run"] == first
    rendered(alice.button(key="train_stop").click().run())
    assert class_env.get_run(first).state == "stopped"


# ---------------------------------------------------------------- who controls a run


def test_another_students_browser_cannot_control_a_run(class_env):
    alice = student(class_env, "Alice").session_state["owner"]
    run_id = fake_run(class_env, alice)
    bob = student(class_env, "Bob", train_run=str(run_id))
    for key in ("train_pause", "train_stop"):
        assert bob.button(key=key).disabled
        assert "belongs to another session" in help_of(bob, key)
    assert any("belongs to another session" in c.value for c in bob.caption)
    with pytest.raises(RunError, match="belongs to another session"):  # whatever sends it
        engine().pause(run_id, owner=bob.session_state["owner"])
    assert class_env.pending_commands(run_id) == []

    # its owner's browser, reloaded, and the teacher may control it
    mine = page("train", owner=alice, train_run=str(run_id))
    assert not mine.button(key="train_pause").disabled
    assert not any("belongs to" in c.value for c in mine.caption)
    teacher = page("train", teacher=TOKEN, train_run=str(run_id))
    assert not teacher.button(key="train_stop").disabled
    rendered(teacher.button(key="train_stop").click().run())
    assert [c.command for c in class_env.pending_commands(run_id)] == ["stop"]


@pytest.mark.parametrize("classroom", [False, True], ids=["one user", "class"])
def test_a_command_line_run_is_read_only_in_every_browser(app_env, monkeypatch, classroom):
    store = app_env[1]
    if classroom:
        monkeypatch.setenv(CLASS_ENV, "1")
        monkeypatch.setenv(TOKEN_ENV, TOKEN)
    running = fake_run(store, CLI_OWNER)
    ended = fake_run(store, CLI_OWNER, state="stopped")
    train = (
        student(store, "Ada", train_run=str(running))
        if classroom
        else page("train", train_run=str(running))
    )
    for key in ("train_pause", "train_stop"):
        assert train.button(key=key).disabled and "command line" in help_of(train, key)
    runs = page("runs")
    table = runs.dataframe[0].value
    assert set(table["owner"]) == {"command line"}
    runs.selectbox(key="runs_target").set_value(ended).run()
    assert runs.checkbox(key=f"runs_confirm_{ended}").disabled
    assert runs.button(key="runs_delete").disabled and "command line" in help_of(
        runs, "runs_delete"
    )


# ---------------------------------------------------------------- the end of a class


def test_ending_the_class_exports_every_class_run_in_one_zip_then_deletes_them(class_env):
    store = class_env
    join(store, "a" * 32, "Alice")
    join(store, "b" * 32, "**Bob**")
    runs = {
        fake_run(store, "a" * 32, state="finished"): "Alice",
        fake_run(store, "b" * 32, state="stopped"): "**Bob**",
        fake_run(store, TEACHER, state="finished"): "teacher",
    }
    still_running = fake_run(store, "a" * 32)
    runs[still_running] = "Alice"
    cli_run = fake_run(store, CLI_OWNER, state="finished")
    for run_id in runs:
        (store.run_dir(run_id) / "model.pt").write_bytes(b"weights %d" % run_id)
        store.append_metrics(run_id, [{"step": 1, "elapsed_s": 0.5, "loss": 2.0}])

    teacher = page("teacher", teacher=TOKEN)
    assert "stop all first" in help_of(teacher, "teacher_end")
    with pytest.raises(GendlError, match="stop all first"):  # whatever calls it
        end_class(store, list(runs))
    assert len(store.list_runs()) == len(runs) + 1
    rendered(teacher.button(key="teacher_stop").click().run())
    assert [c.command for c in store.pending_commands(still_running)] == ["stop"]
    store.update_run(still_running, state="stopped")  # as its worker would
    rendered(teacher.run())
    assert "export the class's runs first" in help_of(teacher, "teacher_end")

    rendered(teacher.button(key="teacher_export").click().run())
    path = Path(teacher.session_state["teacher_exported"][0])
    with zipfile.ZipFile(path) as archive:
        listing = json.loads(archive.read("class.json"))["runs"]
        assert {r["id"]: r["owner"] for r in listing} == runs
        for run_id in runs:
            assert json.loads(archive.read(f"run{run_id}/config.json"))["id"] == run_id
            assert "loss" in archive.read(f"run{run_id}/metrics.csv").decode()
        assert archive.read(f"run{min(runs)}/model.pt") == b"weights %d" % min(runs)
        assert not [n for n in archive.namelist() if n.startswith(f"run{cli_run}/")]
    assert teacher.get("download_button")

    confirm = next(c for c in teacher.checkbox if c.key.startswith("teacher_end_confirm"))
    rendered(confirm.check().run())
    rendered(teacher.button(key="teacher_end").click().run())
    assert [run.id for run in store.list_runs()] == [cli_run]
    assert students(store) == {} and not any(store.run_dir(i).exists() for i in runs)
    assert path.is_file()  # the export stays on the server


# ---------------------------------------------------------------- RNN vs LSTM


def test_a_sweep_cannot_be_launched_twice_and_the_class_quota_refuses_a_big_one(class_env):
    fill_workers(class_env)  # the sweep's runs stay queued
    at = student(class_env, "Alice", "rnn_vs_lstm")
    at.multiselect(key="rnnlstm_lengths").set_value([5, 10]).run()
    at.number_input(key="rnnlstm_seeds").set_value(1).run()
    rendered(at.button(key="rnnlstm_launch").click().run())  # 4 runs; the quota allows 3
    assert any("quota" in e.value for e in at.error)
    assert class_env.list_runs(owner=at.session_state["owner"]) == []

    at.multiselect(key="rnnlstm_lengths").set_value([5]).run()
    rendered(at.button(key="rnnlstm_launch").click().run())
    sweep = at.session_state["rnnlstm_sweep"]
    assert len(sweep.run_ids) == 2
    launch = at.button(key="rnnlstm_launch")
    assert launch.disabled and "2 runs of your sweep are still active" in launch.proto.help
    assert len(class_env.list_runs(owner=at.session_state["owner"])) == 2
    rendered(at.button(key="rnnlstm_stop").click().run())
    assert {class_env.get_run(i).state for i in sweep.run_ids} == {"stopped"}
    rendered(at.run())
    assert not at.button(key="rnnlstm_launch").disabled


def test_the_teacher_sets_quota_budget_and_spotlight_and_a_bad_quota_is_refused(class_env):
    teacher = page("teacher", teacher=TOKEN)
    save = "FormSubmitter:teacher_quota_form-Save quota and budget"
    teacher.number_input(key="teacher_quota_running").set_value(0)
    rendered(teacher.button(key=save).click().run())
    assert any("quota_running" in e.value for e in teacher.error)
    assert load_settings(class_env).quota_running == 1  # nothing saved
    teacher.number_input(key="teacher_quota_running").set_value(2)
    teacher.number_input(key="teacher_quota_queued").set_value(1)
    teacher.number_input(key="teacher_max_steps").set_value(500)
    rendered(teacher.button(key=save).click().run())
    settings = load_settings(class_env)
    assert (settings.quota_running, settings.quota_queued, settings.max_steps) == (2, 1, 500)
    assert settings.max_seconds is None

    alice = student(class_env, "Alice")
    steps = alice.number_input(key="train_lstm_max_steps")
    assert steps.value == 500 and "500" in steps.proto.help  # the cap, not the preset's budget
    run_id = fake_run(class_env, alice.session_state["owner"], state="finished")
    rendered(teacher.run())
    spotlight = teacher.selectbox(key="teacher_spotlight")
    assert spotlight.options == ["none", f"Run {run_id} · Alice · LSTM L=20 · finished"]
    rendered(spotlight.set_value(run_id).run())
    assert load_settings(class_env).spotlight == run_id
