"""Repetition, frequency and presence penalties over the last ``last_n`` tokens, as llama.cpp.

For each token with count ``c > 0`` in the window: ``logit <= 0 ? logit * repeat : logit / repeat``,
then ``logit -= c * frequency + presence``, all in float32. Neutral values (``repeat = 1``,
``frequency = presence = 0``, ``last_n = 0``) change nothing.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import _validate
from .numerics import as_logits


def check_penalties(repeat_penalty: float, frequency_penalty: float, presence_penalty: float, last_n: int,
                    last_n_name: str = "last_n") -> tuple:
    """Validate penalty parameters; return them as ``(float, float, float, int)``."""
    return (
        _validate.number("repeat_penalty", repeat_penalty, low=0.0, low_open=True),
        _validate.number("frequency_penalty", frequency_penalty),
        _validate.number("presence_penalty", presence_penalty),
        _validate.integer(last_n_name, last_n, low=-1),
    )


#: The penalty values that change nothing (a window of 0 tokens does too).
OFF = {"repeat_penalty": 1.0, "frequency_penalty": 0.0, "presence_penalty": 0.0}


def penalties_neutral(repeat_penalty: float, frequency_penalty: float, presence_penalty: float, last_n: int) -> bool:
    """True when the penalties change nothing, so the stage can be skipped."""
    return last_n == 0 or (repeat_penalty, frequency_penalty, presence_penalty) == tuple(OFF.values())


def window(history: object, last_n: int, n_vocab: int, name: str = "history") -> np.ndarray:
    """The last ``last_n`` ids of ``history`` (``-1``: all of it), checked, as an integer array.

    Only the ids in that window are read and checked.

    >>> window([5, 1, 5, 2], 3, 10)
    array([1, 5, 2])
    """
    if history is None:
        history = ()
    if not isinstance(history, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a sequence of token ids, got {type(history).__name__}")
    if last_n >= 0:
        history = history[len(history) - min(last_n, len(history)):]
    ids = np.asarray(history)
    if ids.size == 0:
        return np.empty(0, dtype=np.int64)
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise TypeError(f"{name} must be a flat sequence of integer token ids, got {ids.dtype} values of shape {ids.shape}")
    if ids.min() < 0 or ids.max() >= n_vocab:
        bad = int(ids[(ids < 0) | (ids >= n_vocab)][0])
        raise ValueError(f"{name} contains token id {bad}, outside the vocabulary [0, {n_vocab})")
    return ids


def window_counts(history: object, last_n: int, n_vocab: int, name: str = "history") -> tuple[np.ndarray, np.ndarray]:
    """Return ``(token ids, counts)`` of ``window(history, last_n, n_vocab)``.

    >>> window_counts([5, 1, 5, 2], 3, 10)
    (array([1, 2, 5]), array([1, 1, 1]))
    """
    ids = window(history, last_n, n_vocab, name)
    if ids.size == 0:
        return ids, np.empty(0, dtype=np.int64)
    return np.unique(ids, return_counts=True)


def penalize(values: np.ndarray, counts: np.ndarray, repeat: float, frequency: float, presence: float) -> np.ndarray:
    """The penalized float32 logits of tokens with logits ``values`` seen ``counts`` times."""
    r = np.float32(repeat)
    out = np.where(values <= 0, values * r, values / r)
    return out - (counts.astype(np.float32) * np.float32(frequency) + np.float32(presence))


def apply_penalties(
    logits: object,
    history: object,
    repeat_penalty: float = 1.0,
    frequency_penalty: float = 0.0,
    presence_penalty: float = 0.0,
    last_n: int = 64,
) -> np.ndarray:
    """Penalize tokens that occur in the last ``last_n`` ids of ``history``; return a new array.

    >>> apply_penalties(np.array([2.0, -1.0, 3.0], dtype=np.float32), [0, 1, 1], repeat_penalty=2.0,
    ...                 frequency_penalty=0.5)
    array([ 0.5, -3. ,  3. ], dtype=float32)
    """
    x, _ = as_logits(logits)
    repeat, frequency, presence, last_n = check_penalties(repeat_penalty, frequency_penalty, presence_penalty, last_n)
    out = x.copy()
    ids, counts = window_counts(history, last_n, x.size)
    if ids.size and not penalties_neutral(repeat, frequency, presence, last_n):
        out[ids] = penalize(x[ids], counts, repeat, frequency, presence)
    return out
