"""The command line as one of the machine's users (real processes, real store): CLI trains take
turns in the machine's queue and bound, SIGTERM stops a run saved, a killed run is marked
interrupted by the next command, ``runs stop|resume|delete``, and ``gendl class`` serves the
dashboard in class mode.

Each CLI process imports torch (~3 s on 2 shared cores), so each test starts as few as it can.
"""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gendl.checkpoints import load_model
from gendl.cli import main
from gendl.cli_class import class_links
from gendl.engine.records import MODEL_NAME
from gendl.engine.runs import RunEngine
from gendl.engine.store import HOLDS_WORKER, RunStore

REPO = Path(__file__).resolve().parent.parent
# no GPU: the machine's bound is CPU_RUNS (2) wherever the tests run
ENV = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(REPO)}
ENV.pop("GENDL_CLASS", None)
CLASSIFIER = ["classifier", "--set", "data=fake", "--set", "batch_size=16", "--no-progress"]
LONG = ["--max-steps", "100000"]


def gendl(*args: str, runs: Path) -> subprocess.Popen:
    """``python -m gendl ARGS --runs-dir RUNS`` as its own process, stdout and stderr piped."""
    command = [sys.executable, "-m", "gendl", *args, "--runs-dir", str(runs)]
    return subprocess.Popen(
        command, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def holding(store: RunStore) -> list[int]:
    """Ids of the runs holding one of the machine's workers now (the store's own definition)."""
    return [row[0] for row in store._read(f"SELECT id FROM runs WHERE {HOLDS_WORKER}")]


def stepping(store: RunStore, run_id: int, step: int = 2):
    """Whether run ``run_id`` (once its process has created it) is running past ``step``."""
    runs = lambda: {run.id: run for run in store.list_runs(["running"])}  # noqa: E731
    return lambda: run_id in (now := runs()) and now[run_id].step >= step


@pytest.mark.slow
def test_cli_trains_share_the_machines_bound_of_two(tmp_path):
    store = RunStore(tmp_path)
    timed = ["--max-seconds", "4", *LONG]
    first, second = (gendl("train", *CLASSIFIER, *timed, runs=tmp_path) for _ in range(2))
    wait_for(lambda: len(holding(store)) == 2, what="two runs holding workers")
    third = gendl("train", *CLASSIFIER, *timed, runs=tmp_path)
    most, third_id = 0, None
    while third.poll() is None or first.poll() is None or second.poll() is None:
        held = holding(store)
        most = max(most, len(held))
        queued = [run.id for run in store.list_runs(["queued"]) if run.id not in held]
        third_id = third_id or (queued[0] if queued else None)
        time.sleep(0.05)
    outputs = [proc.communicate() for proc in (first, second, third)]
    assert [proc.returncode for proc in (first, second, third)] == [0, 0, 0], outputs
    assert most == 2
    assert third_id == 3, "the third run never waited in the queue"
    assert "run 3 queued: 2 runs hold the machine's 2 workers; waiting" in outputs[2][1]
    runs = {run.id: run for run in store.list_runs()}
    assert {run.state for run in runs.values()} == {"finished"}
    assert runs[3].started >= min(runs[1].finished, runs[2].finished)  # it took a freed worker
    assert {run.owner for run in runs.values()} == {"cli"}


def test_sigterm_stops_a_cli_run_saved_and_sigint_a_queued_one(tmp_path):
    store = RunStore(tmp_path)
    # the machine's two workers are held by runs of a live process (this one)
    busy = [store.create_run("classifier", {}, state="running") for _ in range(2)]
    waiting = gendl("train", *CLASSIFIER, *LONG, runs=tmp_path)
    wait_for(lambda: store.list_runs(["queued"]), what="the CLI run queued")
    assert store.get_run(3).pid is None  # no worker for it while two runs hold theirs
    time.sleep(1.0)
    assert store.get_run(3).state == "queued" and store.get_run(3).pid is None
    waiting.send_signal(signal.SIGINT)
    out, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 0, err
    assert "run 3 queued: 2 runs hold the machine's 2 workers; waiting" in err
    assert "run 3 stopped at step 0" in out and "before it started" in out
    assert (store.get_run(3).state, store.get_run(3).step) == ("stopped", 0)

    for run_id in busy:
        store.update_run(run_id, state="finished")
    training = gendl("train", *CLASSIFIER, *LONG, runs=tmp_path)
    wait_for(stepping(store, 4), what="the CLI run training")
    training.send_signal(signal.SIGTERM)
    out, err = training.communicate(timeout=60)
    run = store.get_run(4)
    assert training.returncode == 0, err
    assert (run.state, run.reason) == ("stopped", "stopped by SIGTERM")
    assert f"run 4 stopped at step {run.step}" in out and "stopped by SIGTERM; model in" in out
    assert run.step >= 2 and run.checkpoint_step == run.step  # checkpointed where it stopped
    assert Path(run.checkpoint).is_file()
    assert load_model(store.run_dir(4) / MODEL_NAME, kind="classifier") is not None


def test_a_killed_cli_run_is_interrupted_then_resumed_and_deleted(tmp_path, capsys):
    store = RunStore(tmp_path)
    train = gendl("train", *CLASSIFIER, "--max-steps", "150", runs=tmp_path)  # ~5 s
    wait_for(stepping(store, 1, step=0), what="the CLI run training")
    train.kill()
    train.communicate()
    assert store.get_run(1).state == "running"  # nobody has looked yet
    listing = subprocess.run(
        [sys.executable, "-m", "gendl", "runs", "list", "--runs-dir", str(tmp_path)],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert listing.returncode == 0, listing.stderr
    row = listing.stdout.splitlines()[1].split()
    assert row[:4] == ["1", "classifier", "classifier", "interrupted"]

    assert main(["runs", "resume", "1", "--no-progress", "--runs-dir", str(tmp_path)]) == 0
    assert "run 1 finished at step 150" in capsys.readouterr().out
    run = store.get_run(1)
    assert (run.state, run.step, run.owner) == ("finished", 150, "cli")
    assert [r["step"] for r in store.metrics_since(1)] == list(range(1, 151))

    assert main(["runs", "delete", "1", "--runs-dir", str(tmp_path)]) == 0
    assert store.list_runs() == [] and not store.run_dir(1).exists()
    for action in ("delete", "stop", "resume"):
        assert main(["runs", action, "1", "--runs-dir", str(tmp_path)]) == 2
        assert capsys.readouterr().err.strip() == (
            f"error: no run with id 1 in {tmp_path / 'runs.sqlite'}"
        )


def test_runs_stop_resume_delete_on_the_engines_runs(tmp_path, capsys):
    runs = ["--runs-dir", str(tmp_path)]
    config = {"data": "fake", "batch_size": 16, "max_steps": 100000}
    with RunEngine(tmp_path, max_workers=1, flush_every=0.2) as engine:
        student = engine.start("classifier", config, owner="a" * 32)
        waiting = engine.start("classifier", config, owner="b" * 32)
        assert main(["runs", "stop", str(waiting), *runs]) == 0  # queued: stopped at once
        assert f"run {waiting} stopped at step 0" in capsys.readouterr().out
        engine.pause(student, owner="a" * 32)
        wait_for(lambda: engine.status(student).state == "paused", what="the run paused")
        step = engine.status(student).step
        assert main(["runs", "resume", str(student), *runs]) == 0
        assert "resumes in the process that trains it" in capsys.readouterr().out
        wait_for(lambda: engine.status(student).step > step + 2, what="the resumed run stepping")
        assert main(["runs", "delete", str(student), *runs]) == 2
        assert f"run {student} is running; stop it before deleting" in capsys.readouterr().err
        assert main(["runs", "stop", str(student), *runs]) == 0
        run = engine.status(student)
        assert f"run {student} stopped at step {run.step}" in capsys.readouterr().out
        assert run.state == "stopped" and (engine.store.run_dir(student) / MODEL_NAME).is_file()
        assert main(["runs", "resume", str(student), *runs]) == 2
        assert f"cannot resume run {student}: it is stopped" in capsys.readouterr().err


def test_class_links_name_the_address_and_warn_beyond_this_machine(monkeypatch):
    monkeypatch.setattr("socket.gethostname", lambda: "lab-7")
    local = class_links("127.0.0.1", 8600, "s3cret/+")
    assert local[:2] == [
        "students: http://127.0.0.1:8600/",
        "teacher:  http://127.0.0.1:8600/teacher?teacher=s3cret%2F%2B",
    ]
    assert not any("warning" in line for line in local)
    assert not any("warning" in line for line in class_links("localhost", 80, "t"))
    assert class_links("::1", 80, "t")[0] == "students: http://[::1]:80/"
    lan = class_links("192.168.1.20", 8501, "t")
    assert lan[-1] == "warning: anyone who reaches 192.168.1.20:8501 can join this class"
    every = class_links("0.0.0.0", 8501, "t")
    assert every[0] == "students: http://lab-7:8501/"
    assert "0.0.0.0 listens on every interface; the links use this machine's name" in every
    assert every[-1] == "warning: anyone who reaches lab-7:8501 can join this class"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_until(stream, pattern: str, timeout: float = 30.0) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, stream.readline())
        if match:
            return match
    raise AssertionError(f"no line matching {pattern!r}")


@pytest.mark.parametrize("token", ["given-secret", None])
def test_gendl_class_serves_class_mode_on_the_named_address(tmp_path, token):
    port, env = free_port(), dict(ENV)
    env.pop("GENDL_TEACHER_TOKEN", None)
    if token:
        env["GENDL_TEACHER_TOKEN"] = token
    command = [sys.executable, "-m", "gendl", "class", "--address", "127.0.0.1"]
    command += ["--port", str(port), "--runs-dir", str(tmp_path)]
    server = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}/"
        assert read_until(server.stdout, r"^students: (\S+)$")[1] == base
        secret = read_until(server.stdout, rf"^teacher:  {re.escape(base)}teacher\?teacher=(\S+)$")
        assert secret[1] == token if token else len(secret[1]) >= 20
        health = wait_for(lambda: _get(base + "_stcore/health"), what="the server's health")
        assert health == "ok"
        (streamlit,) = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        child_env = Path(f"/proc/{streamlit}/environ").read_bytes().split(b"\0")
        assert b"GENDL_CLASS=1" in child_env
        assert f"GENDL_TEACHER_TOKEN={secret[1]}".encode() in child_env
        assert f"GENDL_RUNS_DIR={tmp_path.resolve()}".encode() in child_env
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
        assert _get(base + "_stcore/health") is None  # the server is gone with it
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate()


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None
