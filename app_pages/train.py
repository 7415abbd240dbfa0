"""Train: pick a model and its hyperparameters, start a run, and watch it learn live.

The run trains in a worker process of the engine; a fragment polls its new metric rows once a
second, so the page never waits for training and the run goes on while other pages are open.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from app_pages.common import engine, run_rows, session_owner
from gendl.config import config_to_dict, deep_merge
from gendl.data import DATASETS, MAX_SEQ_LENGTH, MIN_SEQ_LENGTH
from gendl.errors import ConfigError, GendlError
from gendl.losses import GAN_LOSSES, VAE_LIKELIHOODS
from gendl.models.classifier import CLASSIFIER_ARCHS
from gendl.models.gan import GAN_ARCHS
from gendl.train import PRESETS, build_config, preset_config
from gendl.train.common import PRECISIONS
from gendl.train.sequence import OPTIMIZERS
from gendl.views.training import (
    curves_figure,
    estimate_seconds,
    format_duration,
    progress,
    variant,
)

QUERY = {"bind": "query-params"}

st.title("Train a model")
preset = st.segmented_control(
    "model", list(PRESETS), default="lstm", key="train_preset", required=True, **QUERY
)
family, preset_values = PRESETS[preset]
default = config_to_dict(preset_config(preset)[1])  # the preset's full config
model = default["model"]


def bound(name: str) -> dict[str, str]:
    """Key and URL binding of a hyperparameter's widget; keyed per model, so that each widget
    starts at its model's preset value."""
    return {"key": f"train_{preset}_{name}", "bind": "query-params"}


def rate(where: Any, label: str, name: str) -> float:
    return where.number_input(
        label, 1e-6, 1.0, default[name], step=1e-4, format="%.1e", **bound(name)
    )


def choice(
    where: Any, label: str, options: tuple[str, ...], value: str, name: str, help: str | None = None
) -> str:
    return where.selectbox(label, options, options.index(value), help=help, **bound(name))


def precision(where: Any) -> str:
    return choice(
        where,
        "matrix products in",
        PRECISIONS,
        default["precision"],
        "precision",
        help="bf16: products and convolutions in bfloat16, weights and losses in float32; "
        "1.5-1.7x faster steps on CPUs with bfloat16 instructions (avx512_bf16), slower on others",
    )


def sequence_fields(cols: list) -> dict[str, Any]:
    length = cols[0].slider(
        "sequence length",
        MIN_SEQ_LENGTH,
        MAX_SEQ_LENGTH,
        default["seq_length"],
        **bound("seq_length"),
    )
    hidden = cols[1].slider("hidden size", 8, 512, model["hidden_dim"], 8, **bound("hidden_dim"))
    return {
        "seq_length": length,
        "model": {"hidden_dim": hidden},
        "optimizer": choice(cols[2], "optimizer", OPTIMIZERS, default["optimizer"], "optimizer"),
        "lr": rate(cols[3], "learning rate", "lr"),
    }


def gan_fields(cols: list) -> dict[str, Any]:
    arch = choice(cols[0], "architecture", GAN_ARCHS, model["arch"], "arch")
    latent = cols[1].slider("latent size", 1, 256, model["latent_dim"], **bound("latent_dim"))
    return {
        "model": {"arch": arch, "latent_dim": latent},
        "loss": choice(cols[2], "loss", GAN_LOSSES, default["loss"], "loss"),
        "d_steps": cols[3].slider(
            "D steps per G step", 1, 20, default["d_steps"], **bound("d_steps")
        ),
        "lr_d": rate(cols[0], "learning rate D", "lr_d"),
        "lr_g": rate(cols[1], "learning rate G", "lr_g"),
        "precision": precision(cols[2]),
    }


def vae_fields(cols: list) -> dict[str, Any]:
    latent = cols[0].slider("latent size", 1, 64, model["latent_dim"], **bound("latent_dim"))
    components = cols[3].number_input(
        "mixture prior components (0: sample N(0, I))",
        0,
        256,
        model["prior_components"],
        help="Samples come from a Gaussian mixture fitted to where the encoder puts the "
        "training digits, instead of the N(0, I) the VAE was trained towards.",
        **bound("prior_components"),
    )
    return {
        "model": {"latent_dim": latent, "prior_components": components},
        "likelihood": choice(
            cols[1], "likelihood", VAE_LIKELIHOODS, default["likelihood"], "likelihood"
        ),
        "log_norm_coef": cols[1].slider(
            "weight of log C (continuous Bernoulli)",
            0.0,
            2.0,
            default["log_norm_coef"],
            0.1,
            **bound("log_norm_coef"),
        ),
        "lr": rate(cols[2], "learning rate", "lr"),
        "kl_weight": cols[3].slider(
            "KL weight (beta)",
            0.0,
            2.0,
            default["kl_weight"],
            0.05,
            help="Weight of the KL term once warmed up: 1 is the plain ELBO; lower values trade "
            "the fit to N(0, I) for sharper reconstructions.",
            **bound("kl_weight"),
        ),
        "kl_warmup_steps": cols[2].number_input(
            "KL warm-up steps", 0, 100_000, default["kl_warmup_steps"], 100, **bound("kl_warmup")
        ),
        "precision": precision(cols[0]),
    }


