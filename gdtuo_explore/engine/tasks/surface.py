"""The ``surface`` task: an optimizer walking on a 2-D function, where its whole path can be seen.

The weights are one point ``(x, y)`` and the loss is a named function of it, the task's model:

==============  ===========================================  =====================================  ==============
model           f(x, y)                                      minima (f = 0 at each)                 default start
==============  ===========================================  =====================================  ==============
``rosenbrock``  ``(1 - x)^2 + 100 (y - x^2)^2``              (1, 1), at the end of a curved valley  (-1.2, 1)
``quadratic``   ``(x^2 + condition * y^2) / 2``              (0, 0); curvatures 1 and ``condition``  (-4, 1)
``beale``       ``(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2``   (3, 0.5), in a flat, narrow basin      (1, 1.5)
                ``+ (2.625 - x + xy^3)^2``
``himmelblau``  ``(x^2 + y - 11)^2 + (x + y^2 - 7)^2``       four: (3, 2), (-2.805, 3.131),         (0, 0)
                                                             (-3.779, -3.283), (3.584, -1.848)
``saddle``      ``x^2 + (y^2 - 1)^2 / 4``                    (0, 1) and (0, -1), with a saddle      (-1.5, 0.01)
                                                             point at (0, 0) between them
==============  ===========================================  =====================================  ==============

Options: ``start`` (``"X,Y"`` or two numbers: where the point starts), ``noise`` (S >= 0: every step adds Gaussian
noise of standard deviation S to each coordinate of the gradient, drawn from a generator seeded with the run's
seed, so a noisy run is reproducible; the loss itself stays exact) and, for ``quadratic`` only, ``condition`` (the
ratio of the two curvatures, >= 1; default 50).

A run records, with every step's ``train_loss``, the point it was computed at, in the columns ``x`` and ``y`` (the
first row is the start; without noise ``train_loss == f(x, y)`` on every row). Its evaluations record ``test_loss``,
the function's value at the current point, and ``distance_to_minimum``, the distance to the nearest minimum. There is
no data, so an epoch is :data:`EPOCH_STEPS` steps, a unit for the budget and the evaluations; the batch size does
nothing.

For charts: :func:`surface` gives a function with its minima, default start and plot bounds; :func:`grid` its values
on a grid (for contours), :func:`minima` its minima::

    >>> from gdtuo_explore.engine.tasks import surface
    >>> surface.minima("rosenbrock")
    [(1.0, 1.0)]
    >>> x, y, z = surface.grid("beale", n=50)
    >>> z.shape
    (50, 50)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from .registry import Task, check_float, register_task

#: Steps in one epoch of the surface task (it has no data): the unit of ``epochs=`` and of the evaluations.
EPOCH_STEPS = 100
DEFAULT_CONDITION = 50.0
METRIC = "distance"


@dataclass(frozen=True)
class Surface:
    """A 2-D function with what a chart needs: ``f(x, y)`` (floats, numpy arrays or tensors), its ``minima``, a
    default ``start`` and plot ``bounds`` ``((x_low, x_high), (y_low, y_high))``; ``formula`` and ``about`` in
    words."""

    name: str
    f: Callable
    minima: tuple[tuple[float, float], ...]
    start: tuple[float, float]
    bounds: tuple[tuple[float, float], tuple[float, float]]
    formula: str
    about: str

    def __call__(self, x, y):
        return self.f(x, y)

    def distance(self, x: float, y: float) -> float:
        """The distance from ``(x, y)`` to the nearest minimum."""
        return min(math.hypot(x - mx, y - my) for mx, my in self.minima)

    def grid(self, n: int = 200, bounds=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(x, y, z)``: ``n`` evenly spaced ``x`` and ``y`` over ``bounds`` (default: :attr:`bounds`) and
        ``z[i, j] = f(x[j], y[i])`` (rows follow ``y``, as Plotly's and matplotlib's contour plots take it), in
        float64."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValueError(f"n={n!r} is out of range: a grid needs an integer n >= 2")
        (x0, x1), (y0, y1) = _check_bounds(self.bounds if bounds is None else bounds)
        x, y = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
        xx, yy = np.meshgrid(x, y)
        return x, y, np.asarray(self.f(xx, yy), dtype=float)


def _rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def _beale(x, y):
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y * y) ** 2 + (2.625 - x + x * y ** 3) ** 2


def _himmelblau(x, y):
    return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2


def _saddle(x, y):
    return x * x + (y * y - 1) ** 2 / 4


def _quadratic(condition: float):
    def f(x, y):
        return (x * x + condition * y * y) / 2
    return f


#: Himmelblau's four minima (the three irrational ones to double precision, found by Newton's method).
HIMMELBLAU_MINIMA = ((3.0, 2.0), (-2.805118086952745, 3.131312518250573), (-3.779310253377747, -3.283185991286170),
                     (3.584428340330492, -1.848126526964404))


def _make(name: str, condition: float) -> Surface:
    if name == "rosenbrock":
        return Surface(name, _rosenbrock, ((1.0, 1.0),), (-1.2, 1.0), ((-2.0, 2.0), (-1.0, 3.0)),
                       "(1 - x)^2 + 100 (y - x^2)^2",
                       "Rosenbrock's banana: a curved, flat-bottomed valley; the minimum (1, 1) is easy to reach "
                       "and slow to follow the valley to")
    if name == "quadratic":
        return Surface(name, _quadratic(condition), ((0.0, 0.0),), (-4.0, 1.0), ((-5.0, 5.0), (-2.0, 2.0)),
                       f"(x^2 + {condition:g} y^2) / 2",
                       f"an ill-conditioned bowl: curvature 1 along x, {condition:g} along y; plain gradient descent "
                       f"is stable only for alpha < 2/{condition:g} and then crawls along x")
    if name == "beale":
        return Surface(name, _beale, ((3.0, 0.5),), (1.0, 1.5), ((-4.5, 4.5), (-4.5, 4.5)),
                       "(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
                       "Beale's function: steep walls around a flat, narrow basin with the minimum (3, 0.5)")
    if name == "himmelblau":
        return Surface(name, _himmelblau, HIMMELBLAU_MINIMA, (0.0, 0.0), ((-5.0, 5.0), (-5.0, 5.0)),
                       "(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
                       "Himmelblau's function: four equal minima; which one a run reaches depends on its path")
    if name == "saddle":
        return Surface(name, _saddle, ((0.0, 1.0), (0.0, -1.0)), (-1.5, 0.01), ((-2.0, 2.0), (-2.0, 2.0)),
                       "x^2 + (y^2 - 1)^2 / 4",
                       "a saddle point at (0, 0) between two minima (0, 1) and (0, -1): from a start near y = 0 the "
                       "path slows down at the saddle before it escapes (noise helps)")
    raise ValueError(f"unknown surface {name!r}; the surfaces: {', '.join(MODELS)}")


MODELS = ("rosenbrock", "quadratic", "beale", "himmelblau", "saddle")


def surface(model: str = "rosenbrock", *, condition: float | None = None) -> Surface:
    """The :class:`Surface` of a model of the surface task (``condition``: the quadratic bowl's, default 50)."""
    return _make(model, _check_condition(model, condition))


def grid(model: str = "rosenbrock", bounds=None, n: int = 200, *, condition: float | None = None):
    """``(x, y, z)`` of ``model`` on an ``n`` x ``n`` grid over ``bounds`` (default: the model's plot bounds):
    see :meth:`Surface.grid`."""
    return surface(model, condition=condition).grid(n, bounds)


def minima(model: str = "rosenbrock", *, condition: float | None = None) -> list[tuple[float, float]]:
    """The minima ``[(x, y), ...]`` of ``model`` (the function is 0 at each)."""
    return list(surface(model, condition=condition).minima)


def _check_condition(model: str, condition) -> float:
    if condition is None:
        return DEFAULT_CONDITION
    if model != "quadratic":
        raise ValueError(f"option condition={condition!r} is for the model quadratic only, not {model!r}")
    condition = check_float("condition", condition, 1.0)
    if not math.isfinite(condition):
        raise ValueError(f"option condition={condition!r} is out of range: it must be a finite number >= 1")
    return condition


def _check_bounds(bounds):
    try:
        (x0, x1), (y0, y1) = bounds
        values = [float(v) for v in (x0, x1, y0, y1)]
    except (TypeError, ValueError):
        raise ValueError(f"bounds={bounds!r} is invalid: give ((x_low, x_high), (y_low, y_high))") from None
    if not all(map(math.isfinite, values)) or not (values[0] < values[1] and values[2] < values[3]):
        raise ValueError(f"bounds={bounds!r} is invalid: give finite ((x_low, x_high), (y_low, y_high)) with "
                         "low < high")
    return (values[0], values[1]), (values[2], values[3])


def parse_start(value) -> tuple[float, float]:
    """The option ``start``: ``"X,Y"`` (as the command line gives it) or two numbers, as a pair of floats;
    ValueError naming it otherwise."""
    from ..config import parse_numbers

    if isinstance(value, str):
        numbers = parse_numbers(value, "option start")
    elif isinstance(value, (list, tuple)):
        numbers = list(value)
    else:
        numbers = None
    if (numbers is None or len(numbers) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in numbers)):
        raise ValueError(f"option start={value!r} is invalid: give two finite numbers X,Y (e.g. start=1,1)")
    return float(numbers[0]), float(numbers[1])


