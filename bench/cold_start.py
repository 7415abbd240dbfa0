"""Cold start: time from launching ``streamlit run dashboard.py`` to the Overview page rendered in
Chromium (its title visible), median over fresh server processes (goal: <= 5 s).

    python bench/cold_start.py            # 3 starts; JSON on the last line
    python bench/cold_start.py --runs 5

Chromium is launched before the clock starts (it is the user's browser, not the dashboard's cost).
The run store is a fresh temporary directory, the checkpoints are the shipped ones. Printed as JSON,
seconds:

    first_page_s          launch -> Overview title visible (median; every start in first_page_all_s)
    serving_s             launch -> the server's health endpoint answers (median)
    overview_imports      heavy packages the Overview page's first run imports, and its duration,
                          measured in a fresh AppTest process: torch must not be among them
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.browser import (  # noqa: E402
    PAGES,
    chromium,
    dashboard_server,
    missing_browser,
    wait_for_title,
)

GOAL_S = 5.0
HEAVY = ("torch", "torchvision", "plotly", "pandas", "numpy", "PIL", "pyarrow")
# run in a fresh interpreter: which heavy packages the Overview page itself brings in
IMPORTS_PROBE = """
import json, sys, time
from streamlit.testing.v1 import AppTest
heavy = {heavy!r}
before = {{name for name in heavy if name in sys.modules}}
start = time.perf_counter()
at = AppTest.from_file("app_pages/overview.py", default_timeout=120).run()
seconds = time.perf_counter() - start
assert not at.exception, at.exception
after = [name for name in heavy if name in sys.modules and name not in before]
gendl = sorted(name for name in sys.modules if name.startswith("gendl"))
print(json.dumps({{"imported": after, "already_with_streamlit": sorted(before),
                  "first_run_s": round(seconds, 2), "gendl_modules": gendl}}))
"""


def first_page_seconds(browser, env: dict[str, str]) -> tuple[float, float]:
    """(launch -> health endpoint, launch -> Overview title visible) for one fresh server."""
    start = time.perf_counter()
    with dashboard_server(env) as url:
        serving = time.perf_counter() - start
        page = browser.new_page()
        try:
            page.goto(url)
            wait_for_title(page, PAGES[""][1], timeout=120)
            return serving, time.perf_counter() - start
        finally:
            page.close()


def overview_imports(env: dict[str, str]) -> dict:
    probe = IMPORTS_PROBE.format(heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="server starts to time")
    args = parser.parse_args(argv)
    reason = missing_browser()
    if reason:
        print(json.dumps({"skipped": reason}))
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GENDL_RUNS_DIR": str(Path(tmp) / "runs")}
        with chromium() as browser:
            timings = [first_page_seconds(browser, env) for _ in range(args.runs)]
        imports = overview_imports(env)
    first_page = [round(total, 2) for _, total in timings]
    result = {
        "runs": args.runs,
        "first_page_s": round(statistics.median(first_page), 2),
        "first_page_all_s": first_page,
        "serving_s": round(statistics.median(serving for serving, _ in timings), 2),
        "overview_imports": imports,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "goal_s": GOAL_S,
    }
    print(json.dumps(result))
    return 0 if result["first_page_s"] <= GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
