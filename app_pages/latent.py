"""Latent explorer: walk between two latents of a GAN or VAE and watch the digit change; for a VAE
with a 2-D latent space, the whole map of what it draws, where a click decodes that point."""

from __future__ import annotations

import streamlit as st
from torch import nn

from app_pages.common import show_figure
from app_pages.explore_common import classifier, path_position, pick_generator
from gendl.errors import GendlError
from gendl.latent import INTERPOLATIONS
from gendl.views import explore
from gendl.views.export import animated_gif

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


def remember_click(source_id: str) -> None:
    """Keep the clicked point of the map and draw the map afresh under a new key: Plotly answers a
    click on a map that already holds a selection with an empty one (plotly.js issue 3248), so a
    second click would decode nothing."""
    round_ = st.session_state.get("latent_map_round", 0)
    event = st.session_state.get(f"latent_map_{round_}") or {}
    points = event.get("selection", {}).get("points", [])
    if points:
        clicked = st.session_state.setdefault("latent_clicked", {})
        clicked[source_id] = (float(points[-1]["x"]), float(points[-1]["y"]))
        st.session_state["latent_map_round"] = round_ + 1


def strip_captions(frames: explore.Frames) -> list[str]:
    return [f"alpha {a:.2f}: {frames.caption(i)}" for i, a in enumerate(frames.alphas)]


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
        clicked = st.session_state.get("latent_clicked", {}).get(source.id)
        show_figure(
            explore.latent_map_figure(latent, path.slider.latents, clicked),
            f"latent_map_{st.session_state.get('latent_map_round', 0)}",
            on_select=lambda: remember_click(source.id),
            selection_mode="points",
        )
        if clicked is not None:
            point = explore.decode_point(model, clicked, judge)
            caption = f"z = ({clicked[0]:.2f}, {clicked[1]:.2f}): {point.caption(0)}"
            st.image(explore.digit_png(point.images[0], 5), caption=caption)
        else:
            st.caption("Click a point of the map to decode it.")
else:
    map_column.markdown(
        f"The latent space has {model.latent_dim} dimensions, so there is no map to draw; "
        "train a VAE with `--set model.latent_dim=2` to see one."
    )
st.subheader(f"{n_frames} frames from A to B")
show_figure(explore.strip_figure(path.strip), "latent_strip")
st.download_button(
    "Download the strip as an animated GIF",
    lambda: animated_gif(path.strip.images, strip_captions(path.strip)),
    f"latent_walk_{n_frames}_frames.gif",
    "image/gif",
    key="latent_gif",
    on_click="ignore",
    icon=":material/download:",
)
