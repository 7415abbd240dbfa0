"""Plotly figures and page-level computations for the dashboard (no streamlit import here)."""
