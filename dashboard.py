"""gendl dashboard entry point: page config, presenter mode and navigation only. Run with `make run`.

The pages live in ``app_pages/``: a folder named ``pages/`` next to this file switches Streamlit to
its older file-per-page routing for a page URL requested before this script has run once.
"""

import streamlit as st

from app_pages.common import presenter_controls, presenting

st.set_page_config(
    page_title="gendl",
    page_icon=":material/neurology:",
    layout="wide",
    initial_sidebar_state="collapsed" if presenting() else "auto",
)

pages = [
    st.Page("app_pages/overview.py", title="Overview", icon=":material/home:", default=True),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/rnn_vs_lstm.py", title="RNN vs LSTM", icon=":material/timeline:"),
    st.Page("app_pages/latent.py", title="Latent explorer", icon=":material/linear_scale:"),
    st.Page("app_pages/scores.py", title="Class histogram and scores", icon=":material/bar_chart:"),
    st.Page("app_pages/runs.py", title="Runs", icon=":material/history:"),
    st.Page("app_pages/gan_cycle.py", title="Why GANs cycle", icon=":material/cycle:"),
]
page = st.navigation(pages)
presenter_controls()
page.run()
