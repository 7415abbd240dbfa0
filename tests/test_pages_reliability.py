"""Issue 6 on the pages: broken checkpoint files, run directories with missing files, a diverged
run, twenty sessions at once, and paths from the URL. AppTest over a temporary checkpoint
directory and run store; runs train in real worker processes on fake data with tiny budgets.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from streamlit.runtime.scriptrunner import magic
from streamlit.testing.v1 import AppTest

from app_pages.common import engine
from gendl.checkpoints import save_checkpoint
from gendl.engine.runs import RunEngine
from gendl.engine.store import RunStore
from gendl.models import GAN, VAE, GANConfig, MNISTClassifier, VAEConfig
from gendl.shipped.sources import CHECKPOINT_DIR_ENV
from gendl.train.scoring import shipped_classifier

REPO = Path(__file__).resolve().parent.parent
needs_classifier = pytest.mark.skipif(
    shipped_classifier() is None, reason="needs the shipped checkpoints/classifier.pt"
)


def tiny_vae(latent_dim: int = 2) -> VAE:
    return VAE(VAEConfig(latent_dim=latent_dim, encoder_dims=(16,), decoder_dims=(32,)))


def page(name: str, **query: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app_pages" / f"{name}.py"), default_timeout=60)
    at.query_params.update(query)
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, at.exception[0].stack_trace if at.exception else ""


def rerun_until(at: AppTest, done: Callable[[AppTest], bool], timeout: float = 90.0) -> AppTest:
    """Rerun the page (as its polling fragment would) until ``done(at)``."""
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        assert_clean(at)
        if done(at):
            return at
        assert time.monotonic() < deadline, "the page never showed the expected state"
        time.sleep(0.3)


def status_line(at: AppTest) -> str:
    return next((m.value for m in at.markdown if m.value.startswith("Run ")), "")


def figure(at: AppTest, key: str) -> dict:
    (chart,) = [c for c in at.get("plotly_chart") if key in c.proto.id]
    return json.loads(chart.proto.spec)


def messages(at: AppTest) -> list[str]:
    return [m.value for kind in ("error", "warning") for m in at.get(kind)]


# ---------------------------------------------------------------- broken checkpoint files


class CodeOnLoad:
    """Unpickling this calls ``open(marker, "w")``: a checkpoint that would run code if loaded
    with ``weights_only=False``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def payload(kind: str, config: dict, state: dict) -> dict:
    return {"format": 1, "kind": kind, "config": config, "state_dict": state, "meta": {}}


