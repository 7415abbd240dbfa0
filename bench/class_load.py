"""A class of 30 on this machine: 30 students join a class server and start a short VAE run at once;
what they wait for is measured.

    python bench/class_load.py                     # about 6 minutes on 2 cores
    python bench/class_load.py --client browsers   # about 22 minutes on 2 cores
    python bench/class_load.py --students 12 --steps 200

The teacher's settings come first, as in a real class: the VAE locked to a short run (``--steps``
steps, one evaluation at the end on 1,000 samples). Two kinds of students:
- ``--client sessions`` (default): each student is a Streamlit session spoken to over its websocket
  protocol (bench/session_client.py: the browser's cookie, page runs, fragment timers, clicks,
  images). In a class the browsers run on the students' own machines; here the server and its
  workers keep this machine's cores, as they would in class.
- ``--client browsers``: each student is a Chromium context on this machine, beside the server.
  Every page clicks Start from inside itself at the same moment and times in the page when its run
  shows. The 31 browser pages share the 2 cores with the server and the workers.
The students' side runs at ``--nice`` (Unix nice, default 10, as the workers).
Reported (and written as JSON to ``--out``):
- page render p50/p95 during the load: the students reload the Train page one after another
  until every run has ended, each from the navigation to its script run ended (goal p95 <= 2 s);
  with protocol sessions, one student in three also reloads the class board (reported apart),
  and one more session shows the board all along, as the projector does;
- until every student sees their own run listed after the common click (goal <= 3 s), and each
  student's click-to-listed in their page;
- the longest any student waits for their run to start (it is queued: 2 runs train at a time);
- runs finished per minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402

from bench.session_client import Session  # noqa: E402
from gendl.engine.classroom import ClassSettings, save_settings  # noqa: E402
from gendl.engine.store import RunStore  # noqa: E402
from tests.browser import (  # noqa: E402
    after_click,
    chromium,
    class_server,
    click_at,
    join_class,
    missing_browser,
    script_done,
    wait_for_title,
    watch_after_click,
)

TOKEN = "class-load-bench"
LISTED = r"Run \d+ · .*(queued|running|finished)"


def short_vae(steps: int) -> ClassSettings:
    """The teacher's locks: a VAE run of ``steps`` steps with one evaluation, on real MNIST."""
    locks = {"max_steps": steps, "eval_every": steps, "n_score_samples": 1000, "data": "mnist"}
    return ClassSettings(models=("vae",), locks={"vae": locks})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Load:
    """What the students waited for: each one's (click, shown) in epoch seconds, and the page
    renders timed while the runs went on (with the renders that took over 120 s)."""

    def __init__(self) -> None:
        self.seen: dict[int, tuple[float, float]] = {}
        self.renders: list[float] = []
        self.board_renders: list[float] = []  # protocol sessions only: the board page too
        self.failed = 0


def all_seen(load: Load, students: int) -> float:
    """Seconds from the first click until the last student saw their run (inf: not all did)."""
    if len(load.seen) < students:
        return float("inf")
    return max(shown for _, shown in load.seen.values()) - min(c for c, _ in load.seen.values())


def with_browsers(url: str, store: RunStore, students: int, nice: int) -> Load:
    """The class in Chromium pages on this machine at niceness ``nice``."""
    load = Load()
    with chromium(nice) as browser:
        pages = []
        for k in range(students):
            page = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
            join_class(page, url, f"Student {k:02d}")
            page.goto(f"{url}/train?train_preset=vae")
            wait_for_title(page, "Train a model")
            page.get_by_role("button", name="Start", exact=True).wait_for(timeout=600_000)
            script_done(page, 600)
            pages.append(page)
        print(f"{len(pages)} students joined; starting their runs at once", flush=True)

        moment = time.time() + 2.0 + 0.2 * len(pages)  # after every page has its timer
        for page in pages:
            watch_after_click(page, LISTED)
            click_at(page, page.get_by_role("button", name="Start", exact=True), moment)
        while len(load.seen) < len(pages) and time.time() - moment < 300:
            for k, page in enumerate(pages):
                if k not in load.seen and (times := after_click(page)) is not None:
                    load.seen[k] = times
            time.sleep(0.1)
        print(f"every student saw their run after {all_seen(load, students):.2f} s", flush=True)
        while store.list_runs(("queued", "running")):
            for page in pages:
                began = time.monotonic()
                try:
                    page.reload(timeout=120_000)
                    wait_for_title(page, "Train a model", 120)
                    script_done(page, 120)
                except PlaywrightTimeout:
                    load.failed += 1
                    continue
                load.renders.append(time.monotonic() - began)
                if not store.list_runs(("queued", "running")):
                    break
    return load


