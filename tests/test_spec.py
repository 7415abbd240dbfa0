"""The form spec: every field's range is the validator's, narrowed copies refuse what they narrow
away, and ``train MODEL --help`` lists the fields with their ranges and defaults."""

import pytest

from gendl.cli import main
from gendl.config import config_to_dict
from gendl.errors import ConfigError
from gendl.train import FAMILIES, PRESETS, build_config, preset_config
from gendl.train.spec import set_path

FIELDS = [(family, field) for family in FAMILIES for field in FAMILIES[family].form]


def outside(field):
    """Values just outside the field's allowed ones."""
    if field.kind == "choice":
        return ["no-such-" + field.name]
    if field.kind == "int":
        return [field.low - 1, field.high + 1]
    below = field.low - 1e-3 * max(1.0, abs(field.low)) if field.low_inclusive else field.low
    return [below, field.high + 1e-3 * max(1.0, abs(field.high))]


@pytest.mark.parametrize(("family", "field"), FIELDS, ids=lambda x: getattr(x, "path", x))
def test_the_validator_refuses_what_the_form_refuses_and_names_the_field(family, field):
    for value in outside(field):
        with pytest.raises(ConfigError, match=rf"^{field.path}\b") as raised:
            build_config(family, set_path(field.path, value))
        assert FAMILIES[family].form.problem(field.path, value) == str(raised.value)


@pytest.mark.parametrize(("family", "field"), FIELDS, ids=lambda x: getattr(x, "path", x))
def test_the_validator_accepts_the_forms_end_values(family, field):
    values = field.choices if field.kind == "choice" else [field.low, field.high]
    base = {"max_steps": 100}  # a cosine schedule needs max_steps, also at max_steps' ends
    for value in values:
        if not field.low_inclusive and value == field.low:
            continue
        if field.name in ("batch_size", "arch", "prior_components", "hidden_dim", "seq_length"):
            continue  # the memory check may refuse the largest sizes: covered in test_validation
        build_config(family, {**base, **set_path(field.path, value)})


def test_each_widget_key_is_unique_within_a_family():
    for family in FAMILIES.values():
        names = [field.name for field in family.form]
        assert len(names) == len(set(names)), family.name


def test_narrow_and_lock_make_new_specs_that_refuse_what_they_exclude():
    form = FAMILIES["sequence"].form
    config = config_to_dict(preset_config("lstm", {"seq_length": 40})[1])
    form.check(config)
    narrowed = form.narrow("seq_length", high=30)
    with pytest.raises(ConfigError, match=r"seq_length must be in \[2, 30\], got 40"):
        narrowed.check(config)
    assert form["seq_length"].high == 100  # the original is unchanged
    locked = narrowed.lock("model.hidden_dim", 64)
    assert (
        locked["model.hidden_dim"].locked and locked["model.hidden_dim"].allowed() == "fixed at 64"
    )
    assert locked.problems(config_to_dict(preset_config("lstm")[1])) == {
        "model.hidden_dim": "model.hidden_dim must be in [64, 64], got 128"
    }
    locked.check(config_to_dict(preset_config("lstm", {"model": {"hidden_dim": 64}})[1]))
    assert form.lock("optimizer", "rmsprop").problem("optimizer", "adam") is not None
    assert form.narrow("optimizer", choices=("adam",)).problem("optimizer", "adam") is None


@pytest.mark.parametrize(
    ("path", "change", "message"),
    [
        ("seq_length", {"low": 1}, r"within \[2, 100\]"),
        ("seq_length", {"low": 50, "high": 40}, "low <= high"),
        ("optimizer", {"choices": ("sgd",)}, "some of adam, rmsprop"),
        ("no_such", {"low": 1}, "no field no_such"),
    ],
)
def test_a_narrowing_beyond_the_range_is_refused(path, change, message):
    with pytest.raises(ConfigError, match=message):
        FAMILIES["sequence"].form.narrow(path, **change)


def test_a_lock_to_a_refused_value_is_refused():
    with pytest.raises(ConfigError, match=r"model.hidden_dim must be in \[1, 2048\], got 4096"):
        FAMILIES["sequence"].form.lock("model.hidden_dim", 4096)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_train_help_lists_the_models_fields_with_ranges_and_defaults(preset, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["train", preset, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    family, config = preset_config(preset)
    for field in FAMILIES[family].form:
        line = next(line for line in text.splitlines() if line.split()[:1] == [field.path])
        assert field.allowed() in line, line
    assert any(line.split()[:1] == ["d_steps"] for line in text.splitlines()) == (family == "gan")
    if family == "sequence":
        assert "1 to 2048; default 128" in text  # the validator's range, not the old page's 8-512
