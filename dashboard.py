"""gendl dashboard entry point: page config and navigation only. Run with `make run`."""

import streamlit as st

st.set_page_config(page_title="gendl", page_icon=":material/neurology:", layout="wide")

pages = [
    st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/rnn_vs_lstm.py", title="RNN vs LSTM", icon=":material/timeline:"),
    st.Page("pages/latent.py", title="Latent explorer", icon=":material/linear_scale:"),
    st.Page("pages/scores.py", title="Class histogram and scores", icon=":material/bar_chart:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
    st.Page("pages/gan_cycle.py", title="Why GANs cycle", icon=":material/cycle:"),
]
st.navigation(pages).run()
