"""Overview: what gendl is for and which shipped models it has."""

import streamlit as st

from gendl.catalogue import CATALOGUE, shipped_checkpoints

st.title("gendl: deep sequence and generative models, hands on")
st.markdown(
    "Train small models on real MNIST and on the palindrome task, watch their curves, and explore "
    "what they learned. Every model below runs on a laptop CPU."
)
st.subheader("Models")
st.dataframe(CATALOGUE, hide_index=True, use_container_width=True)
st.subheader("Shipped checkpoints")
rows = shipped_checkpoints()
if rows:
    st.dataframe(rows, hide_index=True, use_container_width=True)
else:
    st.info("No checkpoints in checkpoints/ yet: train one with `python -m gendl train ...`.")
