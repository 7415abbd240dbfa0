"""bench/gpu.py runs on the CPU with tiny budgets, so the one GPU run is the measured one."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import gpu  # noqa: E402


def test_the_gpu_bench_runs_on_the_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("GENDL_LSTM_LOOP", "auto")
    argv = ["--device", "cpu", "--quick", "--out", str(tmp_path), "--only", "quality"]
    threads = torch.get_num_threads()
    try:
        code = gpu.main([*argv, "--only", "lstm", "--presets", "vae", "dcgan"])
    finally:  # the bench sets this process's torch up as a worker's; later tests expect defaults
        torch.set_flush_denormal(False)
        torch.set_num_threads(threads)
    report = json.loads((tmp_path / "gpu.json").read_text())
    assert code == 0, report.get("errors")
    assert report["machine"]["device"].startswith("cpu (")
    assert set(report["quality"]) == {"vae", "dcgan"}
    assert all(r["steps"] == 4 and not r["reached"] for r in report["quality"].values())
    speed = report["lstm"]["steps_per_s"]["T=20"]
    assert speed["torch"] > 0 and speed["python"] > 0
    table = (tmp_path / "gpu.md").read_text()
    assert "| vae: time to IS >= 9.0 | not reached" in table
    assert "hand LSTM steps/s vs cuDNN, T=20" in table


@pytest.mark.slow
def test_every_part_of_the_gpu_bench_runs_on_the_cpu(tmp_path):
    command = [sys.executable, "bench/gpu.py", "--device", "cpu", "--quick", "--out", str(tmp_path)]
    done = subprocess.run(
        [*command, "--runs", "2", "--workers", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "GENDL_LSTM_KERNEL": "0"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "gpu.json").read_text())
    assert set(report) >= {"quality", "sweep", "lstm", "concurrent"}
    assert report["sweep"]["runs"] == 2
    concurrent = report["concurrent"]
    assert concurrent["states"] == ["finished", "finished"]
    assert concurrent["devices"] and concurrent["devices"][0].startswith("cpu (")
