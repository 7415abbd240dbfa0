"""The run engine with real worker processes (tiny classifier, GAN and VAE runs on fake data).

Each worker imports torch (~2-3 s), so every test here launches as few runs as it can.
"""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.utils import make_grid

from gendl.checkpoints import load_model
from gendl.engine.runs import RunEngine, RunError
from gendl.engine.store import RunStore, pid_alive
from gendl.errors import ConfigError
from gendl.train import make_trainer
from gendl.train.common import Clock, run_trainer, seeded_generator, train_step

REPO = Path(__file__).resolve().parent.parent
CLASSIFIER = {"data": "fake", "max_steps": 100, "eval_every": 10, "batch_size": 32}
FAST = {"threads_per_worker": 1, "flush_every": 0.2, "checkpoint_every": 0.5}


def wait_for(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def reference():
    """The classifier run's history from calling the loop directly, one thread like a worker."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_trainer(make_trainer("classifier", CLASSIFIER))
    finally:
        torch.set_num_threads(threads)


def assert_same_history(rows, reference):
    assert [r["step"] for r in rows] == list(range(1, len(reference) + 1))
    for key in ("loss", "grad_norm", "test_acc"):
        assert [key in r for r in rows] == [key in r for r in reference], key
        got = [r[key] for r in rows if key in r]
        assert got == pytest.approx([r[key] for r in reference if key in r], rel=1e-5, abs=1e-7)


@pytest.fixture
def engine(tmp_path):
    with RunEngine(tmp_path, max_workers=2, **FAST) as engine:
        yield engine


def test_queued_paused_stepped_resumed_finished_matches_the_direct_loop(
    engine, tmp_path, reference
):
    run_id = engine.start("classifier", CLASSIFIER, owner="alice", name="clf")
    assert engine.status(run_id).state == "queued"
    engine.pause(run_id, owner="alice")  # before it starts: it starts paused at step 0
    assert engine.wait(run_id, 60, states=("paused",)).step == 0
    engine.step(run_id, 3, owner="alice")
    engine.step(run_id, 2, owner="alice")
    wait_for(lambda: engine.status(run_id).step == 5, what="five single steps")
    assert engine.status(run_id).state == "paused"
    assert [r["step"] for r in engine.metrics_since(run_id, 0)] == [1, 2, 3, 4, 5]
    engine.resume(run_id, owner="alice")
    wait_for(lambda: engine.status(run_id).state != "paused", what="running again")
    run = engine.wait(run_id, 120)
    assert (run.state, run.step, run.reason) == ("finished", 100, None)
    rows = engine.metrics_since(run_id, 0)
    assert_same_history(rows, reference)  # pausing and single-stepping change nothing
    assert engine.metrics_since(run_id, 95) == rows[95:]
    model = load_model(tmp_path / str(run_id) / "model.pt", kind="classifier")
    assert model.config.arch == "cnn"
    engine.close()

    reopened = RunEngine(tmp_path, max_workers=1)  # history survives a new engine
    assert reopened.status(run_id) == run
    assert reopened.metrics_since(run_id, 0) == rows
    assert [r.id for r in reopened.list(owner="alice")] == [run_id]
    assert reopened.list(owner="bob") == []
    reopened.close()


def test_gan_single_steps_update_one_network_and_save_sample_grids(engine, tmp_path):
    config = {"data": "fake", "model": {"arch": "mlp"}, "n_score_samples": 0, "eval_every": 1}
    run_id = engine.start("gan", config)
    engine.pause(run_id)
    engine.wait(run_id, 60, states=("paused",))
    with pytest.raises(RunError, match="step part must be one of all, d, g"):
        engine.step(run_id, 1, part="x")
    engine.step(run_id, 2, part="d")
    engine.step(run_id, 1, part="g")
    wait_for(lambda: engine.status(run_id).step == 3, what="three single steps")
    engine.stop(run_id)
    run = engine.wait(run_id, 30)
    assert (run.state, run.step) == ("stopped", 3)
    rows = engine.metrics_since(run_id, 0)
    assert ["d_loss" in r for r in rows] == [True, True, False]
    assert ["g_loss" in r for r in rows] == [False, False, True]
    grids = engine.artifacts(run_id, "sample_grid")
    assert [step for step, _, _ in grids] == [1, 2, 3]
    assert all("sample_grid" not in r for r in rows)  # images are files, not metric values
    png = np.asarray(Image.open(grids[-1][2]).convert("L"), dtype=np.float32) / 255
    gan = load_model(tmp_path / str(run_id) / "model.pt", kind="gan")  # the stopped model
    with torch.no_grad():
        noise = gan.sample_latent(64, generator=seeded_generator(config.get("seed", 0) + 2))
        expected = make_grid(gan.decode(noise).clamp(0, 1), nrow=8, padding=2)[0].numpy()
    assert png.shape == expected.shape == (242, 242)
    np.testing.assert_allclose(png, expected, atol=1 / 255 + 1e-6)


@pytest.mark.parametrize(
    ("config", "value"),
    [
        # real configs: Adam's first step at lr 0.5 makes the VAE's logits infinite, so the loss
        # is nan (inf - inf) on its second; at lr 0.022 (seed 2) the log variance lands between
        # 89 and 177, where exp(logvar) in the KL term overflows but z and the logits do not
        ({"lr": 0.5}, "nan"),
        ({"lr": 0.022, "seed": 2}, "inf"),
    ],
)
def test_a_nan_or_inf_loss_fails_the_run_and_keeps_earlier_metrics(engine, config, value):
    run_id = engine.start("vae", {"data": "fake", "n_score_samples": 0, **config})
    run = engine.wait(run_id, 60)
    assert (run.state, run.reason) == ("failed", f"loss became {value} at step 2")
    rows = engine.metrics_since(run_id, 0)
    assert [r["step"] for r in rows] == [1] and np.isfinite(rows[0]["loss"])
    assert run.step == 1  # the store's progress is the last good step
    with pytest.raises(RunError, match="only an interrupted run can be resumed"):
        engine.resume_interrupted(run_id)


def test_a_trainer_that_cannot_be_built_fails_with_the_reason(engine, tmp_path):
    run_id = engine.start("classifier", {**CLASSIFIER, "batch_size": 1000})  # fake data has 512
    run = engine.wait(run_id, 60)
    assert run.state == "failed" and "batch_size must be in [1, 512], got 1000" in run.reason
    assert "Traceback" in (tmp_path / str(run_id) / "error.log").read_text()


def test_the_pool_bound_queues_runs_and_a_queued_run_stops_at_once(tmp_path):
    config = {**CLASSIFIER, "max_steps": 20}
    with RunEngine(tmp_path, max_workers=1, **FAST) as engine:
        first, second, third = (engine.start("classifier", config) for _ in range(3))
        engine.stop(third)
        assert engine.status(third).state == "stopped" and engine.status(third).pid is None
        states = []
        while engine.status(second).state != "finished":
            states.append((engine.status(first).state, engine.status(second).state))
            time.sleep(0.05)
        both = {"running", "paused"}
        assert not any(a in both and b in both for a, b in states)  # never two at once
        assert ("running", "queued") in states and ("finished", "running") in states
        assert engine.status(first).state == "finished"
        assert engine.status(third).state == "stopped"  # and it never ran
        assert engine.metrics_since(third, 0) == []


def test_bad_input_is_refused_before_anything_is_queued(tmp_path):
    with RunEngine(tmp_path, **FAST) as engine:
        with pytest.raises(ConfigError, match="lr must be in"):
            engine.start("classifier", {"lr": 1e6})
        with pytest.raises(ConfigError, match="family must be one of"):
            engine.start("diffusion", {})
        assert engine.list() == []
        store = engine.store
        done = store.create_run("classifier", {}, owner="alice", state="finished")
        live = store.create_run("classifier", {}, owner="alice", state="running")  # held by us
        with pytest.raises(RunError, match="cannot pause run .*: it is finished"):
            engine.pause(done)
        with pytest.raises(RunError, match="running; pause it before single-stepping"):
            engine.step(live, owner="alice")
        with pytest.raises(RunError, match="stop it before deleting"):
            engine.delete(live)
        with pytest.raises(RunError, match="belongs to another session"):
            engine.stop(live, owner="bob")
        engine.pause(live, owner="alice")
        engine.step(live, 2, owner="alice")  # allowed: it will be paused when the step is read
        engine.share(live, owner="alice")
        engine.resume(live, owner="bob")
        assert [c.command for c in store.pending_commands(live)] == ["pause", "step", "resume"]
        with pytest.raises(ConfigError, match="n must be in"):
            engine.step(live, 0)
        engine.delete(done)
        assert [r.id for r in engine.list()] == [live]


def test_recover_marks_runs_whose_process_is_gone_or_was_replaced(tmp_path):
    store = RunStore(tmp_path)
    dead = subprocess.Popen(["true"])
    dead.wait()
    me = os.getpid()
    alive = store.create_run("classifier", {}, state="running")  # held by this process
    gone = store.create_run("classifier", {}, state="paused")
    store.update_run(gone, pid=dead.pid, pid_started=None)
    reused = store.create_run("classifier", {}, state="running")  # same pid, another process
    store.update_run(reused, pid_started=store.get_run(reused).pid_started + 1)
    orphan = store.create_run("classifier", {})  # queued by an engine that died
    store.update_run(orphan, engine_pid=dead.pid)
    with RunEngine(tmp_path, **FAST) as engine:
        assert {engine.status(r).state for r in (gone, reused, orphan)} == {"interrupted"}
        assert engine.status(alive).state == "running" and engine.status(alive).pid == me
        assert "resume" in engine.status(gone).reason


ENGINE = textwrap.dedent(
    """
    import sys, time
    from gendl.engine.runs import RunEngine
    engine = RunEngine(sys.argv[1], max_workers=1, threads_per_worker=1, flush_every=0.2,
                       checkpoint_every=0.5)
    print(engine.start("classifier", eval(sys.argv[2])), flush=True)
    time.sleep(600)
    """
)


def engine_in_subprocess(root, config):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", ENGINE, str(root), repr(config)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    return proc, int(proc.stdout.readline())


def test_kill_9_mid_run_loses_nothing_earlier_and_the_run_resumes(tmp_path, reference):
    server, run_id = engine_in_subprocess(tmp_path, CLASSIFIER)
    store = RunStore(tmp_path)
    wait_for(lambda: (store.get_run(run_id).checkpoint_step or 0) >= 10, what="a checkpoint")
    before = store.metrics_since(run_id, 0)
    worker = store.get_run(run_id).pid
    os.kill(server.pid, signal.SIGSTOP)  # a crash of the whole server: nobody cleans up
    os.kill(worker, signal.SIGKILL)
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    server.stdout.close()
    wait_for(lambda: not pid_alive(worker), 10, "the worker to die")  # SIGKILL is asynchronous
    assert store.get_run(run_id).state == "running"  # nobody noticed yet

    with RunEngine(tmp_path, max_workers=1, **FAST) as engine:
        assert engine.store.integrity_check() == "ok"
        run = engine.status(run_id)
        assert run.state == "interrupted" and "resume" in run.reason
        assert engine.metrics_since(run_id, 0)[: len(before)] == before
        assert 100 > run.checkpoint_step >= 10
        engine.resume(run_id)
        assert engine.status(run_id).state == "queued"
        finished = engine.wait(run_id, 120)
        assert (finished.state, finished.step) == ("finished", 100)
        rows = engine.metrics_since(run_id, 0)
        kept = [r for r in before if r["step"] <= run.checkpoint_step]
        assert rows[: len(kept)] == kept
        assert_same_history(rows, reference)  # the resumed run is the uninterrupted one


def test_a_worker_whose_engine_dies_checkpoints_and_ends_interrupted(tmp_path):
    server, run_id = engine_in_subprocess(tmp_path, {**CLASSIFIER, "max_steps": 100_000})
    store = RunStore(tmp_path)
    wait_for(lambda: store.get_run(run_id).step >= 5, what="training")
    server.kill()
    server.wait()
    server.stdout.close()
    wait_for(lambda: store.get_run(run_id).state == "interrupted", 30, "the worker to notice")
    run = store.get_run(run_id)
    assert "engine process ended" in run.reason
    assert run.checkpoint_step == run.step  # checkpointed on the way out: nothing to recompute


def test_close_interrupts_running_workers_which_resume_elsewhere(tmp_path):
    engine = RunEngine(tmp_path, max_workers=1, **FAST)
    run_id = engine.start("classifier", {**CLASSIFIER, "max_steps": 100_000})
    wait_for(lambda: engine.status(run_id).step >= 3, what="training")
    engine.close()
    run = engine.status(run_id)
    assert run.state == "interrupted" and "SIGTERM" in run.reason
    assert run.checkpoint_step == run.step
    with RunEngine(tmp_path, max_workers=1, **FAST) as again:
        again.resume(run_id)
        wait_for(lambda: again.status(run_id).step > run.step, what="training again")
        again.stop(run_id)
        stopped = again.wait(run_id, 30)
        assert stopped.state == "stopped" and stopped.step > run.step
        assert [r["step"] for r in again.metrics_since(run_id, 0)] == list(
            range(1, stopped.step + 1)
        )


@pytest.mark.slow
def test_twenty_kills_at_random_moments_never_lose_or_corrupt_history(tmp_path):
    """SIGKILL the worker 20 times (starting up, training, checkpointing), resuming after each."""
    config = {**CLASSIFIER, "max_steps": 100_000}
    rng = random.Random(0)
    checkpoints = []
    with RunEngine(tmp_path, max_workers=1, **{**FAST, "checkpoint_every": 0.3}) as engine:
        run_id = engine.start("classifier", config)
        for _ in range(20):
            wait_for(lambda: engine.status(run_id).pid not in (None, os.getpid()), what="a worker")
            time.sleep(rng.uniform(0.0, 4.0))
            before = engine.metrics_since(run_id, 0)
            os.kill(engine.status(run_id).pid, signal.SIGKILL)
            run = engine.wait(run_id, 30)
            assert run.state == "interrupted" and "signal 9" in run.reason
            reopened = RunStore(tmp_path)  # a fresh connection, as after a server restart
            assert reopened.integrity_check() == "ok"
            assert reopened.metrics_since(run_id, 0)[: len(before)] == before  # nothing lost
            reopened.close()
            checkpoint = run.checkpoint_step or 0
            checkpoints.append(checkpoint)
            kept = [r for r in before if r["step"] <= checkpoint]
            engine.resume(run_id)
            resumed = engine.wait(run_id, 60, states=("running",))
            # the new worker started from the checkpoint: rows up to it kept, none recomputed
            assert resumed.step >= checkpoint
            assert engine.metrics_since(run_id, 0)[: len(kept)] == kept
        wait_for(lambda: engine.status(run_id).step >= 20, what="some more steps")
        engine.stop(run_id)
        stopped = engine.wait(run_id, 30)
    assert checkpoints == sorted(checkpoints) and checkpoints[-1] > 0  # progress across kills
    rows = RunStore(tmp_path).metrics_since(run_id, 0)
    assert stopped.state == "stopped" and len(rows) == stopped.step
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    trainer = make_trainer("classifier", config)
    clock = Clock(config["max_steps"], None)
    reference = [train_step(trainer, clock) for _ in range(stopped.step)]
    torch.set_num_threads(threads)
    assert_same_history(rows, reference)  # 20 crashes later: the uninterrupted run, step for step


def test_a_backend_passed_to_the_engine_runs_the_workers(tmp_path, reference):
    from gendl.engine.backend import Backend
    from gendl.engine.pool import WorkerPool

    made = []

    def local(store: RunStore) -> Backend:
        made.append(WorkerPool(store, 1, 1, flush_every=0.2, checkpoint_every=0.5))
        return made[-1]

    with RunEngine(tmp_path, backend=local) as engine:
        assert engine.pool is made[0] and engine.pool.max_workers == 1
        run_id = engine.start("classifier", CLASSIFIER)
        assert engine.wait(run_id, 120).state == "finished"
        assert_same_history(engine.metrics_since(run_id, 0), reference)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc (Linux)")
def test_a_worker_runs_below_the_server_from_before_it_loads_torch(tmp_path):
    """A worker's import of torch is seconds of CPU: it must already run at the lower priority,
    so a class server's pages answer while runs start. Watched through /proc: every sample taken
    while libtorch is mapped shows the worker's niceness raised by WORKER_NICENESS."""
    from gendl.engine.process import WORKER_NICENESS

    server = os.getpriority(os.PRIO_PROCESS, 0)
    seen = []  # (niceness, torch mapped) of the worker, sampled as it starts
    with RunEngine(tmp_path, max_workers=1, **FAST) as engine:
        run_id = engine.start("classifier", {**CLASSIFIER, "max_steps": 20})
        wait_for(lambda: engine.status(run_id).pid is not None, what="the worker's pid")
        pid = engine.status(run_id).pid
        while engine.status(run_id).state in ("queued", "running"):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                mapped = "libtorch" in Path(f"/proc/{pid}/maps").read_text()
            except (FileNotFoundError, ProcessLookupError):
                break
            seen.append((int(fields[16]), mapped))  # field 19 of stat: nice
            time.sleep(0.005)
    with_torch = [nice for nice, mapped in seen if mapped]
    assert with_torch, "never saw the worker with torch loaded"
    assert set(with_torch) == {min(server + WORKER_NICENESS, 19)}
