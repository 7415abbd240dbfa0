"""Streamlit pieces shared by the Latent explorer and Scores pages: the run store, the generator
picker, and the models, each loaded once per file version and never modified."""

from __future__ import annotations

import os

import streamlit as st
from torch import nn

from app_pages.common import refuse_unknown_link_value
from gendl.engine.store import DEFAULT_ROOT, RunStore
from gendl.errors import GendlError
from gendl.shipped.catalogue import classifier_path
from gendl.shipped.sources import GeneratorSource, list_generators, load_generator
from gendl.train.scoring import shipped_classifier
from gendl.views.explore import SLIDER_POSITIONS, Frames

NO_GENERATOR = (
    "No GAN or VAE to explore yet. Train one on the **Train** page, or run "
    "`python -m gendl train vae --max-steps 300 --out checkpoints/vae.pt` (about 30 s); shipped "
    "checkpoints in `checkpoints/` and finished GAN/VAE runs appear here by themselves."
)

ONLY_LISTED = (
    "Only the checkpoints in `checkpoints/` and the finished runs listed here can be opened."
)


@st.cache_resource(show_spinner=False)
def run_store(root: str) -> RunStore:
    """One connection per store directory (the directory can change between tests)."""
    return RunStore(root)


def current_store() -> RunStore:
    return run_store(os.environ.get("GENDL_RUNS_DIR") or str(DEFAULT_ROOT))


@st.cache_resource(max_entries=6, show_spinner="Loading the generator...")
def _generator(source_id: str, stamp: int, store_root: str) -> nn.Module:
    """Keyed by id and file time, so a retrained file is reloaded; a failed load is not cached."""
    return load_generator(source_id, run_store(store_root))


@st.cache_resource(show_spinner=False)
def _classifier(stamp: int) -> nn.Module | None:
    return shipped_classifier()


def classifier_stamp() -> int:
    path = classifier_path()
    return path.stat().st_mtime_ns if path.is_file() else 0


def classifier() -> nn.Module | None:
    """The shipped MNIST classifier that reads generated digits, or None (with a warning why)."""
    try:
        model = _classifier(classifier_stamp())
    except GendlError as exc:
        st.warning(f"The digit classifier cannot be loaded, so frames go unlabelled: {exc}")
        return None
    if model is None:
        st.warning(
            "No digit classifier yet: train it with "
            "`python -m gendl train classifier --out checkpoints/classifier.pt`."
        )
    return model


def pick_generator(prefix: str) -> tuple[GeneratorSource, nn.Module] | None:
    """A select box of every shipped generator and finished run (its choice kept in the URL), then
    the chosen model; None, with a message next to the box, when there is none or it is broken."""
    store = current_store()
    try:
        sources = list_generators(store)
    except GendlError as exc:
        st.error(f"Cannot list the generators: {exc}")
        return None
    if not sources:
        st.info(NO_GENERATOR)
        return None
    by_label = {source.label: source for source in sources}
    refuse_unknown_link_value(f"{prefix}_generator", by_label, ONLY_LISTED)
    label = st.selectbox(
        "Generator", list(by_label), key=f"{prefix}_generator", bind="query-params"
    )
    source = by_label[label]
    if source.error is not None:
        st.error(f"{source.id} cannot be used: {source.error}")
        return None
    try:
        model = _generator(source.id, source.stamp(), str(store.root))
    except GendlError as exc:
        st.error(f"{source.id} cannot be loaded: {exc}")
        return None
    known = source.scores.get("inception_score")
    score = f", inception score {known:.2f} when saved" if known is not None else ""
    st.caption(f"{source.variant}, {model.latent_dim}-D latent{score}")
    return source, model


@st.fragment
def path_position(frames: Frames, pngs: list[bytes]) -> None:
    """The slider along the latent path and the big digit at its position. Only this fragment
    reruns when the slider moves, and it only picks a frame decoded beforehand
    (``bench/latent_latency.py`` measures it)."""
    alpha = st.slider(
        "Position along the path", 0.0, 1.0, 0.5, 0.01, key="latent_alpha", bind="query-params"
    )
    index = round(alpha * (SLIDER_POSITIONS - 1))
    st.image(pngs[index], caption=f"alpha = {alpha:.2f}: {frames.caption(index)}", width=280)