def classifier_fields(cols: list) -> dict[str, Any]:
    arch = choice(cols[0], "architecture", CLASSIFIER_ARCHS, model["arch"], "arch")
    dropout = cols[1].slider("dropout", 0.0, 0.9, model["dropout"], 0.05, **bound("dropout"))
    return {
        "model": {"arch": arch, "dropout": dropout},
        "lr": rate(cols[2], "peak learning rate", "lr"),
    }


FIELDS = {"sequence": sequence_fields, "gan": gan_fields, "vae": vae_fields}
FIELDS["classifier"] = classifier_fields

st.subheader("Hyperparameters")
values = FIELDS[family](st.columns(4))
cols = st.columns(4)
values["batch_size"] = cols[0].number_input(
    "batch size", 1, 4096, default["batch_size"], key="train_batch_size", **QUERY
)
values["seed"] = cols[1].number_input("seed", 0, 2**31 - 1, 0, key="train_seed", **QUERY)
if "data" in default:
    values["data"] = cols[2].selectbox(
        "data",
        DATASETS,
        help="fake: 512 random images, for a quick smoke run",
        key="train_data",
        **QUERY,
    )
if "n_score_samples" in default:
    values["n_score_samples"] = cols[3].number_input(
        "samples scored per evaluation",
        0,
        100_000,
        default["n_score_samples"],
        500,
        help="0 skips the inception score; otherwise at least 10",
        **bound("n_score"),
    )
cols = st.columns(4)
max_steps = cols[0].number_input(
    "max steps (0: no limit)", 0, 10_000_000, default["max_steps"] or 0, 100, **bound("max_steps")
)
max_seconds = cols[1].number_input(
    "max seconds (0: no limit)", 0, 7 * 24 * 3600, 0, 30, **bound("max_seconds")
)
values["eval_every"] = cols[2].number_input(
    "evaluate every (steps)",
    1,
    10_000_000,
    default["eval_every"],
    50,
    help="test accuracy, sample grid and scores are computed this often",
    **bound("eval_every"),
)
values["max_steps"] = max_steps or None
values["max_seconds"] = float(max_seconds) or None

config = None
try:
    config = config_to_dict(build_config(family, deep_merge(preset_values, values)))
except ConfigError as exc:
    st.error(f"Cannot start: {exc}", icon=":material/error:")
else:
    seconds = format_duration(estimate_seconds(family, config))
    early = ", less if it solves the task first" if family == "sequence" else ""
    cols[3].markdown(f"Estimated duration  \n**about {seconds}**{early}")


def run_from_link(asked: str) -> int | None:
    """The run named by the URL's ``train_run``, or None with a warning why it is ignored."""
    if not (asked.isascii() and asked.isdigit() and len(asked) <= 12):
        st.warning(f"The link's train_run={asked!r} is not a run id; ignored.")
        return None
    try:
        return engine().status(int(asked)).id
    except GendlError:
        st.warning(f"The link's train_run={asked} names no run in the store; ignored.")
        return None


if "train_run" not in st.session_state and "train_run" in st.query_params:
    linked = run_from_link(st.query_params.pop("train_run"))
    if linked is not None:
        st.session_state["train_run"] = linked


def current_run() -> Any:
    """This session's run (also in the URL as ``train_run``), or None; a deleted run is forgotten."""
    run_id = st.session_state.get("train_run")
    if run_id is None:
        return None
    try:
        run = engine().status(run_id)
    except GendlError:
        del st.session_state["train_run"]
        st.query_params.pop("train_run", None)
        return None
    st.query_params["train_run"] = str(run_id)
    return run


def command(action: Callable[[], Any]) -> None:
    """A control's ``on_click``: it runs before the rerun its click causes, so the buttons and the
    status drawn next come from one reading of the run, taken after the command; a refused command
    leaves its message for that rerun."""
    try:
        action()
    except GendlError as exc:
        st.session_state["train_refused"] = str(exc)


