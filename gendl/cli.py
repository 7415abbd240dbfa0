"""Command line: ``python -m gendl {sample,train,sweep,runs,cluster,class} ...``; ``--help`` on each.

    python -m gendl train lstm --set seq_length=40 --max-seconds 60 --json
    python -m gendl train classifier --out checkpoints/classifier.pt
    python -m gendl sweep --models rnn lstm --lengths 5 10 15 20 --seeds 3 --workers 2 --json
    python -m gendl runs list | show ID | export ID --out run.zip | stop ID | resume ID | delete ID
    python -m gendl class --address 0.0.0.0 --port 8501     # the dashboard for a class on a LAN
    python -m gendl sample --checkpoint checkpoints/vae.pt --n 64 --seed 0 --out samples.npy

``train`` is queued in the run store (``runs/``, or ``--runs-dir``, or ``$GENDL_RUNS_DIR``) like the
dashboard's runs and sweeps, waits for one of the machine's workers (the same bound for all of them),
then trains in this process (the same loop as the engine's workers); ``runs list`` shows it. SIGTERM
or Ctrl-C stops it with its checkpoint and model saved.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from gendl.cli_class import add_class_command
from gendl.cli_store import EXIT_CODES, add_store_commands, print_end, progress, train_here
from gendl.engine.pool import CPU_RUNS
from gendl.errors import GendlError
from gendl.outputs import copy_model, output_path

DEVICE_HELP = "auto (default: a GPU if torch sees one, else the CPU), cpu, cuda or cuda:N"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["model.hidden_dim=64", "data=fake"]`` -> ``{"model": {"hidden_dim": 64}, "data": "fake"}``

    Values are read as JSON (numbers, true/false, null, lists), anything else as a string.
    """
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key or "" in key.split("."):
            raise GendlError(f"--set needs key=value (nested keys with dots), got {item!r}")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        *parents, leaf = key.split(".")
        node = overrides
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise GendlError(f"--set {item!r}: {part} was already given a value")
        node[leaf] = value
    return overrides


# ---------------------------------------------------------------- sample


def cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from gendl.checkpoints import load_checkpoint
    from gendl.models import GENERATIVE_KINDS

    if args.n > 100_000:
        raise GendlError(f"--n must be at most 100000, got {args.n}")
    out = Path(args.out)
    if out.suffix != ".npy":
        raise GendlError(f"--out must end in .npy, got {out}")
    model = load_checkpoint(args.checkpoint, kind=GENERATIVE_KINDS).build()
    generator = torch.Generator().manual_seed(args.seed)
    images = model.sample(args.n, generator=generator)  # (N, 1, 28, 28) in [0, 1]
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, images.reshape(-1, 28, 28).clamp(0, 1).numpy().astype(np.float32))
    print(f"wrote {args.n} images to {out}")
    return 0


# ---------------------------------------------------------------- train


def _train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides = parse_overrides(args.set)
    for flag in ("max_steps", "max_seconds", "seed", "device"):
        if getattr(args, flag) is not None:
            overrides[flag] = getattr(args, flag)
    return overrides


