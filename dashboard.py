"""gendl dashboard entry point: page config and navigation only. Run with `make run`."""

import streamlit as st

st.set_page_config(page_title="gendl", page_icon=":material/neurology:", layout="wide")

pages = [
    st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
]
st.navigation(pages).run()
