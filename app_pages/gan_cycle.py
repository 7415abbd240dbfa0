"""Why GANs cycle: gradient play on f(x, y) = x y, the smallest two-player game (seed 003)."""

from __future__ import annotations

import math

import streamlit as st

from app_pages.common import show_figure
from gendl.dynamics import UPDATES, alternating_turn, simultaneous_growth
from gendl.errors import GendlError
from gendl.views import cycle

QUERY = "query-params"
BOTH = "both"

st.title("Why GANs cycle")
st.markdown(
    "The course's VAE and GAN notebook asks: for f(x, y) = xy, what is min_x max_y f? Take alternating gradient steps from "
    "(1, 1) with step size 1: first y climbs, y' = y + lr·x, then x descends with the new y, "
    "x' = x - lr·y'. The answer is 0, at the saddle (0, 0), yet the steps never get there: they "
    "**orbit** around it, like a generator and a discriminator that keep undoing each other's "
    "progress. Taking both steps at once from the same point is worse: it **spirals out**."
)


def seed_setting() -> None:
    st.session_state.update(cycle_lr=1.0, cycle_steps=6, cycle_update="alternating")


left, middle, right = st.columns([3, 3, 2])
lr = left.slider("Step size lr", 0.05, 2.5, 0.3, 0.05, key="cycle_lr", bind=QUERY)
n_steps = middle.slider("Steps", 1, 200, 30, key="cycle_steps", bind=QUERY)
update = right.radio("Updates", (*UPDATES, BOTH), index=2, key="cycle_update", bind=QUERY)
a, b, _ = st.columns([3, 3, 2])
x0 = a.number_input("Start x", -5.0, 5.0, 1.0, 0.5, key="cycle_x0", bind=QUERY)
y0 = b.number_input("Start y", -5.0, 5.0, 1.0, 0.5, key="cycle_y0", bind=QUERY)
# on a row of its own: a third of the width cuts the label off at 1024 px
st.button("The notebook's question (lr 1, 6 steps)", on_click=seed_setting, key="cycle_seed")

try:
    paths = cycle.cycle_paths(lr, n_steps, UPDATES if update == BOTH else (update,), (x0, y0))
except GendlError as exc:
    st.error(str(exc))
    st.stop()

figure_column, table_column = st.columns([3, 2])
show_figure(cycle.cycle_figure(paths, lr), "cycle_path", figure_column)
with table_column:
    st.markdown("**The first steps**")
    rows = cycle.cycle_table(paths, lr)
    three_decimals = st.column_config.NumberColumn(format="%.3f")
    columns = {name: three_decimals for name in rows[0] if name != "t"}
    st.dataframe(rows, hide_index=True, column_config=columns, key="cycle_table")

turn = alternating_turn(lr)
if turn is None:
    orbit = f"At lr = {lr:g} >= 2 even alternating steps escape, along a hyperbola."
else:
    orbit = (
        f"At lr = {lr:g} each alternating step turns by {math.degrees(turn):.1f} degrees around the "
        f"saddle: one loop every {2 * math.pi / turn:.1f} steps, on the ellipse "
        f"x² + y² + {lr:g}·xy = const, which the step keeps exactly (its matrix has determinant 1)."
    )
growth = (
    f"Each simultaneous step multiplies the distance to the saddle by sqrt(1 + lr²) = "
    f"{simultaneous_growth(lr):.4f}: a rotation that is also a stretch."
)
st.markdown(f"{orbit} {growth}")
show_figure(cycle.radius_figure(paths, lr), "cycle_radius")
