"""The manifest of shipped checkpoints (``checkpoints/manifest.json``): one entry per file with its
kind, model config, training command, steps, wall time and scores, so every number can be rerun.

    python -m gendl.shipped.manifest checkpoints/vae.pt --name "VAE (seed 003)" \\
        --command "python -m gendl train vae --half --out checkpoints/vae.pt --json"

scores the checkpoint with the shipped classifier (``classifier.pt`` beside it): a generator's
inception score on 10,000 samples (mean and std over 10 splits), or a classifier's test accuracy and
the real MNIST test set's inception score (the ceiling a generator can reach). The entry for that file
is replaced, or appended if it is new. Steps and wall time come from the checkpoint's own metadata.
``checkpoints/README.md`` is then rewritten from the whole manifest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gendl.checkpoints import Checkpoint, load_checkpoint, load_model, seal_checkpoint
from gendl.config import config_to_dict
from gendl.data import load_images
from gendl.errors import GendlError
from gendl.metrics import classifier_probs, inception_score, score_generator
from gendl.shipped.catalogue import CHECKPOINT_DIR, CLASSIFIER_NAME, MANIFEST_NAME, read_manifest

README_NAME = "README.md"
N_SCORE_SAMPLES = 10_000
SCORE_SEED = 0  # noise seed of the scoring samples, so a rerun gives the same figure


def generator_scores(
    model: nn.Module,
    classifier: nn.Module,
    n_samples: int = N_SCORE_SAMPLES,
    seed: int = SCORE_SEED,
) -> dict[str, Any]:
    """Inception score of ``n_samples`` fresh samples: mean and std over 10 splits."""
    generator = torch.Generator().manual_seed(seed)
    scores = score_generator(model, classifier, n_samples, generator=generator)
    return {
        "inception_score": round(scores["inception_score"], 4),
        "inception_std": round(scores["inception_std"], 4),
        "n_samples": n_samples,
    }


def classifier_scores(classifier: nn.Module) -> dict[str, Any]:
    """Test accuracy and the inception score of the real MNIST test set (10,000 images)."""
    test = load_images("mnist", train=False)
    probs = classifier_probs(classifier, test.images)  # (10000, 10)
    mean, std = inception_score(probs)
    return {
        "test_acc": round((probs.argmax(1) == test.labels).float().mean().item(), 4),
        "mnist_test_inception_score": round(mean, 4),
        "mnist_test_inception_std": round(std, 4),
    }


def checkpoint_entry(
    path: Path, name: str, command: str, n_samples: int = N_SCORE_SAMPLES
) -> dict[str, Any]:
    """The manifest entry for one checkpoint, scored now with the classifier beside it; a file
    written before checkpoints carried their checksum gets one first."""
    seal_checkpoint(path)
    checkpoint: Checkpoint = load_checkpoint(path)
    classifier = load_model(path.parent / CLASSIFIER_NAME, kind="classifier")
    if checkpoint.kind == "classifier":
        scores = classifier_scores(checkpoint.build())
    else:
        scores = generator_scores(checkpoint.build(), classifier, n_samples)
    meta = checkpoint.meta
    return {
        "file": path.name,
        "kind": checkpoint.kind,
        "name": name,
        "preset": meta.get("name"),
        "config": config_to_dict(checkpoint.config),
        "train_config": meta.get("config"),  # the full training config the run used
        "command": command,
        "steps": meta.get("step"),
        "wall_s": round(meta["elapsed_s"], 1) if "elapsed_s" in meta else None,
        "scores": scores,
        "classifier": CLASSIFIER_NAME,
    }


def update_manifest(entry: dict[str, Any], directory: Path = CHECKPOINT_DIR) -> list[dict]:
    """Replace the entry for ``entry["file"]`` (or append it) and write the file atomically."""
    entries = read_manifest(directory)
    files = [e.get("file") for e in entries]
    if entry["file"] in files:
        entries[files.index(entry["file"])] = entry  # an update keeps its place
    else:
        entries.append(entry)
    path = directory / MANIFEST_NAME
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(entries, indent=2) + "\n")
    os.replace(tmp, path)
    return entries


def _score_text(scores: dict[str, Any]) -> str:
    if "test_acc" in scores:
        return (
            f"test accuracy {100 * scores['test_acc']:.2f}%; MNIST test set IS "
            f"{scores['mnist_test_inception_score']:.3f} ± {scores['mnist_test_inception_std']:.3f}"
        )
    return f"IS {scores['inception_score']:.3f} ± {scores['inception_std']:.3f}"


def _storage(path: Path) -> str:
    state = load_checkpoint(path).state_dict.values()
    return "fp16" if any(v.dtype == torch.float16 for v in state) else "fp32"


def readme_text(entries: list[dict[str, Any]], directory: Path) -> str:
    """``checkpoints/README.md``: every file with its size, scores and the commands that made it."""
    lines = [
        "# Shipped checkpoints",
        "",
        "Written by `python -m gendl.shipped.manifest` from `manifest.json` (rerun it rather than editing).",
        "Each file is `{kind, config, state_dict, meta}` (`gendl/checkpoints.py`), read with",
        "`torch.load(weights_only=True)`; fp16 files load as float32. IS is the inception score of",
        "10,000 samples (mean ± std over 10 splits of 1,000) judged by `classifier.pt`; the real MNIST",
        "test set's IS under the same classifier is the ceiling. Train times are the runs' own clocks",
        "on a 2-core CPU shared with other work, so they vary from run to run.",
        "",
        "| file | model | storage | size | steps | train time | scores |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        path = directory / e["file"]
        size = f"{path.stat().st_size / 2**20:.1f} MB" if path.is_file() else "missing"
        storage = _storage(path) if path.is_file() else "-"
        lines.append(
            f"| `{e['file']}` | {e['name']} | {storage} | {size} | {e['steps']} | "
            f"{e['wall_s']} s | {_score_text(e['scores'])} |"
        )
    lines += [
        "",
        "## Reproduce",
        "",
        "The command that trained each file, then the one that scored it:",
    ]
    for e in entries:
        rescore = (
            f'python -m gendl.shipped.manifest checkpoints/{e["file"]} --name "{e["name"]}" \\\n'
            f'    --command "{e["command"]}"'
        )
        lines += ["", f"`{e['file']}`, {e['name']}:", "", "```bash", e["command"], rescore, "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gendl.shipped.manifest", description=__doc__.splitlines()[0]
    )
    parser.add_argument("checkpoint", help="a .pt file in the checkpoints directory")
    parser.add_argument("--name", required=True, help='human label, e.g. "MLP GAN (seed 003)"')
    parser.add_argument("--command", required=True, help="the exact command that trained it")
    parser.add_argument("--n-samples", type=int, default=N_SCORE_SAMPLES)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    path = Path(args.checkpoint)
    try:
        entry = checkpoint_entry(path, args.name, args.command, args.n_samples)
    except GendlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    entries = update_manifest(entry, path.parent)
    (path.parent / README_NAME).write_text(readme_text(entries, path.parent))
    print(json.dumps(entry))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
