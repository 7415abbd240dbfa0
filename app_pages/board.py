"""Class board: the class's runs on one projected page (class mode)."""

import streamlit as st

from app_pages.common import join_form

st.title("Class board")
join_form("board")
