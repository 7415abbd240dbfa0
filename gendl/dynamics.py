"""Gradient play on the bilinear game f(x, y) = x y: why GAN training orbits instead of converging
(seed 003, inline questions 1 and 2).

x minimises f and y maximises it; min_x max_y x y = 0, reached at the saddle point (0, 0). With step
size ``lr`` the two ways to take the gradient steps are

    alternating  (seed 003)   y' = y + lr x          then   x' = x - lr y'
    simultaneous              y' = y + lr x          and    x' = x - lr y

Alternating play is the linear map [[1 - lr^2, -lr], [lr, 1]] on (x, y), of determinant 1: it keeps
x^2 + y^2 + lr x y fixed, so for lr < 2 every point stays on one ellipse around the saddle and turns
by arccos(1 - lr^2 / 2) per step (60 degrees for lr = 1: the seed's six-step cycle). Simultaneous play
is a rotation scaled by sqrt(1 + lr^2): the distance to the saddle grows by that factor every step.

The functions use plain arithmetic, so ``fractions.Fraction`` inputs give exact results.
"""

from __future__ import annotations

import math
from numbers import Real

from gendl.errors import ConfigError

UPDATES = ("alternating", "simultaneous")
MAX_LR = 10.0
MAX_STEPS = 10_000

Point = tuple[Real, Real]


def game_value(x: Real, y: Real) -> Real:
    """f(x, y) = x y."""
    return x * y


def _check(lr: Real, n_steps: int) -> None:
    if not 0 < lr <= MAX_LR:
        raise ConfigError(f"lr must be in (0, {MAX_LR:g}], got {lr}")
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or not 0 <= n_steps <= MAX_STEPS:
        raise ConfigError(f"n_steps must be an integer in [0, {MAX_STEPS}], got {n_steps!r}")


def alternating_steps(lr: Real, n_steps: int, start: Point = (1, 1)) -> list[Point]:
    """Points (x_t, y_t) for t = 0 ... n_steps: y ascends first, then x descends using the new y."""
    _check(lr, n_steps)
    x, y = start
    points = [(x, y)]
    for _ in range(n_steps):
        y = y + lr * x  # d f / d y = x, ascent
        x = x - lr * y  # d f / d x = y, descent, at the updated y
        points.append((x, y))
    return points


def simultaneous_steps(lr: Real, n_steps: int, start: Point = (1, 1)) -> list[Point]:
    """Points (x_t, y_t) for t = 0 ... n_steps: both players step from the same old point."""
    _check(lr, n_steps)
    x, y = start
    points = [(x, y)]
    for _ in range(n_steps):
        x, y = x - lr * y, y + lr * x
        points.append((x, y))
    return points


def play(update: str, lr: Real, n_steps: int, start: Point = (1, 1)) -> list[Point]:
    """The path of ``update`` ("alternating" or "simultaneous")."""
    if update not in UPDATES:
        raise ConfigError(f"update must be one of {', '.join(UPDATES)}; got {update!r}")
    steps = alternating_steps if update == "alternating" else simultaneous_steps
    return steps(lr, n_steps, start)


def alternating_invariant(x: Real, y: Real, lr: Real) -> Real:
    """x^2 + y^2 + lr x y: the same at every point of an alternating path."""
    return x * x + y * y + lr * x * y


def simultaneous_growth(lr: float) -> float:
    """Factor sqrt(1 + lr^2) by which each simultaneous step multiplies the distance to (0, 0)."""
    return math.sqrt(1 + lr * lr)


def alternating_turn(lr: float) -> float | None:
    """Angle (radians) an alternating step turns around the saddle, or None when lr >= 2 and the
    path escapes along a hyperbola instead of orbiting."""
    if lr >= 2:
        return None
    return math.acos(1 - lr * lr / 2)  # eigenvalues of the step matrix are exp(+-i angle)