async def with_sessions(url: str, store: RunStore, students: int) -> Load:
    """The class as Streamlit sessions over the websocket protocol (bench/session_client.py):
    the server meets what 30 browsers on 30 machines send, and this machine renders nothing."""
    load = Load()
    sessions = []
    for k in range(students):
        session = Session(url)
        await session.open("")
        name = f"Student {k:02d}"
        await session.click("Join the class", **{"Your display name": name})
        await session.wait(lambda session=session, name=name: session.shows(f"You are {name}"))
        await session.open("train", "train_preset=vae")
        assert not session.shows(LISTED), "a run listed before the click"
        sessions.append(session)
    projector = Session(url)  # the class board on the projector, refreshing all along
    await projector.open("")
    print(f"{len(sessions)} students joined; starting their runs at once", flush=True)

    async def start(k: int, session: Session, moment: float) -> None:
        await asyncio.sleep(moment - time.time())
        clicked = time.time()
        await session.click("Start")
        await session.wait(lambda: session.shows(LISTED), 300)
        load.seen[k] = (clicked, time.time())

    moment = time.time() + 1.0
    await asyncio.gather(*(start(k, s, moment) for k, s in enumerate(sessions)))
    print(f"every student saw their run after {all_seen(load, students):.2f} s", flush=True)
    while store.list_runs(("queued", "running")):
        for k, session in enumerate(sessions):  # one student in three opens the board too
            pages = [("train", "train_preset=vae", load.renders)]
            pages += [("", "", load.board_renders)] if k % 3 == 0 else []
            for page, query, renders in pages:
                try:
                    renders.append(await session.open(page, query))
                except TimeoutError:
                    load.failed += 1
            if not store.list_runs(("queued", "running")):
                break
    for session in [*sessions, projector]:
        await session.close()
    return load


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--steps", type=int, default=300, help="the VAE run's locked steps")
    parser.add_argument(
        "--client",
        choices=("sessions", "browsers"),
        default="sessions",
        help="students as protocol sessions (their browsers elsewhere) or Chromium pages here",
    )
    parser.add_argument("--nice", type=int, default=10, help="the students' niceness here")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()
    if args.client == "browsers" and missing_browser():
        print(f"cannot run: {missing_browser()}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp) / "runs"
        store = RunStore(runs_dir)
        save_settings(store, short_vae(args.steps))
        with class_server(runs_dir, TOKEN) as url:
            if args.client == "browsers":
                load = with_browsers(url, store, args.students, args.nice)
            else:
                os.nice(args.nice)  # this process only: the server has started at its own
                load = asyncio.run(with_sessions(url, store, args.students))
        waits = [shown - clicked for clicked, shown in load.seen.values()] or [float("inf")]
        clicks = [clicked for clicked, _ in load.seen.values()] or [float("inf")]
        runs = store.list_runs()
        finished = [r for r in runs if r.state == "finished"]
        starts = [r.started - r.created for r in runs if r.started is not None]
        span = max(r.finished for r in finished) - min(r.created for r in runs)
        figures = {
            "students": args.students,
            "vae_steps": args.steps,
            "render_p50_s": round(statistics.median(load.renders), 2),
            "render_p95_s": round(percentile(load.renders, 0.95), 2),
            "renders": len(load.renders),
            **(
                {
                    "board_render_p50_s": round(statistics.median(load.board_renders), 2),
                    "board_render_p95_s": round(percentile(load.board_renders, 0.95), 2),
                    "board_renders": len(load.board_renders),
                }
                if load.board_renders
                else {}
            ),
            "renders_over_120_s": load.failed,
            "all_see_own_run_s": round(all_seen(load, args.students), 2),
            "own_run_seen_p50_s": round(statistics.median(waits), 2),
            "own_run_seen_max_s": round(max(waits), 2),
            "clicks_spread_s": round(max(clicks) - min(clicks), 3),
            "client": args.client,
            "client_nice": args.nice,
            "longest_wait_to_start_s": round(max(starts), 1),
            "runs": len(runs),
            "runs_finished": len(finished),
            "runs_per_minute": round(len(finished) / span * 60, 2),
            "states": sorted({r.state for r in runs}),
        }
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
