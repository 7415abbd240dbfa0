"""Latent explorer latency: the server-side work when the path slider moves (goal: <= 20 ms).

    python bench/latent_latency.py                       # default MLP GAN (untrained: same cost)
    python bench/latent_latency.py --checkpoint checkpoints/gan.pt --moves 40

The page decodes the whole path once (``latent_walk``: 101 slider frames as PNGs, plus the strip),
and the slider lives in a fragment (``app_pages.explore_common.path_position``) that only picks one
of those PNGs. Printed as JSON, medians in milliseconds:

    slider_move_ms        the fragment's script run for one slider move, in AppTest
    apptest_overhead_ms   an empty script run in AppTest (included in slider_move_ms)
    full_rerun_ms         the whole Latent explorer page rerun after a slider move, what it would
                          cost without the fragment (cached path, strip and map figures rebuilt)
    decode_one_frame_ms   decoding and classifying one latent, what a move would cost without the
                          precomputed frames
    precompute_ms         ``latent_walk`` once per generator and settings
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from gendl.checkpoints import load_model, save_checkpoint  # noqa: E402
from gendl.models import GAN, GANConfig  # noqa: E402
from gendl.shipped.sources import CHECKPOINT_DIR_ENV  # noqa: E402
from gendl.train.scoring import shipped_classifier  # noqa: E402
from gendl.views.explore import decode_point, latent_walk  # noqa: E402

FRAGMENT_SCRIPT = """
import streamlit as st
from app_pages.explore_common import path_position
walk = st.session_state["bench_walk"]
path_position(walk.slider, walk.pngs)
"""


def median_ms(samples: list[float]) -> float:
    return round(1000 * statistics.median(samples), 2)


def timed_moves(at: AppTest, moves: int) -> list[float]:
    """Seconds per run of ``at`` after setting the latent slider to a new position."""
    times = []
    for i in range(moves):
        slider = at.slider(key="latent_alpha")
        slider.set_value(round((i * 37 % 100) / 100, 2))
        start = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - start)
        assert not at.exception, at.exception
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="a GAN or VAE checkpoint (default: fresh MLP GAN)")
    parser.add_argument("--moves", type=int, default=30, help="slider moves per measurement")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the server's)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.chdir(REPO)

    model = load_model(args.checkpoint, ("gan", "vae")) if args.checkpoint else GAN(GANConfig())
    classifier = shipped_classifier()
    settings = {"mode": "seeds", "method": "slerp", "n_frames": 10}
    start = time.perf_counter()
    walk = latent_walk(model, classifier, **settings)
    precompute = time.perf_counter() - start
    z = walk.slider.latents[50]
    decode = []
    for _ in range(args.moves):
        start = time.perf_counter()
        decode_point(model, z, classifier)
        decode.append(time.perf_counter() - start)

    fragment = AppTest.from_string(FRAGMENT_SCRIPT)
    fragment.session_state["bench_walk"] = walk
    fragment.run()
    slider_move = timed_moves(fragment, args.moves)
    empty = AppTest.from_string("import streamlit as st")
    overhead = []
    for _ in range(args.moves):
        start = time.perf_counter()
        empty.run()
        overhead.append(time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as tmp:
        os.environ[CHECKPOINT_DIR_ENV] = tmp
        os.environ["GENDL_RUNS_DIR"] = str(Path(tmp) / "runs")
        if args.checkpoint:
            shutil.copy(args.checkpoint, Path(tmp) / "bench.pt")
        else:
            save_checkpoint(Path(tmp) / "bench.pt", model)
        page = AppTest.from_file(str(REPO / "app_pages" / "latent.py"), default_timeout=120)
        page.run()
        full_rerun = timed_moves(page, max(5, args.moves // 3))

    result = {
        "generator": args.checkpoint or "GAN(GANConfig()) untrained, mlp, latent_dim 100",
        "torch_threads": args.threads,
        "moves": args.moves,
        "slider_move_ms": median_ms(slider_move),
        "slider_move_max_ms": round(1000 * max(slider_move), 2),
        "apptest_overhead_ms": median_ms(overhead),
        "full_rerun_ms": median_ms(full_rerun),
        "decode_one_frame_ms": median_ms(decode),
        "precompute_ms": round(1000 * precompute, 1),
        "goal_ms": 20,
    }
    print(json.dumps(result))
    return 0 if result["slider_move_ms"] <= result["goal_ms"] else 1


if __name__ == "__main__":
    sys.exit(main())