def busy(run: Any, owner: str) -> bool:
    """Whether ``run`` is this session's active run: one at a time per session here."""
    return run is not None and run.active and run.owner == owner


def start_run(config: dict[str, Any] | None, owner: str) -> None:
    # checked again at the click: a second click, or a click Streamlit delivers again after a
    # preempted fragment run (seen under load), must not queue a duplicate
    if config is not None and not busy(current_run(), owner):
        st.session_state["train_run"] = engine().start(family, config, owner=owner, name=preset)


def step_run(run_id: int, part: str, owner: str) -> None:
    engine().step(run_id, st.session_state["train_step_n"], part, owner=owner)


def controls(run: Any, config: dict[str, Any] | None) -> None:
    """Start a new run with ``config``; pause, resume, single-step or stop the current ``run``."""
    owner, cols = session_owner(), st.columns(8)
    state = run.state if run is not None else None
    active, paused = run is not None and run.active, state == "paused"
    is_gan = run is not None and run.family == "gan"
    cols[0].button(
        "Start",
        type="primary",
        disabled=config is None or busy(run, owner),
        help="One run at a time per session: stop it to start another",
        key="train_start",
        on_click=command,
        args=(lambda: start_run(config, owner),),
    )
    run_id = run.id if run is not None else None
    for col, label, action, enabled in (
        (cols[1], "Pause", engine().pause, active and not paused),
        (cols[2], "Resume", engine().resume, state in ("paused", "interrupted")),
        (cols[7], "Stop", engine().stop, active),
    ):
        col.button(
            label,
            disabled=not enabled,
            key=f"train_{label.lower()}",
            on_click=command,
            args=(lambda action=action: action(run_id, owner=owner),),
        )
    n = cols[3].number_input(
        "steps per click", 1, 1000, 1, key="train_step_n", label_visibility="collapsed"
    )
    steps = (("Step", "all", True), ("D step", "d", is_gan), ("G step", "g", is_gan))
    for col, (label, part, offered) in zip(cols[4:7], steps, strict=True):
        col.button(
            f"{label} ×{n}",
            disabled=not (paused and offered),
            key=f"train_step_{part}",
            on_click=command,
            args=(lambda part=part: step_run(run_id, part, owner),),
        )
    refused = st.session_state.pop("train_refused", None)
    if refused is not None:
        st.error(refused, icon=":material/error:")


@st.fragment(run_every=1.0)
def live(config: dict[str, Any] | None) -> None:
    """Controls, status, progress, curves and sample grid of this session's current run."""
    run = current_run()  # after any command just given: controls and status agree
    controls(run, config)
    if run is None:
        st.info("Set the hyperparameters and press Start; the curves appear here.")
    else:
        show_run(run)


def show_run(run: Any) -> None:
    rows = run_rows(run.id, run.step)
    last = rows[-1] if rows else {"step": 0, "elapsed_s": 0.0}
    fraction, eta = progress(
        last["step"], last["elapsed_s"], run.config["max_steps"], run.config["max_seconds"]
    )
    what = f"Run {run.id} · {run.name or run.family} ({variant(run.family, run.config)})"
    what += f" · **{run.state}** · step {run.step}"
    st.markdown(what + (f" · {run.reason}" if run.reason else ""))
    text = f"{fraction:.0%} of budget"
    if run.state in ("queued", "running"):
        text += f" · ETA {format_duration(eta)}"
    elif run.state == "paused":
        text += " · paused (the time budget waits too)"
    else:
        text = run.state
    st.progress(1.0 if run.state == "finished" else fraction, text=text)
    left, right = st.columns([3, 1]) if run.family in ("gan", "vae") else (st.container(), None)
    left.plotly_chart(curves_figure(run.family, rows, revision=run.id), key="train_curves")
    if right is not None:
        sample_grid(right, run.id)


def sample_grid(where: Any, run_id: int) -> None:
    """The latest sample grid from fixed noise, with a slider back through the saved ones."""
    grids = {step: path for step, _, path in engine().artifacts(run_id, "sample_grid")}
    if not grids:
        where.caption("The sample grid appears at the first evaluation.")
        return
    step = max(grids)
    if len(grids) > 1:
        step = where.select_slider("grid at step", list(grids), value=step, key="train_grid_step")
    try:
        png = Path(grids[step]).read_bytes()
    except OSError:  # deleted from the run's folder, or the folder was moved
        where.warning(f"The sample grid of step {step} is missing: {Path(grids[step]).name}.")
        return
    where.image(png, caption=f"fixed noise, step {step}", width="stretch")


live(config)
