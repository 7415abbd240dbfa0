"""gendl dashboard entry point: page config, presenter mode and navigation only. Run with `make run`.

The pages live in ``app_pages/``: a folder named ``pages/`` next to this file switches Streamlit to
its older file-per-page routing for a page URL requested before this script has run once.
"""

import streamlit as st

from app_pages.common import engine, in_class, is_teacher, presenter_controls, presenting

st.set_page_config(
    page_title="gendl",
    page_icon=":material/neurology:",
    layout="wide",
    initial_sidebar_state="collapsed" if presenting() else "auto",
)

classroom = in_class()
if classroom:
    is_teacher()  # takes the teacher link's secret out of the address bar, whichever page it opens
pages = [
    st.Page(
        "app_pages/overview.py", title="Overview", icon=":material/home:", default=not classroom
    ),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/rnn_vs_lstm.py", title="RNN vs LSTM", icon=":material/timeline:"),
    st.Page("app_pages/latent.py", title="Latent explorer", icon=":material/linear_scale:"),
    st.Page("app_pages/scores.py", title="Class histogram and scores", icon=":material/bar_chart:"),
    st.Page("app_pages/runs.py", title="Runs", icon=":material/history:"),
    st.Page("app_pages/gan_cycle.py", title="Why GANs cycle", icon=":material/cycle:"),
]
if classroom:
    pages = [
        st.Page("app_pages/board.py", title="Class board", icon=":material/groups:", default=True),
        *pages,
        st.Page("app_pages/teacher.py", title="Teacher", icon=":material/school:"),
    ]
engine().recover()  # a run whose process died shows as interrupted from this page load on
page = st.navigation(pages)
presenter_controls()
page.run()
