"""Every benchmark in one run; writes bench/results.md (the table the README shows) and results.json.

    python bench/run.py                  # everything: about 30 minutes on 2 quiet cores
    python bench/run.py --only vae       # one benchmark (repeatable: --only vae --only gan)
    python bench/run.py --quick          # tiny budgets: checks the harness, not the figures

Time-to-quality (bench/quality.py) trains each shipped preset on 2 threads with a cheap inception
score (2,000 samples) checked every few hundred steps, confirms each check over the target on 10,000
samples and stops at the first confirmation over it; the seed 003 recipe runs beside it. The other
figures come from the scripts that own them (lstm_speed.py, engine_overhead.py, latent_latency.py)
and from the CLI's sweep; each is run as a subprocess and its JSON line read back.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from quality import SEED_RECIPES, time_to_quality  # noqa: E402

Result = dict[str, Any]
SKIP_BASELINES = False  # --no-baselines: only the tuned presets (halves the time-to-quality part)


class Quality(NamedTuple):
    target: float  # inception score
    goal_s: float
    check_every: int  # steps
    overrides: dict[str, Any] = {}  # of the preset, as `gendl train --set` would give them


# bfloat16 products: 1.45-1.7x faster steps on this CPU (avx512_bf16), same scores
QUALITY: dict[str, Quality] = {
    "vae": Quality(9.0, 60.0, 1000, {"precision": "bf16"}),  # each check fits the prior
    "gan": Quality(8.0, 180.0, 500),
    "lsgan": Quality(8.0, 180.0, 500),
    "dcgan": Quality(8.5, 300.0, 250, {"precision": "bf16"}),
}


def machine() -> Result:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
    }


def json_line(command: list[str], timeout: float) -> Result:
    """Run a benchmark script and return the JSON object on its last stdout line."""
    run = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    if not lines:  # some scripts exit 1 when they miss their goal: the figure still counts
        tail = (run.stderr or run.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(command[1:])} exited {run.returncode}: {' | '.join(tail)}")
    return json.loads(lines[-1])


# ---------------------------------------------------------------- benchmarks


def quality(preset: str, quick: bool) -> Result:
    target, goal, check_every, overrides = QUALITY[preset]
    budget = {"max_steps": 20} if quick else {}
    kwargs = (
        {"check_every": 10, "check_samples": 100, "confirm_samples": 200}
        if quick
        else {"check_every": check_every}
    )
    result: Result = {"goal_s": goal}
    result["tuned"] = time_to_quality(preset, target, {**overrides, **budget}, **kwargs)
    if not SKIP_BASELINES:
        recipe = {**SEED_RECIPES[preset], **budget}
        result["seed_recipe"] = time_to_quality(preset, target, recipe, **kwargs)
    else:
        result["seed_recipe_note"] = "seed recipe not run (--no-baselines)"
    return result


def lstm_speed(quick: bool) -> Result:
    args = ["--rounds", "1", "--steps", "5", "--seconds", "1"] if quick else []
    return json_line([sys.executable, str(BENCH_DIR / "lstm_speed.py"), "--json", *args], 900)


def sweep(quick: bool) -> Result:
    lengths = ["5", "10"] if quick else ["5", "10", "20", "40"]
    with tempfile.TemporaryDirectory() as runs:
        command = [sys.executable, "-m", "gendl", "sweep", "--models", "rnn", "lstm"]
        command += ["--lengths", *lengths, "--seeds", "1", "--json", "--runs-dir", runs]
        if quick:
            command += ["--set", "max_steps=20"]
        start = time.perf_counter()
        result = json_line(command, 1800)
        result["process_wall_s"] = round(time.perf_counter() - start, 1)
    return {"goal_s": 60.0, "lengths": [int(n) for n in lengths], **result}


def engine_overhead(quick: bool) -> Result:
    args = ["--seconds", "3", "--data", "fake"] if quick else []
    result = json_line(
        [sys.executable, str(BENCH_DIR / "engine_overhead.py"), "--json", *args], 900
    )
    return {"goal_ratio": 0.90, **result}


def owned_script(name: str, args: list[str]) -> Result:
    """A benchmark another part of the project owns: skipped with a note while it is missing."""
    script = BENCH_DIR / name
    if not script.is_file():
        return {"skipped": f"bench/{name} does not exist yet"}
    return json_line([sys.executable, str(script), *args], 900)


def latent_latency(quick: bool) -> Result:
    return {
        "goal_ms": 20.0,
        **owned_script("latent_latency.py", ["--moves", "5" if quick else "30"]),
    }


def cold_start(quick: bool) -> Result:
    return {"goal_s": 5.0, **owned_script("cold_start.py", ["--runs", "1" if quick else "3"])}


BENCHMARKS: dict[str, Callable[[bool], Result]] = {
    **{preset: (lambda quick, p=preset: quality(p, quick)) for preset in QUALITY},
    "lstm_speed": lstm_speed,
    "sweep": sweep,
    "engine_overhead": engine_overhead,
    "latent_latency": latent_latency,
    "cold_start": cold_start,
}


# ---------------------------------------------------------------- report


def _ttq(run: Result) -> str:
    scores = f"check IS {run['check_is']}, 10k IS {run['confirm_is']} ± {run['confirm_std']}"
    # checks over the target whose 10,000-sample confirmation was not
    short = [(s, v) for s, v in run.get("confirmations", []) if v < run["target"]]
    if short:
        scores += "; 10k IS short of it at " + ", ".join(f"step {s}: {v}" for s, v in short)
    if run["reached"]:
        return f"**{run['wall_s']} s** ({run['steps']} steps; {scores})"
    return f"not reached in {run['wall_s']} s ({run['steps']} steps; {scores})"


def rows(results: Result) -> list[tuple[str, str, str, str]]:
    """(benchmark, figure, goal, seed baseline) for each benchmark that ran."""
    table = []
    for preset, spec in QUALITY.items():
        if preset in results:
            r = results[preset]
            baseline = _ttq(r["seed_recipe"]) if "seed_recipe" in r else r["seed_recipe_note"]
            settings = ", ".join(f"{k}={v}" for k, v in r["tuned"]["overrides"].items())
            name = f"{preset}: time to IS >= {spec.target}" + (f" ({settings})" if settings else "")
            table.append((name, _ttq(r["tuned"]), f"<= {spec.goal_s:g} s", baseline))
    if "lstm_speed" in results:
        speed = results["lstm_speed"]["steps_per_s"]
        reference = speed["torch.nn.LSTM"]
        figure = ", ".join(
            f"{name} {value:g} ({value / reference:.2f}x)" for name, value in speed.items()
        )
        table.append(("LSTM training steps/s (vs torch.nn.LSTM)", figure, ">= 1.0x nn.LSTM", ""))
    if "sweep" in results:
        r = results["sweep"]
        lengths = " ".join(map(str, r["lengths"]))
        table.append(
            (f"RNN vs LSTM sweep, lengths {lengths}, 1 seed", f"{r['wall_s']} s", "<= 60 s", "")
        )
    if "engine_overhead" in results:
        r = results["engine_overhead"]
        figure = f"{r['ratio']} ({r['engine_steps_per_s']} vs {r['direct_steps_per_s']} steps/s)"
        table.append(("engine / in-process steps/s", figure, ">= 0.90", ""))
    for name, key, unit in (
        ("latent_latency", "slider_move_ms", "ms"),
        ("cold_start", "first_page_s", "s"),
    ):
        if name in results:
            r = results[name]
            goal = f"<= {r.get('goal_ms', r.get('goal_s'))} {unit}"
            figure = r["skipped"] if "skipped" in r else f"{r[key]} {unit} ({key})"
            table.append((name.replace("_", " "), figure, goal, ""))
    return table


def markdown(report: Result) -> str:
    m = report["machine"]
    lines = [
        f"# Benchmarks ({report['date']})",
        "",
        f"{m['cores']} cores ({m['cpu']}), torch {m['torch']}, Python {m['python']}; "
        f"1-minute load average {m['load_avg_1m_at_start']} at the start"
        + (" (**--quick: tiny budgets, not real figures**)" if report["quick"] else "")
        + ". Rerun with `python bench/run.py`.",
        *(
            [
                "",
                f"Re-run later with `--merge`: {', '.join(f'{k} ({v})' for k, v in rerun.items())}.",
            ]
            if (rerun := report.get("rerun"))
            else []
        ),
        "",
        "| benchmark | figure | goal | seed recipe |",
        "|---|---|---|---|",
    ]
    lines += [f"| {' | '.join(row)} |" for row in rows(report["results"])]
    errors = report.get("errors", {})
    lines += [f"\n{name} failed: {message}" for name, message in errors.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=list(BENCHMARKS), help="repeatable")
    parser.add_argument("--quick", action="store_true", help="tiny budgets: a smoke test")
    parser.add_argument("--no-baselines", action="store_true", help="skip the seed recipes")
    parser.add_argument("--out", default=str(BENCH_DIR / "results"), help="writes OUT.md, OUT.json")
    parser.add_argument(
        "--merge", action="store_true", help="replace only these benchmarks' rows in OUT.json"
    )
    args = parser.parse_args(argv)
    global SKIP_BASELINES
    SKIP_BASELINES = args.no_baselines
    torch.set_num_threads(2)  # the figures are for 2 cores
    torch.set_flush_denormal(True)
    out = Path(args.out)
    report: Result = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": machine(),
        "quick": args.quick,
        "results": {},
        "errors": {},
    }
    if args.merge:
        if not out.with_suffix(".json").is_file():
            parser.error(f"--merge: no earlier {out.with_suffix('.json')} to merge into")
        report = json.loads(out.with_suffix(".json").read_text())
        report.setdefault("rerun", {})
    for name in args.only or list(BENCHMARKS):
        print(f"{name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        report["errors"].pop(name, None)
        try:
            report["results"][name] = BENCHMARKS[name](args.quick)
        except Exception as exc:  # one broken benchmark must not lose the others' figures
            report["errors"][name] = f"{type(exc).__name__}: {exc}"
        if args.merge:
            report["rerun"][name] = time.strftime("%Y-%m-%d %H:%M")
        print(f"{name} done in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    if not args.merge:
        report["machine"]["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
