"""Screenshots of every dashboard page with real content, for the README: docs/screenshots/<page>.png.

    python bench/screenshots.py                  # about 5 minutes on 2 busy cores
    python bench/screenshots.py --out /tmp/shots --vae-steps 500
    python bench/screenshots.py --only-class      # the class board and the Teacher page

What it shows is trained here, in a temporary run store, next to the shipped checkpoints: a VAE with
a 2-D latent space on MNIST (its latent map, scores over training time and curves), and an RNN vs
LSTM sweep launched from the page itself (lengths 5-20, one seed). Chromium renders each page at
1400 px wide and as tall as its content.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.browser import (  # noqa: E402
    PAGES,
    chromium,
    dashboard_server,
    missing_browser,
    settle,
    wait_for_title,
)

WIDTH, MAX_HEIGHT = 1400, 4000
SWEEP_LENGTHS = (5, 10, 15, 20)
FILE_NAMES = {"": "overview"}  # url path -> file name; the others keep their url path


def train_vae(runs_dir: Path, steps: int, eval_every: int) -> int:
    """A 2-D VAE on MNIST through the CLI (so it lands in the run store); returns its run id."""
    command = [sys.executable, "-m", "gendl", "train", "vae", "--runs-dir", str(runs_dir)]
    command += ["--set", "model.latent_dim=2", "--set", f"eval_every={eval_every}"]
    command += ["--max-steps", str(steps), "--no-progress", "--json"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["run_id"]


def generator_label(runs_dir: Path, run_id: int) -> str:
    """The run's entry in the pages' generator select box."""
    from gendl.engine.store import RunStore
    from gendl.shipped.sources import run_generators

    (source,) = [s for s in run_generators(RunStore(runs_dir)) if s.run_id == run_id]
    return source.label


SETTLE_S = 600  # a first page load on 2 busy cores can take minutes


def capture(page, path: Path) -> None:
    """The whole page: the viewport is stretched to the height of Streamlit's scrolling main."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.mouse.move(1, 1)  # no hover toolbars
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": WIDTH, "height": min(max(height, 600), MAX_HEIGHT)})
    page.wait_for_timeout(1500)  # Plotly charts relayout to the new size
    settle(page, SETTLE_S)
    page.screenshot(path=str(path))


def open_page(context, url: str, path: str, query: dict | None = None):
    page = context.new_page()
    page.set_default_timeout(300_000)
    page.goto(f"{url}/{path}" + (f"?{urlencode(query, doseq=True)}" if query else ""))
    wait_for_title(page, PAGES[path][1], timeout=120)
    return page


def run_sweep(page) -> None:
    """Launch the sweep set in the URL and wait until every run has ended."""
    page.get_by_role("button", name="Launch sweep").click()
    cells = 2 * len(SWEEP_LENGTHS)
    done = page.get_by_text(re.compile(f"^{cells} of {cells} runs ended"))
    done.wait_for(state="visible", timeout=900_000)


def compare_two_runs(page) -> None:
    """Compare the RNN and the LSTM run at the longest length: their loss curves and configs."""
    box = page.locator('[data-testid="stMultiSelect"]').filter(has_text="runs to compare")
    for model in ("rnn", "lstm"):
        box.locator("input").click()
        page.get_by_role("option", name=re.compile(f"{model} L={SWEEP_LENGTHS[-1]} ")).click()
        page.keyboard.press("Escape")
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for(state="visible")


# class mode (README, Teaching a class): who trains what on the class board
CLASS = (  # display name, model, overrides
    ("Ada L.", "vae", {"lr": 1e-3}),
    ("Grace H.", "vae", {"lr": 3e-3, "model": {"latent_dim": 10}}),
    ("Alan T.", "vae", {"lr": 3e-4}),
    ("Katherine J.", "lstm", {"seq_length": 20}),
    ("Edsger D.", "rnn", {"seq_length": 20}),
    ("Barbara L.", "lstm", {"seq_length": 40, "lr": 3e-3}),
)
TEACHER_TOKEN = "screenshots"


