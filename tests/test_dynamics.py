import math
from fractions import Fraction

import numpy as np
import pytest

from gendl.dynamics import (
    alternating_invariant,
    alternating_steps,
    alternating_turn,
    game_value,
    play,
    simultaneous_growth,
    simultaneous_steps,
)
from gendl.errors import ConfigError


def test_seed_003_table_lr_1_cycles_every_six_steps():
    # worked by hand from y' = y + x, x' = x - y' starting at (1, 1)
    expected_x = [1, -1, -2, -1, 1, 2, 1]
    expected_y = [1, 2, 1, -1, -2, -1, 1]
    points = alternating_steps(1, 6)
    assert [p[0] for p in points] == expected_x
    assert [p[1] for p in points] == expected_y
    assert points[6] == points[0]


@pytest.mark.parametrize("lr", [Fraction(1, 10), Fraction(1), Fraction(7, 4), Fraction(5, 2)])
def test_alternating_keeps_its_invariant_exactly(lr):
    start = (Fraction(3, 2), Fraction(-2, 7))
    points = alternating_steps(lr, 40, start)
    invariant = alternating_invariant(*start, lr)
    assert all(alternating_invariant(x, y, lr) == invariant for x, y in points)
    assert len(set(points)) > 2  # the points move; only the invariant stays


@pytest.mark.parametrize("lr", [Fraction(1, 5), Fraction(1), Fraction(3)])
def test_simultaneous_squared_radius_grows_by_one_plus_lr_squared_exactly(lr):
    points = simultaneous_steps(lr, 25)
    for t, (x, y) in enumerate(points):
        assert x * x + y * y == 2 * (1 + lr * lr) ** t
    assert math.isclose(simultaneous_growth(float(lr)), math.sqrt(float(1 + lr * lr)))


def test_alternating_matches_the_matrix_power_closed_form():
    lr, n = 0.3, 50
    step = np.array([[1 - lr**2, -lr], [lr, 1.0]])
    closed = np.linalg.matrix_power(step, n) @ np.array([1.0, 1.0])
    assert np.allclose(alternating_steps(lr, n)[-1], closed, rtol=0, atol=1e-12)


def test_alternating_turn_gives_the_period():
    # lr = 2 sin(pi / k) turns by 2 pi / k per step, so the path closes after k steps
    for k in (3, 4, 6, 12):
        lr = 2 * math.sin(math.pi / k)
        assert math.isclose(alternating_turn(lr), 2 * math.pi / k)
        assert np.allclose(alternating_steps(lr, k)[-1], (1, 1), atol=1e-9)
    assert alternating_turn(2.0) is None


def test_orbit_stays_bounded_and_simultaneous_escapes():
    alternating = np.array(alternating_steps(0.5, 500))
    simultaneous = np.array(simultaneous_steps(0.5, 500))
    assert np.abs(alternating).max() < 3
    assert np.hypot(*simultaneous[-1]) > 1e20


def test_play_and_validation():
    assert play("simultaneous", 1, 2) == [(1, 1), (0, 2), (-2, 2)]
    assert game_value(2, -3) == -6
    with pytest.raises(ConfigError, match="update must be one of alternating, simultaneous"):
        play("gradient", 1, 2)
    with pytest.raises(ConfigError, match="lr must be in"):
        alternating_steps(0, 5)
    with pytest.raises(ConfigError, match="n_steps"):
        simultaneous_steps(0.1, -1)