class _TrainHelp(argparse.Action):
    """``train MODEL --help``: the usage, then MODEL's fields from its family's form spec."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # noqa: ANN001
        from gendl.config import config_to_dict
        from gendl.train import FAMILIES, PRESETS, preset_config
        from gendl.train.spec import describe

        parser.print_help()
        model = getattr(namespace, "model", None)
        if model in PRESETS:
            family, config = preset_config(model)
            print(f"\n{model} settings (--set NAME=VALUE), their allowed values and defaults:")
            print(describe(FAMILIES[family].form, config_to_dict(config)))
        else:
            print("\nPut the model first (train lstm --help) to list its settings.")
        parser.exit()


def cmd_train(args: argparse.Namespace) -> int:
    from gendl.engine.cluster import CLUSTER_ENV
    from gendl.engine.pool import ThisProcess
    from gendl.engine.records import MODEL_NAME
    from gendl.engine.runs import RunEngine
    from gendl.train import preset_config

    family, config = preset_config(args.model, _train_overrides(args))
    # checked before training; an existing FILE.pt is replaced (retraining a shipped checkpoint)
    target = output_path(args.out, ".pt", f"{args.model}.pt", replace=True) if args.out else None
    if os.environ.get(CLUSTER_ENV):
        with progress(config.max_steps, args.model, args.no_progress) as (on_step, last):
            run_id, state, reason, store = _train_on_cluster(args, family, config, on_step)
    else:  # queued like every run, then trained in this process once the machine has a worker
        engine = RunEngine(args.runs_dir, backend=ThisProcess)
        run_id, store = engine.start(family, config, name=args.model), engine.store
        state, reason, last = train_here(store, run_id, args.model, args.threads, args.no_progress)
    model_path = store.run_dir(run_id) / MODEL_NAME
    summary = {"run_id": run_id, "model": args.model, "family": family, "state": state, **last}
    summary["wall_s"] = round(summary.pop("elapsed_s", 0.0), 2)
    if target is not None and model_path.is_file():
        summary["checkpoint"] = str(copy_model(model_path, target, args.half))
    if state == "failed" or not args.json:
        print_end(store, run_id, state, reason, last)
    if args.json:
        print(json.dumps(summary))
    return EXIT_CODES.get(state, 0)


def _train_on_cluster(args: argparse.Namespace, family: str, config: Any, on_step) -> tuple:
    """The run as a task on the cluster's workers, its rows read back as they arrive; returns
    ``(run id, state, reason, store)``."""
    from gendl.config import config_to_dict
    from gendl.engine.runs import TERMINAL_STATES, RunEngine

    with RunEngine(args.runs_dir) as engine:
        run_id = engine.start(family, config_to_dict(config), name=args.model)
        step = 0
        while True:
            run = engine.status(run_id)
            for row in engine.metrics_since(run_id, step):
                on_step(row)
                step = row["step"]
            if run.state in TERMINAL_STATES:
                return run_id, run.state, run.reason, engine.store
            time.sleep(0.2)


# ---------------------------------------------------------------- sweep


def cmd_sweep(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from gendl.engine.sweep import Sweep, run_sweep

    overrides = parse_overrides(args.set)
    if args.max_seconds_per_run is not None:
        overrides["max_seconds"] = args.max_seconds_per_run
    if args.device is not None:
        overrides["device"] = args.device
    sweep = Sweep.grid(args.models, args.lengths, args.seeds, args.preset, overrides)
    with tqdm(total=len(sweep.cells), desc="sweep", unit="run", file=sys.stderr) as bar:
        result = run_sweep(
            sweep, workers=args.workers, root=args.runs_dir, on_done=lambda c, r: bar.update()
        )
    print(f"{'model':6} {'length':>6}  {'test acc (mean ± std)':>21}  {'seeds':>5}  {'steps':>7}")
    for row in result["results"]:
        mean = "-" if row["test_acc_mean"] is None else f"{row['test_acc_mean']:.3f}"
        acc = f"{mean} ± {row['test_acc_std']:.3f}"
        print(
            f"{row['model']:6} {row['length']:6d}  {acc:>21}  {row['n_seeds']:5d}  "
            f"{row['steps_mean']:7.0f}"
        )
    print(f"{len(sweep.cells)} runs in {result['wall_s']:.1f} s")
    if args.json:
        print(json.dumps(result))
    return 0


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from gendl.train import PRESETS
    from gendl.train.sequence import SWEEP_PRESETS

    parser = argparse.ArgumentParser(prog="python -m gendl", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument(
        "--runs-dir", default=None, help="run store (default $GENDL_RUNS_DIR or runs/)"
    )
    store.add_argument(
        "--cluster",
        default=None,
        metavar="tcp://HOST:PORT",
        help="train on this Dask scheduler's workers (default $GENDL_CLUSTER: none, this machine)",
    )
    overrides = argparse.ArgumentParser(add_help=False)
    overrides.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override, repeatable; nested keys with dots (--set model.hidden_dim=64)",
    )

    sample = commands.add_parser("sample", help="write generated digits as a .npy array")
    sample.add_argument("--checkpoint", required=True, help="a GAN or VAE checkpoint (.pt)")
    sample.add_argument("--n", type=_positive_int, default=64, help="number of images (default 64)")
    sample.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    sample.add_argument("--out", required=True, help="output file, float32 (N, 28, 28) in [0, 1]")
    sample.set_defaults(func=cmd_sample)

    train = commands.add_parser(
        "train", parents=[store, overrides], help="train one model", add_help=False
    )
    train.add_argument("-h", "--help", action=_TrainHelp, help="this help and MODEL's settings")
    train.add_argument("model", choices=list(PRESETS), help="preset: a family and its settings")
    train.add_argument("--max-steps", type=_positive_int, default=None)
    train.add_argument("--max-seconds", type=float, default=None, help="wall-time budget")
    train.add_argument("--seed", type=int, default=None)
    train.add_argument("--device", default=None, help=DEVICE_HELP)
    train.add_argument("--out", default=None, help="copy the trained model to FILE.pt or DIR/")
    train.add_argument("--half", action="store_true", help="store --out's weights as fp16")
    train.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        help="torch threads (default 1: fastest once anything else uses the CPU)",
    )
    train.add_argument("--json", action="store_true", help="final metrics as JSON, last line")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)

    sweep = commands.add_parser("sweep", parents=[store, overrides], help="RNN vs LSTM grid")
    sweep.add_argument("--models", nargs="+", choices=("rnn", "lstm"), default=["rnn", "lstm"])
    sweep.add_argument("--lengths", nargs="+", type=_positive_int, default=[5, 10, 15, 20])
    sweep.add_argument("--seeds", type=_positive_int, default=3, help="seeds 0 .. N-1 per cell")
    sweep.add_argument("--preset", choices=list(SWEEP_PRESETS), default="default")
    sweep.add_argument("--max-seconds-per-run", type=float, default=None)
    sweep.add_argument(
        "--workers",
        type=_positive_int,
        default=CPU_RUNS,
        help=f"parallel runs (default {CPU_RUNS})",
    )
    sweep.add_argument("--device", default=None, help=DEVICE_HELP)
    sweep.add_argument("--json", action="store_true", help="results as JSON, last line")
    sweep.set_defaults(func=cmd_sweep)

    add_store_commands(commands, store)
    add_class_command(commands, store)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "cluster", None):  # every engine this command starts uses the cluster
        from gendl.engine.cluster import CLUSTER_ENV

        os.environ[CLUSTER_ENV] = args.cluster
    try:
        return args.func(args)
    except GendlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
