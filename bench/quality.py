"""Time-to-quality of a generative model: train a preset with the project's own loop, check a cheap
inception score every ``check_every`` steps; a check that reaches the target is confirmed with the
full score (10,000 samples, 10 splits) on the model as it is at that moment, and training stops
once a confirmation reaches the target too (a lucky cheap check alone does not end the run).

    python bench/quality.py vae --target 9.0              # the shipped preset
    python bench/quality.py vae --target 9.0 --seed-recipe --max-seconds 200
    python bench/quality.py dcgan --target 8.5 --check-every 250 --set precision=bf16

The wall time counts training, the periodic checks and the confirmations that fell short (everything
but the final confirmation). The seed recipes are the settings of the course write-ups the presets
started from (seed 003), kept here so the tuned presets can be compared with them in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import torch  # noqa: E402

from gendl.cli import parse_overrides  # noqa: E402
from gendl.config import deep_merge  # noqa: E402
from gendl.errors import GendlError  # noqa: E402
from gendl.shipped.manifest import generator_scores  # noqa: E402
from gendl.train import make_trainer, preset_config  # noqa: E402
from gendl.train.common import StopTraining, run_trainer  # noqa: E402
from gendl.train.scoring import shipped_classifier  # noqa: E402

SEED_GAN: dict[str, Any] = {
    "model": {"arch": "mlp", "noise": "uniform"},
    "ema_decay": 0.0,
    "lr_d": 1e-3,
    "lr_g": 1e-3,
    "beta1": 0.5,
    "batch_size": 128,
}
# seed 003's settings, as overrides of each preset (its loops run whole epochs of 469 batches)
SEED_RECIPES: dict[str, dict[str, Any]] = {
    # 20 epochs, Adam 1e-3, batch 128, Bernoulli cross-entropy without the log C term, the plain
    # ELBO (KL weight 1), N(0, I)
    "vae": {
        "log_norm_coef": 0.0,
        "kl_weight": 1.0,
        "lr": 1e-3,
        "lr_schedule": "constant",
        "kl_warmup_steps": 0,
        "batch_size": 128,
        "max_steps": 20 * 469,
        "model": {"prior_components": 0},
    },
    # run_a_gan: its MLP networks and uniform noise, no weight average, 10 epochs, Adam 1e-3 with
    # betas (0.5, 0.999), batch 128, one D and one G update
    "gan": {**SEED_GAN, "max_steps": 10 * 469},
    "lsgan": {**SEED_GAN, "max_steps": 10 * 469},
    # 5 epochs as seed 003 asks; it trains its DCGAN with the least-squares loss
    "dcgan": {
        "ema_decay": 0.0,
        "loss": "ls",
        "lr_d": 1e-3,
        "lr_g": 1e-3,
        "beta1": 0.5,
        "batch_size": 128,
        "max_steps": 5 * 469,
    },
}


def time_to_quality(
    preset: str,
    target: float,
    overrides: dict[str, Any] | None = None,
    check_every: int = 200,
    check_samples: int = 2000,
    max_seconds: float | None = None,
    confirm_samples: int = 10_000,
) -> dict[str, Any]:
    """Train ``preset`` until a check and its confirmation reach ``target``, or the budget (the
    preset's ``max_steps``, and ``max_seconds`` if given) runs out. Returns the wall time, steps,
    every check and confirmation, and the scores of the last ones."""
    values = {**(overrides or {}), "eval_every": check_every, "n_score_samples": check_samples}
    if max_seconds is not None:
        values["max_seconds"] = max_seconds
    family, config = preset_config(preset, values)
    trainer = make_trainer(family, config)
    classifier = shipped_classifier(trainer.device)  # samples are scored where they are made
    checks: list[tuple[int, float, float]] = []  # (step, elapsed_s, cheap IS)
    confirmations: list[tuple[int, dict[str, float]]] = []  # (step, full score) of passed checks

    def full_score() -> dict[str, float]:
        model = trainer.export_model()  # the weight average of a GAN, the fitted prior of a VAE
        return generator_scores(model, classifier, confirm_samples)

    def on_step(metrics: dict[str, Any]) -> None:
        if "inception_score" in metrics:
            checks.append((metrics["step"], metrics["elapsed_s"], metrics["inception_score"]))
            if metrics["inception_score"] >= target:
                confirmations.append((trainer.step_count, full_score()))
                if confirmations[-1][1]["inception_score"] >= target:
                    raise StopTraining

    history = run_trainer(trainer, on_step)
    confirmed = bool(confirmations) and confirmations[-1][0] == trainer.step_count
    last = confirmations[-1][1] if confirmed else full_score()  # else: the model as it ended
    return {
        "preset": preset,
        "overrides": overrides or {},
        "target": target,
        "reached": confirmed and last["inception_score"] >= target,
        "wall_s": round(history[-1]["elapsed_s"], 1),
        "steps": trainer.step_count,
        "check_samples": check_samples,
        "check_is": round(checks[-1][2], 3) if checks else None,
        "confirm_is": round(last["inception_score"], 3),
        "confirm_std": round(last["inception_std"], 3),
        "confirm_samples": confirm_samples,
        "checks": [(s, round(t, 1), round(v, 3)) for s, t, v in checks],
        "confirmations": [(s, round(c["inception_score"], 3)) for s, c in confirmations],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", choices=list(SEED_RECIPES))
    parser.add_argument("--target", type=float, required=True)
    parser.add_argument("--seed-recipe", action="store_true", help="seed 003's settings instead")
    parser.add_argument("--check-every", type=int, default=200)
    parser.add_argument("--check-samples", type=int, default=2000)
    parser.add_argument("--max-seconds", type=float, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override of the preset (or seed recipe), as in `gendl train --set`",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    try:
        overrides = deep_merge(
            SEED_RECIPES[args.preset] if args.seed_recipe else {}, parse_overrides(args.set)
        )
        result = time_to_quality(
            args.preset,
            args.target,
            overrides,
            args.check_every,
            args.check_samples,
            args.max_seconds,
        )
    except GendlError as exc:  # a bad --set value: name it, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
