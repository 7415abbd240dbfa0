"""Command line: ``python -m gendl {sample,train} ...``; ``--help`` on each command.

    python -m gendl sample --checkpoint checkpoints/vae.pt --n 64 --seed 0 --out samples.npy
    python -m gendl train classifier --max-steps 1900 --out checkpoints/classifier.pt
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gendl.errors import GendlError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


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


def cmd_train_classifier(args: argparse.Namespace) -> int:
    from gendl.checkpoints import save_checkpoint
    from gendl.data import load_mnist
    from gendl.models.classifier import ClassifierConfig
    from gendl.train.classifier import ClassifierTrainConfig, train_classifier

    config = ClassifierTrainConfig(
        model=ClassifierConfig(arch=args.arch),
        lr=args.lr,
        batch_size=args.batch_size,
        max_steps=args.max_steps,
        max_seconds=args.max_seconds,
        seed=args.seed,
    )
    model, history = train_classifier(config, load_mnist(True), load_mnist(False))
    final = history[-1]
    meta = {"step": final["step"], "wall_s": round(final["elapsed_s"], 1), "test_acc": final["test_acc"]}
    if args.out:
        save_checkpoint(args.out, model, meta)
    print(json.dumps(meta) if args.json else f"test accuracy {final['test_acc']:.4f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gendl", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    sample = commands.add_parser("sample", help="write generated digits as a .npy array")
    sample.add_argument("--checkpoint", required=True, help="a GAN or VAE checkpoint (.pt)")
    sample.add_argument("--n", type=_positive_int, default=64, help="number of images (default 64)")
    sample.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    sample.add_argument("--out", required=True, help="output file, float32 (N, 28, 28) in [0, 1]")
    sample.set_defaults(func=cmd_sample)

    train = commands.add_parser("train", help="train a model")
    families = train.add_subparsers(dest="family", required=True)
    clf = families.add_parser("classifier", help="MNIST classifier used for inception scores")
    clf.add_argument("--arch", default="cnn", help="cnn (default) or mlp (the seeds' network)")
    clf.add_argument("--lr", type=float, default=3e-3)
    clf.add_argument("--batch-size", type=int, default=128)
    clf.add_argument("--max-steps", type=int, default=1900)
    clf.add_argument("--max-seconds", type=float, default=None)
    clf.add_argument("--seed", type=int, default=0)
    clf.add_argument("--out", default=None, help="checkpoint path to write")
    clf.add_argument("--json", action="store_true", help="print the final metrics as JSON")
    clf.set_defaults(func=cmd_train_classifier)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except GendlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
