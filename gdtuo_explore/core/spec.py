"""Tower specs: one line of text for a whole tower, shared by the explorer and the command line.

Grammar (bottom level first, as the paper writes "Adam / SGD(1e-5)")::

    tower := level ("/" level)*
    level := KIND [ "(" arg ("," arg)* ")" ]
    arg   := NUMBER                       positional, in the order of the kind's hyperparameters
           | NAME "=" NUMBER
           | "learn" "=" NAME ("+" NAME)* | "learn" "=" "none"
           | OPTION "=" ("true" | "false")     an on/off option of the kind, e.g. sgd's nesterov
           | "hypergrad" "=" ("closed" | "auto")   the hypergradient's path (see optimizers.auto)

Examples: ``sgd``, ``sgd(0.1)/sgd(1e-4)``, ``adam(alpha=1e-3)/sgd(1e-5)``, ``rmsprop(learn=alpha)/sgd(1e-4)``,
``sgd(0.01, mu=0.9)/adam(0.1)``, ``sgd(0.01, mu=0.9, nesterov=true)/sgd(1e-4)``, ``adam(hypergrad=auto)/sgd(1e-5)``,
``adamw(weight_decay=0.1)/sgd(1e-5)``, ``lion(3e-4)/sgd(1e-6)``. ``str(parse_tower(s))`` gives the canonical form, which parses back to an equal
tower.
"""
from __future__ import annotations

import re

from .optimizers import KINDS, Level

_LEVEL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.S)


def known() -> str:
    """The known optimizers and their hyperparameters with defaults, for error messages and help texts."""
    return "; ".join(f"{k}(" + ", ".join(f"{h.name}={h.default!r}" for h in c.HYPERS) + ")" for k, c in KINDS.items())


def _number(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{text.strip()!r} in {where!r} is not a number") from None


def parse_level(text: str, optimizer: Level | None = None) -> Level:
    """Parse one level such as ``adam(1e-3, beta1=0.8)``; ``optimizer`` is the level above it."""
    m = _LEVEL.match(text)
    if not m:
        raise ValueError(f"cannot read the level {text.strip()!r}: expected KIND or KIND(args); known optimizers: "
                         f"{known()}")
    kind, body = m.group(1).lower(), m.group(2)
    if kind not in KINDS:
        raise ValueError(f"unknown optimizer {m.group(1)!r} in {text.strip()!r}; known optimizers: {known()}")
    cls = KINDS[kind]
    names = [h.name for h in cls.HYPERS]
    kwargs, options, learn, keyword_seen = {}, {}, None, False
    args = [a for a in (body or "").split(",")] if (body or "").strip() else []
    for i, arg in enumerate(args):
        if "=" in arg:
            keyword_seen = True
            key, value = (s.strip() for s in arg.split("=", 1))
            if key == "learn":
                learn = () if value.lower() == "none" else tuple(s.strip() for s in value.split("+"))
                continue
            if key == "hypergrad":
                options[key] = value.lower()
                continue
            if key in cls.OPTIONS:
                if value.lower() not in ("true", "false"):
                    raise ValueError(f"{key}={value!r} in {text.strip()!r} must be true or false")
                options[key] = value.lower() == "true"
                continue
            if key not in names:
                extra = "".join(f", {o}=true|false" for o in cls.OPTIONS)
                raise ValueError(f"{kind} has no hyperparameter {key!r} (in {text.strip()!r}); "
                                 f"{kind}'s hyperparameters are {', '.join(names)} (and learn=..."
                                 f"{extra}, hypergrad=closed|auto)")
            if key in kwargs:
                raise ValueError(f"{key!r} is given twice in {text.strip()!r}")
            kwargs[key] = _number(value, text.strip())
        else:
            if keyword_seen or i >= len(names):
                raise ValueError(f"positional value {arg.strip()!r} in {text.strip()!r} is not allowed here; "
                                 f"{kind} takes at most {len(names)} ({', '.join(names)}) and they come first")
            kwargs[names[i]] = _number(arg, text.strip())
    return cls.from_spec(kwargs, optimizer=optimizer, learn=learn, **options)


def parse_tower(spec: str | Level) -> Level:
    """Parse a tower spec (bottom level first) into its bottom :class:`Level`; a Level is returned unchanged.

    >>> str(parse_tower("Adam(alpha=1e-3) / SGD(1e-5)"))
    'adam/sgd(1e-05)'
    """
    if isinstance(spec, Level):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"a tower spec must be a non-empty string such as 'adam/sgd(1e-5)', not {spec!r}")
    parts = _split_levels(spec)
    level = None
    for part in reversed(parts):
        level = parse_level(part, optimizer=level)
    return level


def _split_levels(spec: str) -> list[str]:
    """Split at '/' outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(spec):
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            raise ValueError(f"unbalanced ')' at position {i} in {spec!r}")
        if ch == "/" and depth == 0:
            parts.append(spec[start:i])
            start = i + 1
    if depth:
        raise ValueError(f"unbalanced '(' in {spec!r}")
    parts.append(spec[start:])
    for p in parts:
        if not p.strip():
            raise ValueError(f"empty level in {spec!r}: every '/' must have an optimizer on both sides")
    return parts
