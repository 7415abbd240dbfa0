"""bench/class_load.py's students without a browser (bench/session_client.py) do what a browser
does on a real class server: they join under their own names, keep their identity across a reload,
start runs from the Train page with the form's values, and read their own run listed."""

from __future__ import annotations

import asyncio

from bench.session_client import Session
from gendl.engine.classroom import students
from gendl.engine.store import RunStore
from tests.browser import class_server

QUERY = "train_preset=classifier&train_classifier_data=fake&train_classifier_max_steps=30"
LISTED = r"Run \d+ · .*(queued|running|finished)"


async def students_start_runs(url: str, names: list[str]) -> list[Session]:
    sessions = []
    for name in names:
        session = Session(url)
        await session.open("")
        await session.click("Join the class", **{"Your display name": name})
        await session.wait(lambda session=session, name=name: session.shows(f"You are {name}"), 60)
        await session.open("train", QUERY)
        assert not session.shows(LISTED)
        sessions.append(session)
    for session in sessions:
        await session.click("Start")
    for session in sessions:
        await session.wait(lambda session=session: session.shows(LISTED), 60)
    # a reload is the same browser: the same student, who is not asked to join again
    await sessions[0].open("")
    assert sessions[0].shows(f"You are {names[0]}") and "Join the class" not in sessions[0].widgets
    for session in sessions:
        await session.close()
    return sessions


def test_protocol_students_join_and_start_their_own_runs(tmp_path):
    runs = tmp_path / "runs"
    names = ["Ada", "Grace", "<b>Zed</b>"]
    with class_server(runs, "bench-secret", {"GENDL_CHECKPOINT_DIR": str(tmp_path)}) as url:
        asyncio.run(students_start_runs(url, names))
        store = RunStore(runs)
        owners = students(store)
        assert sorted(owners.values()) == sorted(names)
        started = store.list_runs()
        assert sorted(run.owner for run in started) == sorted(owners)  # one run each, their own
        assert {run.config["data"] for run in started} == {"fake"}  # the link's form values
        assert {run.config["max_steps"] for run in started} == {30}
