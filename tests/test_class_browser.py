"""Class mode end to end: ``python -m gendl class`` on a free loopback port, a teacher and a class of
students, each in their own Chromium context (their own cookies: their own identity), on one server
and one run store.

The teacher opens the teacher link and locks a field; every student joins with a display name and
starts a run from the Train page; the test checks what each of them sees (their run listed within
2 s, the lock on their form, another student's run not controllable, the teacher page refused),
what the engine does (the lock and the quota refused, the fair order of starts) and the board
(every active run with its student's name), and the server logged no error. 12 students by
default (about 2 minutes); 30 under ``-m slow`` (about 13 minutes on 2 cores). The browsers run
below the server's CPU priority: in a class they are on the students' own machines.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from gendl.engine.classroom import ClassError, admit, students
from gendl.engine.store import RunStore
from tests.browser import (
    LAYOUT_PROBLEMS,
    after_click,
    choose,
    chromium,
    class_server,
    join_class,
    missing_browser,
    script_done,
    wait_for_title,
    watch_after_click,
)

pytestmark = pytest.mark.skipif(missing_browser() is not None, reason=str(missing_browser()))

TOKEN = "class-test-secret"
LOCKED_BATCH = 32
# the class's browsers run below the server (they belong on the students' machines): the server,
# its niced workers and the test's Chromium share these 2 cores
BROWSER_NICENESS = 10
TIMEOUT_S = 120  # for any one page to load or answer (a class of 30 on 2 cores is slow)
SEEN_WITHIN_S = 2.0  # the bound: a student sees their run queued or running
# by class size: the share of students who see their run within the seconds given, and the
# slowest allowed, timed in their page. 12 meet the 2 s (all within 0.1-1.3 s seen); 30
# with their 31 browser pages beside the server on 2 cores: 77-83 % within 2 s, the slowest 4.3-5.1 s
# (bench/class_load.py measures the load itself)
SEEN_BOUNDS = {12: (1.0, SEEN_WITHIN_S, SEEN_WITHIN_S), 30: (0.6, SEEN_WITHIN_S, 10.0)}
# a short fake-data classifier run: a few end while the test looks, the rest wait in the queue
# until the teacher stops them all
RUN_QUERY = (
    "train_preset=classifier&train_classifier_data=fake"
    "&train_classifier_max_steps=400&train_classifier_eval_every=400"
)
LISTED = re.compile(r"Run \d+ · .*(queued|running)")


@pytest.fixture
def class_url(tmp_path) -> Iterator[tuple[str, Path]]:
    """A class server over an empty run store; yields (url, runs dir)."""
    runs = tmp_path / "runs"
    with class_server(runs, TOKEN, {"GENDL_CHECKPOINT_DIR": str(tmp_path)}) as url:
        yield url, runs


def lock_batch_size(page: Any, url: str) -> None:
    """On the teacher page: lock the classifier's batch size."""
    choose(page, "model", "classifier")
    script_done(page, TIMEOUT_S)
    choose(page, "field", "batch size (batch_size)")
    script_done(page, TIMEOUT_S)
    # the batch size's number input: while the field's rerun draws it, the old field's "value"
    # (the architecture's select box) may still be on the page beside it
    value = page.get_by_role("spinbutton", name="value", exact=True)
    expect(value).to_have_count(1, timeout=TIMEOUT_S * 1000)
    value.fill(str(LOCKED_BATCH))
    value.press("Enter")
    rule = page.locator('[data-testid="stMarkdownContainer"]', has_text=f"fixed at {LOCKED_BATCH}")
    for _ in range(3):  # a click that lands while the value's own rerun is starting is dropped
        script_done(page, TIMEOUT_S)
        page.get_by_role("button", name="Add the rule").click()
        try:
            rule.first.wait_for(timeout=15_000)
            return
        except PlaywrightTimeout:
            continue
    rule.first.wait_for(timeout=1)