def class_scene(runs_dir: Path, vae_steps: int) -> tuple[list[int], object]:
    """Six students' runs, finished, then two more running, started as those students through
    the engine (class mode, the teacher's locks first); returns the running runs' ids and the
    engine training them (close it after the screenshots)."""
    from gendl.engine.classroom import ClassSettings, join, save_settings
    from gendl.engine.runs import RunEngine
    from gendl.engine.store import RunStore
    from gendl.train import preset_config

    os.environ["GENDL_CLASS"] = "1"
    store = RunStore(runs_dir)
    short = {"max_steps": vae_steps, "eval_every": vae_steps, "n_score_samples": 1000}
    save_settings(store, ClassSettings(models=("vae", "lstm", "rnn"), locks={"vae": short}))
    engine = RunEngine(runs_dir)
    owners = {}
    for k, (name, preset, overrides) in enumerate(CLASS):
        owners[name] = f"{k + 1:032x}"
        join(store, owners[name], name)
        budget = short if preset == "vae" else {"max_steps": 300}
        family, config = preset_config(preset, {**overrides, **budget})
        engine.start(family, config, owner=owners[name], name=preset)
    while store.list_runs(("queued", "running")):
        time.sleep(1)
    running = []  # long sequences: they train through the screenshots
    for name, preset in (("Katherine J.", "lstm"), ("Edsger D.", "rnn")):
        family, config = preset_config(preset, {"seq_length": 60, "max_steps": 20000})
        running.append(engine.start(family, config, owner=owners[name], name=preset))
    return running, engine


def class_shots(out: Path, vae_steps: int) -> list[Path]:
    """The class board and the Teacher page (class mode is on in this process only meanwhile)."""
    from tests.browser import class_server

    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp) / "runs"
        running, engine = class_scene(runs_dir, vae_steps)
        shots = []
        try:
            with class_server(runs_dir, TEACHER_TOKEN) as url, chromium() as browser:
                context = browser.new_context(viewport={"width": WIDTH, "height": 900})
                page = context.new_page()
                page.set_default_timeout(300_000)
                page.goto(f"{url}/teacher?teacher={TEACHER_TOKEN}")
                wait_for_title(page, "Teacher", timeout=120)
                settle(page, SETTLE_S)
                capture(page, out / "class_teacher.png")
                page.goto(f"{url}/")
                wait_for_title(page, "Class board", timeout=120)
                page.wait_for_timeout(3000)  # the running runs' first rows
                settle(page, SETTLE_S)
                capture(page, out / "class_board.png")
                shots = [out / "class_teacher.png", out / "class_board.png"]
        finally:
            for run_id in running:
                if engine.status(run_id).active:
                    engine.stop(run_id)
            engine.close()
            os.environ.pop("GENDL_CLASS", None)
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--vae-steps", type=int, default=1500, help="training steps of the VAE")
    parser.add_argument("--only-class", action="store_true", help="only the class mode pages")
    args = parser.parse_args(argv)
    reason = missing_browser()
    if reason:
        print(json.dumps({"skipped": reason}))
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    written = [
        str(p.relative_to(REPO) if p.is_relative_to(REPO) else p)
        for p in class_shots(args.out, 1000)
    ]
    if args.only_class:
        print(json.dumps({"screenshots": written, "wall_s": round(time.perf_counter() - start, 1)}))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp) / "runs"
        eval_every = max(args.vae_steps // 6, 1)  # six points of score history
        vae_run = train_vae(runs_dir, args.vae_steps, eval_every)
        vae = generator_label(runs_dir, vae_run)
        sweep = {"rnnlstm_lengths": list(SWEEP_LENGTHS), "rnnlstm_seeds": 1}
        vae_form = {"train_vae_latent_dim": 2, "train_vae_max_steps": args.vae_steps}
        vae_form["train_vae_eval_every"] = eval_every  # the form shows the run's settings
        shots = [
            ("rnn_vs_lstm", sweep, run_sweep),  # first: its runs then appear on the other pages
            ("", None, None),
            ("train", {"train_preset": "vae", "train_run": vae_run, **vae_form}, None),
            ("latent", {"latent_generator": vae, "latent_method": "slerp"}, None),
            ("scores", {"scores_generator": vae}, None),
            ("runs", None, compare_two_runs),
            ("gan_cycle", None, None),
        ]
        env = {"GENDL_RUNS_DIR": str(runs_dir)}
        with dashboard_server(env, log=Path(tmp) / "server.log") as url, chromium() as browser:
            context = browser.new_context(viewport={"width": WIDTH, "height": 900})  # one user
            for path, query, action in shots:
                page = open_page(context, url, path, query)
                settle(page, SETTLE_S)
                if action is not None:
                    action(page)
                    settle(page, SETTLE_S)
                target = args.out / f"{FILE_NAMES.get(path, path)}.png"
                capture(page, target)
                page.close()
                written.append(
                    str(target.relative_to(REPO) if target.is_relative_to(REPO) else target)
                )
    print(json.dumps({"screenshots": written, "wall_s": round(time.perf_counter() - start, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
