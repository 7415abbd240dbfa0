"""Placeholder; being written."""

import streamlit as st

st.title("rnn_vs_lstm")
