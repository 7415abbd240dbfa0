"""Latent explorer: walk between two latents of a GAN or VAE and watch the digit change; for a VAE
with a 2-D latent space, the whole map of what it draws, where a click decodes that point."""

from __future__ import annotations

import streamlit as st
from torch import nn

from app_pages.common import projected
from app_pages.explore_common import classifier, path_position, pick_generator
from gendl.errors import GendlError
from gendl.latent import INTERPOLATIONS
from gendl.views import explore

QUERY = "query-params"

st.title("Latent explorer")
st.caption(
    "A generator maps a latent vector z to an image. Walk in a straight line (lerp) or along the "
    "sphere (slerp) from one latent to another and watch the digit morph; under each frame, the "
    "digit the MNIST classifier reads and how sure it is."
)


@st.cache_data(max_entries=16, show_spinner="Decoding the path...")
def walk(
    _model: nn.Module, _classifier: nn.Module | None, model_key: tuple, settings: dict
) -> explore.Walk:
    """Decoded once per model and settings; moving the slider only picks among these frames."""
    return explore.latent_walk(_model, _classifier, **settings)


@st.cache_data(max_entries=4, show_spinner="Decoding the latent map...")
def map_of(_model: nn.Module, _classifier: nn.Module | None, model_key: tuple) -> explore.LatentMap:
    return explore.latent_map(_model, _classifier)


picked = pick_generator("latent")
if picked is None:
    st.stop()
source, model = picked
judge = classifier()

left, middle, right = st.columns([2, 2, 2])
mode = left.radio(
    "Endpoints", explore.ENDPOINT_MODES, key="latent_endpoints", bind=QUERY, horizontal=True
)
method = middle.radio("Path", INTERPOLATIONS, key="latent_method", bind=QUERY, horizontal=True)
n_frames = right.slider("Frames in the strip", 3, 24, 10, key="latent_frames", bind=QUERY)
seeds, digits, search_seed, min_confidence = (0, 1), (0, 1), 0, 0.9
a, b, c, d = st.columns(4)
if mode == "seeds":
    seeds = (
        a.number_input("Seed A", 0, 2**31 - 1, 0, key="latent_seed_a", bind=QUERY),
        b.number_input("Seed B", 0, 2**31 - 1, 1, key="latent_seed_b", bind=QUERY),
    )
elif mode == "digits":
    digits = (
        a.selectbox("Digit A", range(10), 0, key="latent_digit_a", bind=QUERY),
        b.selectbox("Digit B", range(10), 1, key="latent_digit_b", bind=QUERY),
    )
    search_seed = c.number_input(
        "Search seed", 0, 2**31 - 1, 0, key="latent_search_seed", bind=QUERY
    )
    min_confidence = d.slider(
        "Classifier at least", 0.5, 0.99, 0.9, 0.01, key="latent_min_confidence", bind=QUERY
    )
settings = {
    "mode": mode,
    "method": method,
    "n_frames": n_frames,
    "seeds": seeds,
    "digits": digits,
    "search_seed": search_seed,
    "min_confidence": min_confidence,
}
try:
    path = walk(model, judge, (source.id, source.stamp()), settings)
except GendlError as exc:  # LatentSearchError: the model never drew that digit confidently
    (d if mode == "digits" else st).error(str(exc))
    st.stop()

slider_column, map_column = st.columns([1, 2] if model.latent_dim == 2 else [1, 1])
with slider_column:
    path_position(path.slider, path.pngs)
if model.latent_dim == 2:
    with map_column:
        latent = map_of(model, judge, (source.id, source.stamp()))
        event = st.plotly_chart(
            projected(explore.latent_map_figure(latent, path.slider.latents)),
            key="latent_map",
            on_select="rerun",
            selection_mode="points",
        )
        points = event.selection.points if event else []
        if points:
            z = (points[0]["x"], points[0]["y"])
            clicked = explore.decode_point(model, z, judge)
            caption = f"z = ({z[0]:.2f}, {z[1]:.2f}): {clicked.caption(0)}"
            st.image(explore.digit_png(clicked.images[0], 5), caption=caption)
        else:
            st.caption("Click a point of the map to decode it.")
else:
    map_column.markdown(
        f"The latent space has {model.latent_dim} dimensions, so there is no map to draw; "
        "train a VAE with `--set model.latent_dim=2` to see one."
    )
st.subheader(f"{n_frames} frames from A to B")
st.plotly_chart(projected(explore.strip_figure(path.strip)), key="latent_strip")
