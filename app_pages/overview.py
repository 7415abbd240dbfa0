"""Overview: what each page is for, the models, the shipped checkpoints and the latest runs."""

import streamlit as st

from app_pages.common import engine, viewer
from gendl.engine.classroom import students
from gendl.shipped.catalogue import CATALOGUE, checkpoint_dir, shipped_checkpoints
from gendl.views.overview import shipped_rows
from gendl.views.training import run_row

PAGES = {
    "Train": "train any model live: curves, sample grid, pause and single-step",
    "RNN vs LSTM": "accuracy against sequence length over seeds; where the gradient vanishes",
    "Latent explorer": "walk between two latent points of a GAN or VAE, digit by digit",
    "Class histogram and scores": "which digits a generator makes, inception score, mode collapse",
    "Runs": "every run so far: filter, overlay curves, compare configs, export, delete",
    "Why GANs cycle": "alternating gradient steps on f(x, y) = xy orbit instead of converging",
}

st.title("gendl: deep sequence and generative models, hands on")
st.markdown(
    "Train small models on real MNIST and on the palindrome task, watch their curves, and explore "
    "what they learned. Every model below runs on a laptop CPU."
)
st.markdown("\n".join(f"- **{page}**: {what}" for page, what in PAGES.items()))

st.subheader("Models")
st.dataframe(CATALOGUE, hide_index=True, width="stretch")

st.subheader("Shipped models and their scores")
shipped = shipped_rows(shipped_checkpoints(checkpoint_dir()))
if shipped:
    st.dataframe(shipped, hide_index=True, width="stretch")
else:
    st.info(
        "No checkpoint manifest in checkpoints/ yet: train one with `python -m gendl train ...`."
    )

st.subheader("Recent runs")
runs = engine().list()[:10]
if runs:
    owner, names = viewer(), students(engine().store)
    st.dataframe(
        [run_row(run, owner, names) for run in runs],
        hide_index=True,
        width="stretch",
        column_config={"control": None, "reason": st.column_config.TextColumn(width="large")},
    )
else:
    st.info("No runs yet: start one on the Train page.")
