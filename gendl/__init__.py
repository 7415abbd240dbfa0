"""gendl: models, training loops and metrics behind the gendl teaching dashboard (no streamlit here)."""

__version__ = "0.1.0"