def write_broken_files(directory: Path, marker: Path) -> dict[str, str]:
    """Every way a checkpoint can be wrong, next to a good GAN; file name -> what the page says."""
    save_checkpoint(directory / "gan.pt", GAN(GANConfig(latent_dim=8)))
    good = (directory / "gan.pt").read_bytes()
    (directory / "truncated.pt").write_bytes(good[: len(good) // 2])
    (directory / "empty.pt").write_bytes(b"")
    (directory / "random.pt").write_bytes(random.Random(0).randbytes(4096))
    save_checkpoint(directory / "wrong_kind.pt", MNISTClassifier())  # the manifest says vae
    torch.save(payload("wgan", {}, {}), directory / "unknown_kind.pt")
    small, big = tiny_vae(2), tiny_vae(3)
    torch.save(payload("vae", asdict(small.config), big.state_dict()), directory / "shape.pt")
    torch.save(payload("vae", {"latent_dim": 0}, small.state_dict()), directory / "config.pt")
    torch.save(small.state_dict(), directory / "old_format.pt")  # a bare state_dict
    torch.save(payload("gan", {}, {"w": CodeOnLoad(marker)}), directory / "code.pt")
    (directory / "code_pickle.pt").write_bytes(pickle.dumps(CodeOnLoad(marker)))
    manifest = [{"file": "wrong_kind.pt", "kind": "vae", "name": "VAE"}]
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return {
        "truncated.pt": "not a readable checkpoint",
        "empty.pt": "file is empty",
        "random.pt": "not a readable checkpoint",
        "wrong_kind.pt": "holds a classifier model, expected gan or vae",
        "unknown_kind.pt": "unknown kind 'wgan'",
        "shape.pt": "weights do not fit vae model",
        "config.pt": "latent_dim",
        "old_format.pt": "old format",
        "code.pt": "not a readable checkpoint",
        "code_pickle.pt": "not a readable checkpoint",
    }


def option_of(at: AppTest, key: str, file_name: str) -> str:
    (label,) = [o for o in at.selectbox(key=key).options if o.endswith(f" {file_name}") or
                o.startswith(f"{file_name} ")]  # fmt: skip
    return label


@needs_classifier
@pytest.mark.parametrize("name", ["latent", "scores"])
def test_every_broken_file_is_named_with_its_problem_and_the_good_one_still_works(
    app_env, tmp_path, name
):
    checkpoints, _ = app_env
    marker = tmp_path / "code_ran"
    expected = write_broken_files(checkpoints, marker)
    key = f"{name}_generator"
    at = page(name, scores_n="1000", scores_real="false")
    assert_clean(at)
    for file_name, problem in expected.items():
        at.selectbox(key=key).select(option_of(at, key, file_name)).run()
        assert_clean(at)
        shown = messages(at)
        assert any(file_name in m and problem in m for m in shown), (file_name, shown)
        assert not at.get("plotly_chart"), file_name  # nothing drawn from a broken file
    at.selectbox(key=key).select(option_of(at, key, "gan.pt")).run()
    assert_clean(at)
    assert not messages(at)
    assert at.get("plotly_chart")  # the strip, or the histogram
    assert not marker.exists()  # no code from a checkpoint ever ran


# ---------------------------------------------------------------- runs with missing files


def run_with_files(store: RunStore, family: str, model, name: str) -> int:
    """A finished run with three metric rows, sample grids at steps 100 and 200 and its model."""
    from gendl.engine.worker import save_grid

    config = {"max_steps": 200, "max_seconds": None, "model": asdict(model.config)}
    if family == "gan":
        config.update(loss="bce", d_steps=1)
    run_id = store.create_run(family, config, name=name, state="running")
    directory = store.run_dir(run_id)
    grids = [
        (step, "sample_grid", str(save_grid(torch.rand(4, 1, 28, 28), directory / f"s{step}.png")))
        for step in (100, 200)
    ]
    rows = [{"step": s, "elapsed_s": s / 100, "loss": 1.0 / s, "recon_loss": 1.0 / s,
             "kl_loss": 0.1, "d_loss": 0.7, "g_loss": 0.7} for s in (1, 100, 200)]  # fmt: skip
    store.append_metrics(run_id, rows, grids)
    path = save_checkpoint(directory / "model.pt", model)
    store.append_metrics(run_id, [], [(200, "model", str(path))])
    store.update_run(run_id, state="finished")
    return run_id


@pytest.fixture
def runs_missing_files(app_env):
    """A VAE run whose last sample grid and model.pt were deleted, and a GAN run whose samples
    folder is gone (its model is still there)."""
    _, store = app_env
    vae = run_with_files(store, "vae", tiny_vae(), "grid deleted")
    (store.run_dir(vae) / "s200.png").unlink()
    (store.run_dir(vae) / "model.pt").unlink()
    gan = run_with_files(store, "gan", GAN(GANConfig(latent_dim=8)), "samples deleted")
    for png in store.run_dir(gan).glob("*.png"):
        png.unlink()
    return vae, gan


def test_train_page_notes_a_deleted_sample_grid_where_the_image_was(runs_missing_files):
    vae, gan = runs_missing_files
    at = page("train", train_run=str(vae))
    assert_clean(at)
    assert any(m.value.startswith(f"Run {vae} ") for m in at.markdown)
    notes = [c.value for c in at.caption] + [m.value for m in at.get("warning")]
    assert any("s200.png" in note and "missing" in note for note in notes), notes
    at.select_slider(key="train_grid_step").set_value(100).run()
    assert_clean(at)
    assert at.get("image")  # the grid still on disk is shown
    at = page("train", train_run=str(gan))
    assert_clean(at)
    assert not at.get("image")


def test_runs_page_lists_and_compares_runs_with_missing_files(runs_missing_files):
    vae, gan = runs_missing_files
    at = page("runs")
    assert_clean(at)
    assert set(at.dataframe[0].value["id"]) == {vae, gan}
    at.multiselect(key="runs_selected").set_value([vae, gan]).run()
    assert_clean(at)
    at.selectbox(key="runs_target").set_value(vae).run()
    assert_clean(at)
    assert at.get("download_button")


@needs_classifier
def test_scores_page_names_a_run_whose_model_was_deleted(runs_missing_files):
    vae, gan = runs_missing_files
    at = page("scores", scores_n="1000", scores_real="false")
    assert_clean(at)
    options = at.selectbox(key="scores_generator").options
    (deleted,) = [o for o in options if f"run {vae} " in o]
    (present,) = [o for o in options if f"run {gan} " in o]
    at.selectbox(key="scores_generator").select(deleted).run()
    assert_clean(at)
    assert any(f"run:{vae}" in m and "model.pt" in m for m in messages(at)), messages(at)
    at.selectbox(key="scores_generator").select(present).run()
    assert_clean(at)
    assert at.metric[0].label == "Inception score, GAN"


# ---------------------------------------------------------------- paths from the URL

_opened: list[str] | None = None  # every path the process opens while a test watches


def _record_open(event: str, args: tuple) -> None:
    if event == "open" and _opened is not None and isinstance(args[0], (str, bytes, Path)):
        _opened.append(os.path.realpath(os.fsdecode(args[0])))


sys.addaudithook(_record_open)  # audit hooks cannot be removed; idle unless ``_opened`` is set


@pytest.fixture
def opened_files():
    global _opened
    _opened = []
    yield _opened
    _opened = None


@pytest.fixture
def outside(app_env, tmp_path):
    """A valid GAN checkpoint outside checkpoints/ and runs/, a link to it in each, and a
    classifier run (an id of another kind)."""
    checkpoints, store = app_env
    secret = tmp_path / "outside" / "evil.pt"
    save_checkpoint(secret, GAN(GANConfig(latent_dim=8)))
    save_checkpoint(checkpoints / "gan.pt", GAN(GANConfig(latent_dim=8)))
    (checkpoints / "link.pt").symlink_to(secret)
    linked = run_with_files(store, "gan", GAN(GANConfig(latent_dim=8)), "linked model")
    (store.run_dir(linked) / "model.pt").unlink()
    (store.run_dir(linked) / "model.pt").symlink_to(secret)
    config = {"max_steps": 5, "max_seconds": None, "model": {"arch": "mlp"}}
    classifier = store.create_run("classifier", config, state="running")
    store.append_metrics(classifier, [{"step": 5, "elapsed_s": 0.5, "loss": 1.0}])
    store.update_run(classifier, state="finished")
    return secret, linked, classifier


def assert_not_opened(opened: list[str], secret: Path) -> None:
    far = [p for p in opened if p.startswith(str(secret.parent)) or p == "/etc/passwd"]
    assert not far, far


LINKS = ["../../etc/passwd", "/etc/passwd", "../outside/evil.pt", "GAN · ../outside/evil.pt"]


@needs_classifier
@pytest.mark.parametrize("name", ["latent", "scores"])
def test_generator_links_with_paths_or_other_ids_are_refused(
    outside, opened_files, name
):  # fmt: skip
    secret, linked, classifier = outside
    key = f"{name}_generator"
    for asked in [*LINKS, str(secret), "run:1", f"run:{classifier}",
                  f"GAN · run {classifier} (5 steps)"]:  # fmt: skip
        at = page(name, **{key: asked}, scores_n="1000", scores_real="false")
        assert_clean(at)
        assert any(f"{key}={asked!r}" in w.value for w in at.warning), (asked, messages(at))
        assert at.selectbox(key=key).value == "GAN · gan.pt"  # the first entry, not the link
    for file_name, problem in (("link.pt", "outside"), (f"run:{linked}", "outside")):
        label = next(o for o in at.selectbox(key=key).options if file_name.split(":")[-1] in o)
        at.selectbox(key=key).select(label).run()
        assert_clean(at)
        assert any(problem in m for m in messages(at)), (file_name, messages(at))
    assert_not_opened(opened_files, secret)


def test_train_and_sweep_links_that_are_not_ids_are_refused(outside, opened_files):
    secret, _, classifier = outside
    for asked in [*LINKS, str(secret), "99999999999999999999999", "-1", "1e3", "٣"]:
        at = page("train", train_run=asked)
        assert_clean(at)
        assert any("train_run=" in w.value for w in at.warning), (asked, messages(at))
        assert "train_run" not in at.session_state
    at = page("train", train_run="424242")
    assert any("names no run" in w.value for w in at.warning)
    at = page("train", train_run=str(classifier))  # an existing run of any kind can be watched
    assert_clean(at)
    assert at.session_state["train_run"] == classifier
    for asked in LINKS:
        at = page("rnn_vs_lstm", rnnlstm_recipe=asked)
        assert_clean(at)
        assert any("rnnlstm_recipe=" in w.value for w in at.warning), (asked, messages(at))
        at = page("runs", runs_family=asked, runs_state=asked)
        assert_clean(at)
    assert_not_opened(opened_files, secret)


# ---------------------------------------------------------------- a diverged run

DIVERGING_VAE = {  # lr 0.5 on fake data: the loss is nan at step 2 (tests/test_cli_runs.py)
    "train_preset": "vae",
    "train_vae_data": "fake",
    "train_vae_lr": "0.5",
    "train_vae_n_score_samples": "0",
    "train_vae_batch_size": "16",
    "train_vae_max_steps": "50",
    "train_vae_eval_every": "1",
}


def test_a_diverged_run_shows_its_reason_and_earlier_metrics(app_env):
    at = page("train", **DIVERGING_VAE)
    assert_clean(at)
    at.button(key="train_start").click().run()
    run_id = at.session_state["train_run"]
    rerun_until(at, lambda at: "**failed**" in status_line(at))
    assert "loss became nan at step 2" in status_line(at)
    curves = figure(at, "train_curves")["data"]
    assert [trace["x"] for trace in curves] == [[1], [1]]  # recon_loss and kl_loss of step 1
    assert at.get("image")  # the sample grid of step 1

    at = page("runs")
    assert_clean(at)
    (row,) = at.dataframe[0].value.to_dict("records")
    assert (row["id"], row["state"], row["step"]) == (run_id, "failed", 1)
    assert "loss became nan at step 2" in row["reason"]
    at.multiselect(key="runs_selected").set_value([run_id]).run()
    assert_clean(at)
    (trace,) = figure(at, "runs_overlay")["data"]
    assert trace["x"] == [1]


# ---------------------------------------------------------------- twenty sessions at once

N_SESSIONS = 20
SESSION_RUN = {  # a tiny LSTM that neither solves length 60 nor reaches its budget in minutes:
    "train_preset": "lstm",  # each session stops its own run
    "train_lstm_seq_length": "60",
    "train_lstm_hidden_dim": "8",
    "train_lstm_batch_size": "16",
    "train_lstm_max_steps": "1000000",
    "train_lstm_eval_every": "1000",
}
RENDER_LIMIT_S = 2.0


def _one_parse_at_a_time(add_magic: Callable) -> Callable:
    """Each AppTest run compiles its script in a fresh cache, and ``ast.parse`` on many threads at
    once trips a CPython 3.11 race ("AST constructor recursion depth mismatch"). A real server
    compiles a page once, under its script cache's lock; this gives the test harness that lock."""
    lock = threading.Lock()

    def serialized(*args, **kwargs):
        with lock:
            return add_magic(*args, **kwargs)

    return serialized


def start_at_once(sessions: list[AppTest]) -> list[BaseException]:
    """Click Start in every session from its own thread, released together."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(magic, "add_magic", _one_parse_at_a_time(magic.add_magic))
        return _click_start_together(sessions)


def _click_start_together(sessions: list[AppTest]) -> list[BaseException]:
    barrier, errors = threading.Barrier(len(sessions)), []

    def click(at: AppTest) -> None:
        try:
            barrier.wait()
            at.button(key="train_start").click().run()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=click, args=(at,)) for at in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def fresh_render_seconds(name: str) -> float:
    started = time.perf_counter()
    at = page(name)
    seconds = time.perf_counter() - started
    assert_clean(at)
    return seconds


@pytest.mark.slow  # 20 sessions render, start, are watched and stop: about a minute
def test_twenty_sessions_start_runs_at_once(app_env):
    _, store = app_env
    sessions = [page("train", **SESSION_RUN, train_lstm_seed=str(k)) for k in range(N_SESSIONS)]
    for at in sessions:
        assert_clean(at)
    assert not start_at_once(sessions)
    run_ids = [at.session_state["train_run"] for at in sessions]
    owners = [at.session_state["owner"] for at in sessions]
    assert len(set(run_ids)) == len(set(owners)) == N_SESSIONS
    created = [store.get_run(run_id).created for run_id in run_ids]
    for k, (at, run_id) in enumerate(zip(sessions, run_ids, strict=True)):
        assert_clean(at)
        assert status_line(at).startswith(f"Run {run_id} ")  # its own run, nobody else's
        run = store.get_run(run_id)
        assert (run.owner, run.config["seed"]) == (owners[k], k)  # its own settings went in

    # the pool bounds parallel runs; pages still render while the runs queue and train
    max_workers = engine().pool.max_workers
    most_launched, queued_then, renders = 0, [], []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = [run.state for run in store.list_runs()]
        launched = sum(run.active and run.pid is not None for run in store.list_runs())
        most_launched = max(most_launched, launched)
        assert launched <= max_workers
        if states.count("running") == max_workers:
            queued_then.append(states.count("queued"))
        renders += [fresh_render_seconds(name) for name in ("train", "runs", "overview")]
        if len(queued_then) >= 3 and len(renders) >= 15:
            break
    print(
        f"\n{N_SESSIONS} sessions queued their runs within {max(created) - min(created):.2f} s; "
        f"at most {most_launched} runs launched at once "
        f"(max_workers {max_workers}); queued while {max_workers} ran: {queued_then}; "
        f"{len(renders)} fresh renders, max {max(renders):.2f} s, "
        f"median {sorted(renders)[len(renders) // 2]:.2f} s"
    )
    assert queued_then and min(queued_then) >= N_SESSIONS - max_workers - 2
    assert max(renders) < RENDER_LIMIT_S

    # another session sees a run through its link, with its controls disabled and why
    victim = run_ids[0]
    intruder = page("train", train_run=str(victim))
    assert status_line(intruder).startswith(f"Run {victim} ")  # runs are visible to everyone
    for button in ("train_stop", "train_pause"):
        assert intruder.button(key=button).disabled
        assert "belongs to another session" in intruder.button(key=button).proto.help
    assert store.get_run(victim).active and not store.pending_commands(victim)

    # each session's Stop acts on its own run only
    for at in sessions:
        at.run()  # as the polling fragment does: the controls now know the session's run
        assert at.button(key="train_start").disabled  # one active run per session

    # a click that arrives anyway (Streamlit replays one after a preempted fragment run)
    replayed = sessions[2].button(key="train_start")
    replayed.proto.disabled = False
    replayed.click().run()
    assert_clean(sessions[2])
    assert len(store.list_runs()) == N_SESSIONS
    sessions[1].button(key="train_stop").click().run()
    assert_clean(sessions[1])
    assert not any(e.value for e in sessions[1].error)
    assert engine().wait(run_ids[1], timeout=120).state == "stopped"
    assert store.get_run(victim).active and not store.pending_commands(victim)
    for at in [sessions[0], *sessions[2:]]:
        if store.get_run(at.session_state["train_run"]).active:
            at.button(key="train_stop").click().run()
            assert_clean(at)
    for run_id in run_ids:
        assert engine().wait(run_id, timeout=120).state == "stopped"


# ---------------------------------------------------------------- a real server under that load

READY = {  # each page's title and its last element: the script ran to the end
    "": ("gendl: deep sequence", '[data-testid="stDataFrame"]'),
    "train": ("Train a model", 'button:has-text("Start")'),
    "runs": ("Runs", '[data-testid="stDataFrame"], [data-testid="stAlert"]'),
}


def first_render_seconds(context, url: str, path: str) -> float:
    """From asking for ``url/path`` in a new tab until its title and last element are shown."""
    page = context.new_page()
    started = time.perf_counter()
    page.goto(f"{url}/{path}")
    title, last = READY[path]
    page.locator("h1").filter(has_text=title).first.wait_for(state="visible")
    page.locator(last).first.wait_for(state="visible")
    seconds = time.perf_counter() - started
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
    return seconds


def page_loads(browser, url: str, repeat: int = 2) -> tuple[list[float], list[float]]:
    """First-render times of each page: in a new browser context (nothing cached: the app's
    JavaScript is fetched too) and in a new tab of a context that loaded the app before."""
    cold, warm = [], []
    for _ in range(repeat):
        for path in READY:
            context = browser.new_context()
            context.set_default_timeout(120_000)
            cold.append(first_render_seconds(context, url, path))
            warm.append(first_render_seconds(context, url, path))
            context.close()
    return cold, warm


def health_seconds(url: str, n: int = 20) -> list[float]:
    import urllib.request

    times = []
    for _ in range(n):
        started = time.perf_counter()
        with urllib.request.urlopen(url + "/_stcore/health", timeout=120) as response:
            assert response.status == 200
        times.append(time.perf_counter() - started)
        time.sleep(0.1)
    return times


def server_cpu_seconds(port: str) -> float:
    """CPU time used so far by the ``streamlit run`` process serving on ``port``."""
    for stat in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = stat.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"streamlit" in args and port.encode() in args:
            fields = (stat.parent / "stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    raise LookupError(f"no streamlit process on port {port}")


def summary(times: list[float]) -> str:
    return f"max {max(times):.2f} s, median {sorted(times)[len(times) // 2]:.2f} s"


def start_in_browsers(browser, url: str, n: int) -> list:
    """``n`` browser contexts (each its own cookie, so its own session owner) open the Train page
    with a tiny LSTM run; once all show Start, each clicks it. Returns the contexts."""
    query = "&".join(f"{key}={value}" for key, value in SESSION_RUN.items())
    contexts, tabs = [], []
    for k in range(n):
        context = browser.new_context()
        context.set_default_timeout(180_000)
        tab = context.new_page()
        tab.goto(f"{url}/train?{query}&train_seed={k}")
        tab.locator('button:has-text("Start"):enabled').first.wait_for()
        contexts.append(context)
        tabs.append(tab)
    for tab in tabs:
        tab.locator('button:has-text("Start")').first.click()
    return contexts


@pytest.mark.slow  # a streamlit server, Chromium, twenty browser sessions: several minutes
def test_a_real_server_renders_pages_while_twenty_runs_queue(tmp_path):
    from tests.browser import chromium, dashboard_server, missing_browser

    if missing_browser():
        pytest.skip(missing_browser())
    root, checkpoints = tmp_path / "runs", tmp_path / "checkpoints"
    checkpoints.mkdir()
    env = {"GENDL_RUNS_DIR": str(root), CHECKPOINT_DIR_ENV: str(checkpoints)}
    with dashboard_server(env, log=tmp_path / "server.log") as url, chromium() as browser:
        try:
            loaded_server(browser, url, RunStore(root))
        finally:  # the local user (no owner) stops every run before the server ends
            with RunEngine(root) as local:
                for run in local.list():
                    if run.active:
                        local.stop(run.id)
                for run in local.list():
                    assert local.wait(run.id, timeout=120).state == "stopped"


def loaded_server(browser, url: str, store: RunStore) -> None:
    port = url.rsplit(":", 1)[1]
    cpu_before, started = server_cpu_seconds(port), time.perf_counter()
    idle_health = health_seconds(url)
    idle_share = (server_cpu_seconds(port) - cpu_before) / (time.perf_counter() - started)
    idle_cold, idle_warm = page_loads(browser, url, repeat=1)

    students = start_in_browsers(browser, url, N_SESSIONS)
    deadline = time.monotonic() + 180
    while len(store.list_runs()) < N_SESSIONS or not any(
        run.state == "running" for run in store.list_runs()
    ):
        assert time.monotonic() < deadline, "the twenty runs were not queued and started"
        time.sleep(0.2)
    cpu_before, started = server_cpu_seconds(port), time.perf_counter()
    watched_health = health_seconds(url)  # while the twenty tabs poll their runs
    busy_share = (server_cpu_seconds(port) - cpu_before) / (time.perf_counter() - started)
    for context in students:  # the students leave the page; their runs go on
        context.close()

    busy_health = health_seconds(url)
    busy_cold, busy_warm = page_loads(browser, url)
    runs = store.list_runs()
    states = [run.state for run in runs]
    print(
        f"\nreal server, idle: server process busy {idle_share:.0%} of one core; health "
        f"{summary(idle_health)}; first render in a new context "
        f"{summary(idle_cold)}, in a new tab {summary(idle_warm)}"
        f"\nreal server, {N_SESSIONS} browser tabs polling their runs: health "
        f"{summary(watched_health)}, server process busy {busy_share:.0%} of one core"
        f"\nreal server, tabs closed, {states.count('running')} runs running and "
        f"{states.count('queued')} queued: health {summary(busy_health)}; first render in a "
        f"new context {summary(busy_cold)}, in a new tab {summary(busy_warm)}"
    )
    assert len({run.owner for run in runs}) == len(runs) == N_SESSIONS  # one run per click
    assert states.count("running") <= 2 and states.count("queued") >= N_SESSIONS - 4
    assert max(busy_health) < RENDER_LIMIT_S
    # Chromium on the same two cores dominates a page's first render (it is no faster idle):
    # the bound only says that pages still come, and comparably fast as when idle
    assert max(busy_warm) < max(RENDER_LIMIT_S, 3 * max(idle_warm))