class Point(nn.Module):
    """The weights of the surface task: one point ``(x, y)`` (the parameter ``point``); ``forward`` ignores its
    input and returns ``f(x, y)``.

    With ``noise`` S > 0, in training mode with gradients enabled, each call adds ``n . p - (n . p).detach()`` with
    ``n`` drawn from N(0, S^2) per coordinate: zero in value (the loss stays ``f(x, y)`` exactly) and ``n`` in
    gradient. The draws come from the module's own generator, seeded with ``seed``.
    """

    def __init__(self, f: Callable, start: tuple[float, float], noise: float = 0.0, seed: int = 0):
        super().__init__()
        self.f, self.noise = f, float(noise)
        self.point = nn.Parameter(torch.tensor(start, dtype=torch.get_default_dtype()))
        self._generator = torch.Generator().manual_seed(seed) if self.noise > 0 else None

    def forward(self, x=None) -> torch.Tensor:
        p = self.point
        value = self.f(p[0], p[1])
        if self._generator is not None and self.training and torch.is_grad_enabled():
            n = torch.randn(2, generator=self._generator, dtype=p.dtype).mul_(self.noise).to(p.device)
            push = torch.dot(n, p)
            value = value + (push - push.detach())
        return value


def _loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The loss of the surface task is the model's output itself."""
    return output


