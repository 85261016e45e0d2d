"""Hyperparameters: their allowed ranges and how they are stored.

A learned hyperparameter is stored as an unconstrained *raw* number and used in *natural* units, exactly as the
reference package does it (so trajectories match):

=============  ======================  ===============================  =========================
transform      natural from raw         raw from natural                 used for
=============  ======================  ===============================  =========================
``identity``   h = x                    x = h                            SGD alpha/mu, Adam alpha
``square``     h = x**2                 x = sqrt(h)                      RMSProp alpha
``sigmoid``    h = (tanh(x) + 1) / 2    x = atanh(2h - 1)                Adam beta1/beta2, gamma
=============  ======================  ===============================  =========================

Hypergradients are computed in natural units and carried to raw units by ``dh/dx`` (``Transform.grad``). On the
CPU a tower reads its hyperparameters as Python floats (``natural_float``): reading a CPU tensor costs no
synchronisation, and Python arithmetic on a float is ~30x cheaper than a PyTorch op on a one-element tensor.

A tower's guard-rail options are checked here too, in one place: :func:`check_hypergrad_clip`,
:func:`check_alpha_bounds`.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch


class Transform:
    """A reparametrization ``natural = f(raw)`` with its inverse and derivative."""

    name = "identity"

    def to_raw(self, natural: float) -> float:
        return float(natural)

    def natural(self, raw: torch.Tensor) -> torch.Tensor:
        return raw

    def natural_float(self, raw: float) -> float:
        return raw

    def grad(self, raw, natural):
        """d natural / d raw (tensors or floats), or None for the identity (saves an op in the hot path)."""
        return None

    def natural_np(self, raw: np.ndarray) -> np.ndarray:
        return raw


class Square(Transform):
    name = "square"

    def to_raw(self, natural: float) -> float:
        return float(torch.sqrt(torch.tensor(natural)))  # float32, as the reference

    def natural(self, raw):
        return raw * raw

    def natural_float(self, raw):
        return raw * raw

    def grad(self, raw, natural):
        return raw * 2.0

    def natural_np(self, raw):
        return raw * raw


class Sigmoid(Transform):
    name = "sigmoid"

    def to_raw(self, natural: float) -> float:
        z = torch.tensor(natural) * 2.0 - 1.0  # float32, the reference's formula for atanh(2h - 1)
        return float(((1.0 + z) / (1.0 - z)).log() / 2.0)

    def natural(self, raw):
        return torch.sigmoid(raw * 2.0)  # = (tanh(raw) + 1) / 2

    def natural_float(self, raw):  # sigmoid(2 raw), written so that exp cannot overflow
        if raw >= 0.0:
            return 1.0 / (1.0 + math.exp(-2.0 * raw))
        e = math.exp(2.0 * raw)
        return e / (1.0 + e)

    def grad(self, raw, natural):  # (1 - tanh^2) / 2 = 2 h (1 - h)
        if isinstance(natural, float):
            return 2.0 * natural * (1.0 - natural)
        return torch.addcmul(natural, natural, natural, value=-1.0).mul_(2.0)

    def natural_np(self, raw):
        return (np.tanh(raw) + 1.0) / 2.0


IDENTITY, SQUARE, SIGMOID = Transform(), Square(), Sigmoid()


@dataclass(frozen=True)
class Hyper:
    """One hyperparameter of an optimizer level: name, default, allowed range, storage transform.

    ``low``/``high`` bound the *natural* value; ``open_low``/``open_high`` say whether the bound itself is excluded.
    ``learnable=False`` marks a constant option such as Adam's ``log_eps``.
    """

    name: str
    default: float
    transform: Transform = IDENTITY
    low: float = -math.inf
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False
    learnable: bool = True

    def allowed(self) -> str:
        if self.low == -math.inf and self.high == math.inf:
            return "a finite number"
        if self.high == math.inf:
            return f"a finite number {'>' if self.open_low else '>='} {self.low:g}"
        lo, hi = ("(" if self.open_low else "["), (")" if self.open_high else "]")
        return f"in the {'open ' if self.open_low and self.open_high else ''}interval {lo}{self.low:g}, {self.high:g}{hi}"

    def check(self, value, kind: str) -> float:
        """Return ``value`` as a float, or raise ValueError naming it and the allowed range."""
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{self.name}={value!r} is invalid for {kind}: must be {self.allowed()}")
        v = float(value)
        ok = math.isfinite(v)
        ok = ok and (v > self.low if self.open_low else v >= self.low)
        ok = ok and (v < self.high if self.open_high else v <= self.high)
        if not ok:
            raise ValueError(f"{self.name}={value!r} is invalid for {kind}: must be {self.allowed()}")
        return v


# -- a tower's guard-rail options (HyperOptimizer, Tower and the run configuration check them here) ----------------
def is_real(value) -> bool:
    """Whether ``value`` is a real number (a bool is not)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_hypergrad_clip(value) -> float | None:
    """``value`` as a float, or None; ValueError naming it unless it is None or a finite number > 0."""
    if value is None:
        return None
    if not (is_real(value) and math.isfinite(value) and value > 0):
        raise ValueError(f"hypergrad_clip={value!r} is invalid: it must be None or a finite number > 0")
    return float(value)


def check_alpha_bounds(value) -> tuple[float, float] | None:
    """``value`` as a ``(low, high)`` pair of floats, or None; ValueError naming it unless it is None or two
    numbers (infinite allowed, nan not) with low < high."""
    if value is None:
        return None
    if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(is_real(b) and not math.isnan(b) for b in value)
            and value[0] < value[1]):
        raise ValueError(f"alpha_bounds={value!r} is invalid: it must be None or (low, high), two numbers with "
                         "low < high")
    return float(value[0]), float(value[1])
