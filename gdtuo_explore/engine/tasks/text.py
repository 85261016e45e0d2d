"""Character-level language modelling on a text file or on Python's own standard-library docstrings."""

from __future__ import annotations

import importlib
import inspect
import os
import warnings
from functools import lru_cache

import torch
import torch.nn.functional as F

from .models import CharLSTM
from .registry import Task, check_int, register_task

CORPUS_MODULES = (
    "abc", "argparse", "base64", "bisect", "calendar", "collections", "contextlib", "copy", "csv", "dataclasses",
    "datetime", "decimal", "difflib", "enum", "fractions", "functools", "heapq", "inspect", "itertools", "json",
    "logging", "math", "operator", "os", "pathlib", "pprint", "random", "re", "shutil", "statistics", "string",
    "textwrap", "typing", "unittest", "zipfile",
)
UNKNOWN = "\ufffd"  # token 0: stands for any character not seen in the training text


@lru_cache(maxsize=1)
def stdlib_corpus() -> str:
    """The docstrings of CORPUS_MODULES and of their public functions and classes, in a fixed order.

    Needs no download and is the same on every machine with the same Python version.
    """
    parts = []
    with warnings.catch_warnings():  # reading e.g. typing.io warns that it is deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        for name in CORPUS_MODULES:
            module = importlib.import_module(name)
            parts.append(f"{name}\n{inspect.getdoc(module) or ''}")
            for attr in sorted(dir(module)):
                obj = getattr(module, attr)
                if attr.startswith("_") or not callable(obj) or getattr(obj, "__module__", None) != name:
                    continue
                doc = inspect.getdoc(obj)
                if doc:
                    parts.append(f"{name}.{attr}\n{doc}")
    return "\n\n".join(parts)


def _read_text(path: str) -> str:
    try:
        with open(os.path.expanduser(path), encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as err:
        raise ValueError(f"text_file {path!r} cannot be read: {err.strerror or err}") from None
    if not text:
        raise ValueError(f"text_file {path!r} is empty")
    return text


def _windows(ids: torch.Tensor, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping windows: x = ids[i:i+T], y = ids[i+1:i+T+1] for i = 0, T, 2T, ..."""
    n = (len(ids) - 1) // seq_len
    x = ids[:n * seq_len].view(n, seq_len)
    y = ids[1:n * seq_len + 1].view(n, seq_len)
    return x, y


@register_task("charlm", description="character-level LSTM language model on your text file or, by default, "
               "Python's standard-library docstrings (offline)", models=("lstm",))
def build_charlm(model: str, data_root: str, seed: int, *, text_file: str | None = None, seq_len: int = 64,
                 hidden: int = 128, max_chars: int = 200_000) -> Task:
    """Windows of `seq_len` characters from the first `max_chars` characters of the text.

    The first 90% of the text trains, the last 10% tests. Inputs and targets are int64 token ids,
    (N, seq_len); the model outputs (N, seq_len, vocab) logits. `task.vocab[i]` is token i's
    character; token 0 is UNKNOWN. `data_root` and `seed` are unused.
    """
    seq_len, hidden = check_int("seq_len", seq_len, 1), check_int("hidden", hidden, 1)
    max_chars = check_int("max_chars", max_chars, 2)
    if text_file is None:
        text, source = stdlib_corpus(), f"docstrings of {len(CORPUS_MODULES)} Python standard-library modules"
    else:
        text, source = _read_text(text_file), f"text file {text_file}"
    text = text[:max_chars]
    cut = int(len(text) * 0.9)
    if len(text) - cut < seq_len + 1:
        raise ValueError(f"the text ({len(text)} characters) is too short for seq_len={seq_len}: its last 10% "
                         f"must hold at least seq_len+1 = {seq_len + 1} characters")
    vocab = [UNKNOWN] + sorted(set(text[:cut]) - {UNKNOWN})
    index = {ch: i for i, ch in enumerate(vocab)}
    ids = torch.tensor([index.get(ch, 0) for ch in text], dtype=torch.int64)
    train_x, train_y = _windows(ids[:cut], seq_len)
    test_x, test_y = _windows(ids[cut:], seq_len)

    def loss_fn(output, target):
        return F.cross_entropy(output.reshape(-1, output.shape[-1]), target.reshape(-1))

    return Task("charlm", model, train_x, train_y, test_x, test_y, lambda: CharLSTM(len(vocab), hidden),
                loss_fn, "accuracy", f"{source} ({len(text)} characters)", len(vocab), vocab=vocab)