def _where(model: nn.Module) -> torch.Tensor:
    """The point, recorded with every step's loss (the columns ``x`` and ``y``)."""
    return model.point.detach().clone()


@dataclass
class SurfaceTask(Task):
    """A built surface task: :class:`Task` with its :class:`Surface`; its evaluation is the function's value and the
    distance to the nearest minimum at the current point."""

    surface: Surface | None = None

    def evaluate(self, model: nn.Module, x=None, y=None, batch_size: int = 1024) -> dict:
        """``{"loss": f(x, y), "distance": distance to the nearest minimum}`` at the model's point."""
        with torch.no_grad():
            point = model.point.detach()
            loss = float(self.surface(point[0], point[1]))
            px, py = point.double().cpu().tolist()
        return {"loss": loss, METRIC: self.surface.distance(px, py)}


@register_task("surface", description="a point (x, y) on a 2-D function: rosenbrock, quadratic (option condition), "
               "beale, himmelblau or saddle (offline); options start=X,Y and noise=S", models=MODELS)
def build_surface(model: str, data_root: str, seed: int, *, start=None, noise: float = 0.0,
                  condition: float | None = None) -> Task:
    """The surface ``model`` with its point at ``start`` (default: the model's start); ``noise`` adds seeded
    Gaussian noise to the gradient. `data_root` is unused."""
    s = surface(model, condition=condition)
    start = s.start if start is None else parse_start(start)
    noise = check_float("noise", noise, 0.0)
    if not math.isfinite(noise):
        raise ValueError(f"option noise={noise!r} is out of range: it must be a finite number >= 0")
    empty = torch.zeros(1, 0)
    source = f"f(x, y) = {s.formula}, from ({start[0]:g}, {start[1]:g})" + (f", gradient noise {noise:g}"
                                                                             if noise else "")
    return SurfaceTask("surface", model, empty, torch.zeros(1), empty, torch.zeros(1),
                       lambda: Point(s.f, start, noise, seed), _loss, METRIC, source, 0,
                       steps_per_epoch=EPOCH_STEPS, step_columns=("x", "y"), step_values=_where, surface=s)
