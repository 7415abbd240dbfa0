from dataclasses import dataclass

import pytest

from gendl.config import check_choice, check_float, check_int, check_int_tuple, config_from_dict
from gendl.errors import ConfigError


@pytest.mark.parametrize("value", [0, 11, 2.0, True, "3", None])
def test_check_int_rejects(value):
    with pytest.raises(ConfigError, match=r"width.*\[1, 10\]"):
        check_int("width", value, 1, 10)


@pytest.mark.parametrize("value", [0.0, -1e-3, 2.0, float("nan"), float("inf"), "x"])
def test_check_float_rejects(value):
    with pytest.raises(ConfigError, match="lr"):
        check_float("lr", value, 0.0, 1.0, low_inclusive=False)


@pytest.mark.parametrize(
    ("check", "args", "inside", "outside"),
    [
        (check_int, (1, 10), [1, 5, 10], [0, 11]),
        (check_float, (0.0, 1.0), [0.0, 1, 1.0], [-1e-9, 1.0 + 1e-9]),
        (check_choice, (("x", "y"),), ["x", "y"], ["z", "X"]),
        (check_int_tuple, (1, 4), [(1,), (1, 2, 4)], [(), (0,), (1, 5), [1, 2]]),
    ],
)
def test_checks_accept_the_range_and_refuse_just_outside_it(check, args, inside, outside):
    for value in inside:
        assert check("a", value, *args) is None
    for value in outside:
        with pytest.raises(ConfigError, match=r"^a\b"):
            check("a", value, *args)


def test_choice_lists_the_options():
    with pytest.raises(ConfigError, match="one of x, y; got 'z'"):
        check_choice("c", "z", ("x", "y"))


@dataclass(frozen=True)
class _Cfg:
    size: int = 3
    dims: tuple[int, ...] = (1, 2)

    def __post_init__(self):
        check_int("size", self.size, 1, 5)


def test_config_from_dict_round_trip_and_errors():
    assert config_from_dict(_Cfg, {"size": 4, "dims": [3, 4]}) == _Cfg(4, (3, 4))
    with pytest.raises(ConfigError, match="no field"):
        config_from_dict(_Cfg, {"size": 4, "colour": 1})
    with pytest.raises(ConfigError, match="size"):
        config_from_dict(_Cfg, {"size": 9})


@dataclass(frozen=True)
class _Outer:
    inner: _Cfg = _Cfg()
    rate: float = 0.5


def test_nested_configs_round_trip_through_json():
    from gendl.config import config_to_dict

    outer = _Outer(_Cfg(2, (5,)), 0.25)
    as_dict = config_to_dict(outer)
    assert as_dict == {"inner": {"size": 2, "dims": [5]}, "rate": 0.25}
    assert config_from_dict(_Outer, as_dict) == outer
    with pytest.raises(ConfigError, match="size"):
        config_from_dict(_Outer, {"inner": {"size": 0}})
