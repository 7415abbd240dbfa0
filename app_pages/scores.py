"""Class histogram and scores: which digits a generator draws, how sure the classifier is about
them (inception score), real MNIST as the reference, and for runs both over training time."""

from __future__ import annotations

import streamlit as st
from torch import nn

from app_pages.common import show_figure
from app_pages.explore_common import classifier, classifier_stamp, current_store, pick_generator
from gendl.errors import GendlError
from gendl.views import scores as views

QUERY = "query-params"

st.title("Class histogram and scores")
st.caption(
    "The MNIST classifier reads every sample. A good generator draws all ten digits about equally "
    "often (the histogram follows the uniform line) and clearly (confident predictions): then the "
    "inception score exp(E KL(p(y|x) || p(y))) approaches 10. Mode collapse shows as a few tall bars "
    "and a low score."
)


@st.cache_data(max_entries=32, show_spinner="Sampling and classifying...")
def generated(_model: nn.Module, _classifier: nn.Module, model_key: tuple, n: int, seed: int):
    return views.sample_scores(_model, _classifier, n, seed)


@st.cache_data(max_entries=2, show_spinner="Classifying the 10,000 real MNIST test digits...")
def real(_classifier: nn.Module, classifier_key: int):
    return views.real_mnist_scores(_classifier)


@st.cache_data(max_entries=16, show_spinner=False)
def history(run_id: int, run_step: int, store_root: str) -> views.ScoreHistory:
    return views.score_history(current_store().metrics_since(run_id))


def show_score(column, title: str, result: dict) -> None:
    value = f"{result['inception_score']:.2f} ± {result['inception_std']:.2f}"
    column.metric(title, value, help="mean ± std over 10 splits of the samples")


picked = pick_generator("scores")
judge = classifier()
if picked is None or judge is None:
    st.stop()
source, model = picked

left, middle, right = st.columns([3, 2, 3])  # the box's label whole at 1024 px
n = left.slider("Samples", 1000, 10_000, 2000, 1000, key="scores_n", bind=QUERY)
seed = middle.number_input("Sampling seed", 0, 2**31 - 1, 0, key="scores_seed", bind=QUERY)
compare = right.checkbox("Compare with real MNIST", True, key="scores_real", bind=QUERY)
sampled = generated(model, judge, (source.id, source.stamp()), n, seed)
reference = None
if compare:
    try:
        reference = real(judge, classifier_stamp())
    except GendlError as exc:  # MNIST files missing and not recoverable
        right.warning(f"Real MNIST is not available: {exc}")

first, second, third = st.columns(3)
show_score(first, f"Inception score, {source.variant}", sampled)
if reference is not None:
    show_score(second, "Inception score, real MNIST", reference)
counts = sampled["histogram"]
top = max(range(len(counts)), key=counts.__getitem__)
third.metric(
    "Most frequent digit",
    f"{top}: {counts[top] / n:.0%}",
    help="the digit the classifier reads most often and its share of the samples; uniform "
    "would be 10%",
)
histograms = {f"{source.label} ({n} samples)": sampled["histogram"]}
if reference is not None:
    histograms["real MNIST test set"] = reference["histogram"]
show_figure(views.histogram_figure(histograms), "scores_histogram")

if source.run_id is None:
    st.info("Scores over training time are kept for runs: pick a run to see them.")
    st.stop()
run = current_store().get_run(source.run_id)
past = history(run.id, run.step, str(current_store().root))
if len(past.steps) == 0:
    st.info(f"Run {run.id} logged no inception scores (it ran without the classifier).")
    st.stop()
st.subheader(f"Run {run.id} over training time")
ref_score = reference["inception_score"] if reference is not None else None
show_figure(views.history_figure(past, ref_score), "scores_history")
show_figure(views.histogram_heatmap(past), "scores_heatmap")
