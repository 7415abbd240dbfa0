import shutil
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # as above, for a test that set up a worker in this process
    # `gendl train` run in-process flushes denormals for its process; later tests (hypothesis
    # among them) need IEEE floats back
    torch.set_flush_denormal(False)


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    """Pages under AppTest: an empty checkpoint directory and run store, fresh Streamlit caches;
    yields (checkpoint dir, store). The engine the pages made is closed at the end."""
    import streamlit as st

    from gendl.engine.store import RunStore
    from gendl.shipped.sources import CHECKPOINT_DIR_ENV

    monkeypatch.syspath_prepend(str(REPO))  # pages import app_pages.*
    monkeypatch.chdir(REPO)
    checkpoints, runs = tmp_path / "checkpoints", tmp_path / "runs"
    checkpoints.mkdir()
    shipped_classifier = REPO / "checkpoints" / "classifier.pt"
    if shipped_classifier.is_file():  # what scores and labels digits, found via the env like all
        shutil.copyfile(shipped_classifier, checkpoints / "classifier.pt")
    monkeypatch.setenv(CHECKPOINT_DIR_ENV, str(checkpoints))
    monkeypatch.setenv("GENDL_RUNS_DIR", str(runs))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield checkpoints, RunStore(runs)
    from app_pages.common import engine

    engine().close(timeout=30)
    st.cache_data.clear()
    st.cache_resource.clear()