def start_run(page: Any, url: str) -> float:
    """Start a run from the Train page; returns the seconds from the click until the student's
    own run is listed queued or running, timed in the page."""
    page.goto(f"{url}/train?{RUN_QUERY}")
    wait_for_title(page, "Train a model", TIMEOUT_S)
    start = page.get_by_role("button", name="Start", exact=True)
    start.wait_for()
    expect(start).to_be_enabled(timeout=120_000)  # after the duration estimate
    script_done(page, TIMEOUT_S)
    assert page.get_by_text(LISTED).count() == 0  # no run listed before the click
    watch_after_click(page, LISTED.pattern)
    start.click()
    page.get_by_text(LISTED).first.wait_for(timeout=TIMEOUT_S * 1000)
    page.wait_for_function("window.__shown !== null", timeout=10_000)
    clicked, shown = after_click(page)
    return shown - clicked


def new_page(browser: Any) -> Any:
    """A browser context of its own (its own cookies: another person) at a projector's size."""
    page = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
    page.set_default_timeout(TIMEOUT_S * 1000)
    return page


def class_of(n_students: int, class_url, monkeypatch) -> None:
    url, runs_dir = class_url
    store = RunStore(runs_dir)
    monkeypatch.setenv("GENDL_CLASS", "1")
    names = [f"Student {k:02d}" for k in range(n_students - 1)] + ["<b>Zed</b> **x**"]
    with chromium(niceness=BROWSER_NICENESS) as browser:
        teacher = new_page(browser)
        teacher.goto(f"{url}/teacher?teacher={TOKEN}")
        wait_for_title(teacher, "Teacher", TIMEOUT_S)
        teacher.get_by_text("Models allowed today").wait_for()
        # taken out of the address bar (the board is projected): the browser updates its address
        # once the page's script run has ended, just after the page shows
        expect(teacher).not_to_have_url(re.compile(re.escape(TOKEN)), timeout=TIMEOUT_S * 1000)
        lock_batch_size(teacher, url)

        pages = []
        for name in names:
            page = new_page(browser)
            join_class(page, url, name)
            pages.append(page)
        owners = {name: owner for owner, name in students(store).items()}
        assert sorted(owners) == sorted(names)

        # the lock shows on a student's form, and the engine refuses a config that breaks it
        first = pages[0]
        first.goto(f"{url}/train?{RUN_QUERY}")
        wait_for_title(first, "Train a model", TIMEOUT_S)
        batch = first.get_by_role("spinbutton", name="batch size")
        batch.wait_for()
        assert batch.is_disabled() and batch.input_value() == str(LOCKED_BATCH)
        with pytest.raises(ClassError, match="batch_size"):
            admit(store, owners[names[0]], "classifier", {"data": "fake", "batch_size": 64})

        seen = [start_run(page, url) for page in pages]
        share, within_s, worst = SEEN_BOUNDS[n_students]
        within = sum(s <= within_s for s in seen) / len(seen)
        assert within >= share and max(seen) <= worst, f"seconds to see the run: {seen}"
        # the first student uses the quota (1 running + 2 queued) with long runs; one more is
        # refused, naming it
        first.goto(f"{url}/train?{RUN_QUERY.replace('max_steps=400', 'max_steps=20000')}")
        wait_for_title(first, "Train a model", TIMEOUT_S)
        # the refusal, not the Start button's tooltip ("up to the class's quota") under the mouse
        refusal = first.locator('[data-testid="stAlert"]', has_text="quota: you have")
        first_owner = owners[names[0]]
        for seed in range(1, 9):  # one config clicked twice within 2 s is one start: vary it
            active = len(store.list_runs(("queued", "running"), owner=first_owner))
            seed_box = first.get_by_role("spinbutton", name="seed")
            seed_box.fill(str(seed))
            seed_box.press("Enter")
            script_done(first, TIMEOUT_S)
            first.get_by_role("button", name="Start", exact=True).click()
            # the click's outcome: one more run in the store, or the refusal (under load a click
            # can land while the seed's own rerun starts, and is then not delivered: click again)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not refusal.count():
                if len(store.list_runs(("queued", "running"), owner=first_owner)) > active:
                    break
                time.sleep(0.25)
            if refusal.count():
                break
        refusal.first.wait_for(timeout=TIMEOUT_S * 1000)
        assert len(store.list_runs(("queued", "running"), owner=first_owner)) == 3

        # another student's run: its controls disabled, with the reason; no teacher page
        other = store.list_runs(owner=owners[names[1]])[0]
        intruder = pages[2]
        intruder.goto(f"{url}/train?train_run={other.id}")
        wait_for_title(intruder, "Train a model", TIMEOUT_S)
        intruder.get_by_text(f"Run {other.id}").first.wait_for()
        for label in ("Pause", "Stop"):
            assert intruder.get_by_role("button", name=label, exact=True).is_disabled()
        intruder.get_by_text("belongs to another session").first.wait_for()
        intruder.goto(f"{url}/teacher")
        wait_for_title(intruder, "Teacher", TIMEOUT_S)
        intruder.get_by_text("teacher link").first.wait_for()
        assert intruder.get_by_text("Models allowed today").count() == 0

        # the board shows every active run with its student's name (typed, not rendered)
        teacher.goto(url + "/")
        wait_for_title(teacher, "Class board", TIMEOUT_S)
        board_shows_active_runs(teacher, store, owners)
        script_done(teacher, TIMEOUT_S)
        assert teacher.evaluate(LAYOUT_PROBLEMS) == []  # readable on a 1024x768 projector
        fair_starts(store, owners, wait_s=120)

        teacher.goto(url + "/teacher")
        wait_for_title(teacher, "Teacher", TIMEOUT_S)
        teacher.get_by_role("button", name="Stop all").wait_for()
        script_done(teacher, TIMEOUT_S)
        assert teacher.evaluate(LAYOUT_PROBLEMS) == []
        teacher.get_by_role("button", name="Stop all").click()
        deadline = time.monotonic() + 120
        while store.list_runs(("queued", "running", "paused")):
            assert time.monotonic() < deadline, "runs still active after Stop all"
            time.sleep(0.5)
    # no page's script met an error along the way (Streamlit logs each as "Uncaught app
    # execution" with its traceback; a browser page closing its websocket logs others)
    log = (runs_dir.parent / "class-server.log").read_text(errors="replace")
    failed = "Uncaught app execution"
    assert failed not in log, log[log.index(failed) :][:3000]


