"""The duration estimate against the ETA a run then shows: a short real run on this machine."""

import pytest
import torch

from gendl.config import config_to_dict
from gendl.train import make_trainer, preset_config
from gendl.train.common import run_trainer
from gendl.train.timing import FILE_NAME, REFERENCE, machine, start_seconds, step_seconds
from gendl.views.estimates import estimate_seconds, progress, step_costs

RUN_S = 6.0  # about how long each run trains


@pytest.mark.slow  # a step timing and a six-second run per case
@pytest.mark.parametrize(
    ("preset", "overrides"),
    [
        ("lstm", {"solved_acc": None, "seq_length": 30}),  # solved_acc: no early stop
        ("gan", {"data": "fake", "n_score_samples": 0, "batch_size": 64}),
    ],
)
def test_the_estimate_matches_the_eta_of_a_short_run_within_30_percent(tmp_path, preset, overrides):
    family, config = preset_config(preset, {**overrides, "max_steps": 1000})
    config = config_to_dict(config)
    step_s, _ = step_costs(family, config, tmp_path)  # times this machine, cached in tmp_path
    config["max_steps"] = n = max(20, round(RUN_S / step_s))
    estimate = estimate_seconds(family, config, tmp_path) - start_seconds(tmp_path)  # training
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a worker trains
    try:
        rows = run_trainer(make_trainer(family, config))
    finally:
        torch.set_num_threads(threads)
    assert rows[-1]["step"] == n
    for row in rows[n // 4 :: n // 4]:  # what the bar shows a quarter, half, ... of the way
        fraction, eta = progress(row["step"], row["elapsed_s"], n, None)
        projected = row["elapsed_s"] + eta  # the run's length as the ETA projects it
        assert 0.7 < estimate / projected < 1.3, (row["step"], estimate, projected)


def test_step_times_are_measured_once_and_cached(tmp_path):
    first = step_seconds("rnn", tmp_path)
    assert 0 < first < 1.0 and (tmp_path / FILE_NAME).is_file()
    assert step_seconds("rnn", tmp_path) == first  # read back, not measured again
    (tmp_path / FILE_NAME).write_text(f'{{"{machine()}": {{"rnn": 0.5}}}}')
    assert step_seconds("rnn", tmp_path) == 0.5
    assert set(REFERENCE) == {"rnn", "lstm", "gan", "dcgan", "vae", "classifier"}


def test_the_worker_start_is_measured_in_a_new_interpreter_and_cached(tmp_path):
    first = start_seconds(tmp_path)
    assert 0.05 < first < 60.0  # a real interpreter importing torch, never free
    assert start_seconds(tmp_path) == first
