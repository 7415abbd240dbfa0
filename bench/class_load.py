"""A class of 30 on this machine: 30 students, each in their own Chromium context, join a class server
and start a short VAE run at once; what they wait for is measured.

    python bench/class_load.py                   # about 22 minutes on 2 cores
    python bench/class_load.py --students 12 --steps 200

The teacher's settings come first, as in a real class: the VAE locked to a short run (``--steps``
steps, one evaluation at the end on 1,000 samples). Every page clicks Start from inside itself at
the same moment, and times in the page when its run shows. The browsers run at ``--browser-nice``
(Unix nice, default 10, as the workers): in a class they are on the students' own machines, and
here they would otherwise take the server's cores (``--browser-nice 0`` measures that too).
Reported (and written as JSON to ``--out``):
- page render p50/p95 during the load: the students reload the Train page one after another
  until every run has ended, each from the navigation to its script run ended (goal p95 <= 2 s);
- until every student sees their own run listed after the common click (goal <= 3 s), and each
  student's click-to-listed in their page;
- the longest any student waits for their run to start (it is queued: 2 runs train at a time);
- runs finished per minute.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--steps", type=int, default=300, help="the VAE run's locked steps")
    parser.add_argument("--browser-nice", type=int, default=10, help="the browsers' niceness")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()
    if missing_browser():
        print(f"cannot run: {missing_browser()}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp) / "runs"
        store = RunStore(runs_dir)
        save_settings(store, short_vae(args.steps))
        with class_server(runs_dir, TOKEN) as url, chromium(args.browser_nice) as browser:
            pages = []
            for k in range(args.students):
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
            seen: dict[int, tuple[float, float]] = {}
            while len(seen) < len(pages) and time.time() - moment < 300:
                for k, page in enumerate(pages):
                    if k not in seen and (times := after_click(page)) is not None:
                        seen[k] = times
                time.sleep(0.1)
            waits = [shown - clicked for clicked, shown in seen.values()] or [float("inf")]
            clicks = [clicked for clicked, _ in seen.values()] or [float("inf")]
            all_seen = (
                max(shown for _, shown in seen.values()) - min(clicks)
                if len(seen) == len(pages)
                else float("inf")
            )
            print(f"every student saw their run after {all_seen:.2f} s", flush=True)
            renders: list[float] = []
            failed = 0
            while store.list_runs(("queued", "running")):
                for page in pages:
                    began = time.monotonic()
                    try:
                        page.reload(timeout=120_000)
                        wait_for_title(page, "Train a model", 120)
                        script_done(page, 120)
                    except PlaywrightTimeout:
                        failed += 1
                        continue
                    renders.append(time.monotonic() - began)
                    if not store.list_runs(("queued", "running")):
                        break
        runs = store.list_runs()
        finished = [r for r in runs if r.state == "finished"]
        starts = [r.started - r.created for r in runs if r.started is not None]
        span = max(r.finished for r in finished) - min(r.created for r in runs)
        figures = {
            "students": args.students,
            "vae_steps": args.steps,
            "render_p50_s": round(statistics.median(renders), 2),
            "render_p95_s": round(percentile(renders, 0.95), 2),
            "renders": len(renders),
            "renders_over_120_s": failed,
            "all_see_own_run_s": round(all_seen, 2),
            "own_run_seen_p50_s": round(statistics.median(waits), 2),
            "own_run_seen_max_s": round(max(waits), 2),
            "clicks_spread_s": round(max(clicks) - min(clicks), 3),
            "browser_nice": args.browser_nice,
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
