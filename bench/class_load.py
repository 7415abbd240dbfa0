"""A class of 30 on this machine: 30 students, each in their own Chromium context, join a class server
and start a short VAE run at once; what they wait for is measured.

    python bench/class_load.py                   # about 5 minutes on 2 cores
    python bench/class_load.py --students 12 --steps 200

The teacher's settings come first, as in a real class: the VAE locked to a short run (``--steps``
steps, one evaluation at the end on 1,000 samples). Reported (and written as JSON to ``--out``):
- page render p50/p95 during the load: the students reload the Train page one after another
  until every run has ended, each from the navigation to its script run ended (goal p95 <= 2 s);
- until every student sees their own run listed after the clicks (goal <= 3 s);
- the longest any student waits for their run to start (it is queued: 2 runs train at a time);
- runs finished per minute.
"""

from __future__ import annotations

import argparse
import json
import re
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
    chromium,
    class_server,
    join_class,
    missing_browser,
    script_done,
    wait_for_title,
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
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()
    if missing_browser():
        print(f"cannot run: {missing_browser()}", file=sys.stderr)
        return 2
    listed = re.compile(LISTED)
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp) / "runs"
        store = RunStore(runs_dir)
        save_settings(store, short_vae(args.steps))
        with class_server(runs_dir, TOKEN) as url, chromium() as browser:
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

            clicked: dict[int, float] = {}
            for k, page in enumerate(pages):  # at once: no waiting for each page between clicks
                page.get_by_role("button", name="Start", exact=True).dispatch_event("click")
                clicked[k] = time.monotonic()
            first_click = min(clicked.values())
            seen: dict[int, float] = {}
            while len(seen) < len(pages) and time.monotonic() - first_click < 300:
                for k, page in enumerate(pages):
                    if k not in seen and page.get_by_text(listed).count():
                        seen[k] = time.monotonic()
            waits = [seen[k] - clicked[k] for k in seen] or [float("inf")]
            all_seen = max(seen.values()) - first_click if len(seen) == len(pages) else float("inf")
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
            "clicks_s": round(max(clicked.values()) - first_click, 2),
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