def board_shows_active_runs(page: Any, store: RunStore, owners: dict[str, str]) -> None:
    """Within a few refreshes the board's text names every student who has an active run."""
    deadline, missing = time.monotonic() + 60, list(owners)
    while missing:
        assert time.monotonic() < deadline, f"not on the board: {missing}"
        text = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').innerText")
        active = {run.owner for run in store.list_runs(("queued", "running", "paused"))}
        missing = [name for name, owner in owners.items() if owner in active and name not in text]
        time.sleep(0.5)


def fair_starts(store: RunStore, owners: dict[str, str], wait_s: float) -> None:
    """Once several runs have started: no student's second run started while another student's
    first run, queued before that moment, was still waiting."""
    deadline = time.monotonic() + wait_s
    while len([r for r in store.list_runs() if r.started]) < 4:
        assert time.monotonic() < deadline, "fewer than 4 runs started"
        time.sleep(0.5)
    runs = [r for r in store.list_runs() if r.owner in owners.values()]
    firsts = {}
    for run in sorted(runs, key=lambda r: r.id):
        firsts.setdefault(run.owner, run)
    for run in runs:
        if run.started is None or firsts[run.owner].id == run.id:
            continue
        for first in firsts.values():
            waiting = first.created < run.started and (first.started or 1e18) > run.started
            assert not waiting, f"run {run.id} started while run {first.id} waited with a first"


def test_a_class_of_12(class_url, monkeypatch):
    class_of(12, class_url, monkeypatch)


@pytest.mark.slow  # 31 Chromium pages beside the server on 2 cores: about 13 minutes
def test_a_class_of_30(class_url, monkeypatch):
    class_of(30, class_url, monkeypatch)
