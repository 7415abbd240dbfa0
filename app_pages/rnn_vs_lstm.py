"""RNN vs LSTM: how long a palindrome can each model remember? A sweep over lengths and seeds.

Every (model, length, seed) cell is a sequence run in the engine; the page stores their ids and a
fragment polls them, so the sweep trains in the background while the charts fill in.
"""

import streamlit as st

from app_pages.common import (
    engine,
    refuse_unknown_link_value,
    reported,
    run_rows,
    show_figure,
    viewer,
)
from gendl.config import config_to_dict
from gendl.engine.records import ACTIVE_STATES
from gendl.engine.runs import TERMINAL_STATES
from gendl.engine.sweep import SWEEP_MODELS, Sweep, summary
from gendl.errors import ConfigError
from gendl.shipped.sources import checkpoint_dir
from gendl.train.sequence import SWEEP_PRESETS
from gendl.train.timing import cache_dir
from gendl.views.estimates import format_duration, solved_steps, sweep_seconds
from gendl.views.export import table_csv
from gendl.views.style import label
from gendl.views.sweep import (
    accuracy_figure,
    grad_norm_heatmap,
    load_sweep_result,
    result_table,
    sweep_curves_figure,
)

QUERY = {"bind": "query-params"}
LENGTHS = list(range(5, 61, 5))
RECIPES = {
    "default": "one-hot input, Adam 3e-3, LSTM forget bias 3; stops once solved (seconds)",
    "seed000": "course assignment 3's recipe: scalar input, RMSprop 1e-3, 50,000 steps (hours)",
}


def shipped(recipe: str) -> None:
    """The sweep result shipped in checkpoints/ for ``recipe``, if there is one."""
    path = checkpoint_dir() / f"sweep_{recipe}.json"
    with reported():
        result = load_sweep_result(path)
        if result is None:
            st.info(
                f"No shipped result for the {recipe} recipe ({path.name}); launch the sweep above."
            )
            return
        results = result["results"]
        seeds = max((r.get("n_seeds") or 0 for r in results), default=0)
        show_figure(accuracy_figure(results), f"rnnlstm_shipped_{recipe}")
        st.caption(
            f"Shipped result ({path.name}): {seeds} seeds per cell, band = one standard deviation; "
            f"the sweep took {format_duration(result.get('wall_s'))}."
        )
        download_csv(results, f"rnn_vs_lstm_{recipe}.csv", f"rnnlstm_csv_{recipe}")


def download_csv(results: list[dict], file_name: str, key: str) -> None:
    """The result table (model, length, mean and std of test accuracy, seeds) as a CSV file."""
    st.download_button(
        "Download the result as CSV",
        table_csv(result_table(results)),
        file_name,
        "text/csv",
        key=key,
        on_click="ignore",
        icon=":material/download:",
    )


@st.fragment(run_every=1.0)
def live(sweep: Sweep) -> None:
    """Accuracy against length, training curves and gradient heatmap of the launched sweep."""
    points, rows_of = [], {}
    with reported():
        for cell, run in sweep.runs(engine()):
            rows_of[cell.model, cell.length, cell.seed] = run_rows(run.id, run.step)
        points = sweep.points(engine(), lambda run: run_rows(run.id, run.step))
    if not points:
        return
    curves = [(c.name, c.model, c.length, rows_of[c.model, c.length, c.seed]) for c in sweep.cells]
    ended = sum(p["state"] in TERMINAL_STATES for p in points)
    st.progress(ended / len(points), text=f"{ended} of {len(points)} runs ended")
    results = summary(points)
    show_figure(accuracy_figure(results, points), "rnnlstm_accuracy")
    download_csv(results, "rnn_vs_lstm_sweep.csv", "rnnlstm_csv_live")

    st.subheader("Training curves")
    metric = st.segmented_control(
        "curve",
        ["test_acc", "loss", "train_acc"],
        default="test_acc",
        format_func=label,
        required=True,
        key="rnnlstm_metric",
    )
    show_figure(sweep_curves_figure(curves, metric), "rnnlstm_curves")

    st.subheader("Where the gradient vanishes")
    lengths = sorted({c.length for c in sweep.cells})
    length = st.selectbox("sequence length", lengths, len(lengths) - 1, key="rnnlstm_heat_length")
    show_figure(
        grad_norm_heatmap({m: rows_of.get((m, length, 0), []) for m in SWEEP_MODELS}),
        "rnnlstm_heatmap",
    )
    st.caption(
        "Norm of d loss / d x_t for each input position t (seed 0), at every evaluation. The "
        "first digit decides the answer; where its column is dark, the model cannot learn it."
    )


st.title("RNN vs LSTM")
st.markdown(
    "Each model reads a palindrome of digits and must predict its last digit, which equals the "
    "first. The longer the sequence, the further back the model has to remember; the vanilla "
    "RNN's gradient shrinks at every step back, the LSTM's cell state carries it."
)
cols = st.columns([3, 1, 2, 1])
lengths = cols[0].multiselect(
    "sequence lengths", LENGTHS, default=[5, 10, 15, 20], key="rnnlstm_lengths", **QUERY
)
n_seeds = cols[1].number_input("seeds", 1, 10, 2, key="rnnlstm_seeds", **QUERY)
refuse_unknown_link_value("rnnlstm_recipe", SWEEP_PRESETS)
recipe = cols[2].selectbox(
    "recipe",
    list(SWEEP_PRESETS),
    key="rnnlstm_recipe",
    **QUERY,
)

cols[2].caption(RECIPES.get(recipe, ""))
grid = None
try:
    grid = Sweep.grid(SWEEP_MODELS, sorted(lengths), n_seeds, recipe)
except ConfigError as exc:
    st.error(f"Cannot sweep: {exc}", icon=":material/error:")
cells = grid.cells if grid else ()
if cells:
    workers, earlier = engine().pool.max_workers, checkpoint_dir() / f"sweep_{recipe}.json"
    with reported():  # solved cells stop early: about as soon as in the shipped sweep
        steps = solved_steps(load_sweep_result(earlier))
        configs = [config_to_dict(c.config) for c in grid.queued()]
        seconds = sweep_seconds(configs, workers, cache_dir(), steps)
        cols[3].markdown(f"Estimated duration  \n**about {format_duration(seconds)}**")
    cols[3].caption(f"{len(cells)} runs, {workers} at a time; solved cells stop early")


def still_active(sweep: Sweep | None) -> int:
    """How many runs of this session's sweep are still queued, running or paused."""
    if not sweep:
        return 0
    active = engine().store.list_runs(ACTIVE_STATES, owner=viewer())
    return len({run.id for run in active} & set(sweep.run_ids))


def launch() -> bool:
    """Queue the grid's runs, unless this session's sweep still has active runs (a click that
    arrives anyway, from before the button was disabled, queues nothing); a refusal (the class's
    quota, the queue bound) is shown. Returns whether it launched."""
    if still_active(st.session_state.get("rnnlstm_sweep")):
        return False
    with reported():
        st.session_state["rnnlstm_sweep"] = grid.launch(engine(), owner=viewer())
        return True
    return False


sweep = st.session_state.get("rnnlstm_sweep")
busy = still_active(sweep)
waiting = f"{busy} runs of your sweep are still active: stop it or let it finish first"
cols = st.columns([1, 1, 2])  # a sixth of 1024 px cuts "Launch sweep" off
launching = cols[0].button(
    "Launch sweep",
    type="primary",
    disabled=not cells or bool(busy),
    help=waiting if busy else None,
    key="rnnlstm_launch",
)
if launching and launch():
    st.rerun()  # drawn again with the new sweep: Launch disabled, Stop enabled
if cols[1].button("Stop sweep", disabled=not sweep, key="rnnlstm_stop"):
    with reported():
        sweep.stop(engine(), owner=viewer())
if busy:
    cols[2].caption(waiting)

if sweep:
    live(sweep)
    with st.expander("Shipped result"):
        shipped(recipe)
else:
    shipped(recipe)
