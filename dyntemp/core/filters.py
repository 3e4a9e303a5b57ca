"""Truncation filters: top-k, top-p, min-p, typical-p and top-nσ, matching llama.cpp's samplers.

Each public filter takes a 1-D logits array and returns a new float32 array in which removed tokens
are ``-inf``; the input is never changed. Each keeps at least ``min_keep`` tokens (1 by default; 0
acts as 1, since a token must always remain), or every finite token if there are fewer. The neutral
values (``is_off``) change nothing.

The ``*_keep`` functions are the cores the sampler chains on its shrinking candidate set. They take
the candidate logits and whether they are already sorted by logit descending, and return ``(keep, sorted_after)``: ``keep`` is ``None`` (keep all), a prefix ``slice`` or an index
array.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _validate
from . import kernel
from .numerics import as_logits, sort_desc

Keep = tuple["np.ndarray | slice | None", bool]

# A filter is off at llama.cpp's neutral values and beyond them (``k <= 0``, ``p >= 1`` for top-p and
# typical-p, ``p <= 0`` for min-p, ``n <= 0`` for top-nσ); the stages declare the value that turns each off.
_OFF_AT_ONE = ("top_p", "typical_p")
XTC_OFF_ABOVE = 0.5  # an XTC threshold above it turns XTC off, as in llama.cpp


def is_off(name: str, value: float) -> bool:
    """True when filter ``name`` with ``value`` keeps every token (for ``xtc``, ``value`` is the threshold).

    Callers check it and skip a filter that is off (the ``*_keep`` functions do not check again).

    >>> is_off("top_k", 0), is_off("top_p", 1.0), is_off("min_p", 0.05), is_off("xtc", 0.6)
    (True, True, False, True)
    """
    if name == "xtc":
        return value > XTC_OFF_ABOVE
    return value >= 1.0 if name in _OFF_AT_ONE else value <= 0


# Candidate sets up to this size are sorted outright; larger ones (the full vocabulary) are cut by a
# threshold below the maximum so that only the head is ever sorted.
_SORT_OUTRIGHT = 1024


def top_k_keep(x: np.ndarray, k: int, min_keep: int, is_sorted: bool) -> Keep:
    """Keep the ``max(k, min_keep)`` largest logits (ties: lower token id first)."""
    k = max(k, min_keep, 1)
    if k >= x.size:
        return None, is_sorted
    if is_sorted:
        return slice(0, k), True
    return kernel.top_k(x, k)[0], True


def top_p_keep(x: np.ndarray, p: float, min_keep: int, is_sorted: bool) -> Keep:
    """Keep the smallest set of most likely tokens whose probability mass reaches ``p``.

    The mass is computed in float64 over the candidates that decide the cut, so the set is the
    exact smallest prefix holding ``>= p`` (llama.cpp sums in float32 and can move the cut by a few
    tail tokens).
    """
    min_keep = max(min_keep, 1)
    if is_sorted:
        return slice(0, min(max(kernel.mass_prefix(x, p), min_keep), x.size)), True
    if x.size <= _SORT_OUTRIGHT:
        order = sort_desc(x)
        keep, _ = top_p_keep(x[order], p, min_keep, True)
        return order[keep], True
    head, cut = kernel.top_p(x, p)
    return head[: min(max(cut, min_keep), head.size)], True


def min_p_keep(x: np.ndarray, p: float, min_keep: int, is_sorted: bool) -> Keep:
    """Keep tokens with ``logit >= max_logit + ln(p)`` (float32, as llama.cpp)."""
    min_keep = max(min_keep, 1)
    threshold = np.float32(x[0] if is_sorted else x.max()) + np.float32(math.log(p))
    return _at_least(x, threshold, min_keep, is_sorted)


def _at_least(x: np.ndarray, threshold: np.float32, min_keep: int, is_sorted: bool) -> Keep:
    """Keep the values ``>= threshold``, at least ``min_keep`` (the largest) of them."""
    if is_sorted:
        n = kernel.count_at_least(x, threshold)
        return slice(0, min(max(n, min_keep, 1), x.size)), True
    keep, _ = kernel.at_least(x, threshold)
    if keep.size < min_keep:
        return kernel.top_k(x, min_keep)[0], True
    return keep, False


def typical_keep(x: np.ndarray, p: float, min_keep: int, is_sorted: bool) -> Keep:
    """Keep tokens in order of ``|-ln p - H|`` until their mass exceeds ``p`` (float64)."""
    finite = np.flatnonzero(x > -np.inf)
    z = x[finite].astype(np.float64)
    z -= z.max()
    e = np.exp(z)
    total = e.sum()
    probs = e / total
    logp = z - np.log(total)
    entropy = -(probs @ logp)
    order = np.argsort(np.abs(-logp - entropy), kind="stable")
    cum = np.cumsum(probs[order])
    n = int(np.searchsorted(cum, p, side="right")) + 1
    return finite[order[: min(max(n, min_keep, 1), order.size)]], False


def top_n_sigma_keep(x: np.ndarray, n: float, min_keep: int, is_sorted: bool) -> Keep:
    """Keep tokens with ``logit >= max - n·σ``, σ the standard deviation of the finite logits."""
    if x.size <= 1:
        return None, is_sorted
    top, sigma = kernel.deviation(x)
    return _at_least(x, np.float32(top) - np.float32(n) * np.float32(sigma), max(min_keep, 1), is_sorted)


def xtc_keep(x: np.ndarray, threshold: float, min_keep: int, is_sorted: bool) -> Keep:
    """Exclude Top Choices, once its coin has come up: of the tokens with probability
    ``>= threshold``, remove all but the least likely, as llama.cpp does — unless fewer than
    ``min_keep`` would remain, or only one token reaches the threshold."""
    if x.size < 2:
        return None, is_sorted
    order = None if is_sorted else sort_desc(x)
    z = (x if order is None else x[order]).astype(np.float64)
    p = np.exp(z - z[0])
    p /= p.sum()
    pos_last = max(int(np.count_nonzero(p >= threshold)) - 1, 0)  # p is descending: those form a prefix
    if pos_last == 0 or z.size - pos_last < min_keep:
        return (None, is_sorted) if order is None else (order, True)
    return (slice(pos_last, z.size) if order is None else order[pos_last:]), True


#: Each filter's core on the shrinking candidate set, by its stage name.
KEEP = {"top_n_sigma": top_n_sigma_keep, "top_k": top_k_keep, "typical_p": typical_keep, "top_p": top_p_keep,
        "min_p": min_p_keep, "xtc": xtc_keep}


def _apply(logits: object, name: str, value: float, min_keep: int) -> np.ndarray:
    x, _ = as_logits(logits)
    if is_off(name, value):
        return x.copy()
    keep, _ = KEEP[name](x, value, min_keep, False)
    if keep is None:
        return x.copy()
    out = np.full_like(x, -np.inf)
    out[keep] = x[keep]
    return out


def _min_keep(value: object) -> int:
    return _validate.integer("min_keep", value, low=0)


def top_k(logits: object, k: int, min_keep: int = 1) -> np.ndarray:
    """Keep the ``k`` largest logits; ``k <= 0`` keeps all. Ties at the cut go to the lower token id.

    >>> top_k(np.array([1.0, 3.0, 2.0], dtype=np.float32), 2)
    array([-inf,   3.,   2.], dtype=float32)
    """
    k = _validate.integer("top_k", k, low=0)
    return _apply(logits, "top_k", k, _min_keep(min_keep))


def top_p(logits: object, p: float, min_keep: int = 1) -> np.ndarray:
    """Nucleus filter: keep the smallest most-likely set whose probability reaches ``p``.

    >>> top_p(np.log(np.array([0.5, 0.3, 0.2], dtype=np.float32)), 0.8)
    array([-0.6931472, -1.2039728,       -inf], dtype=float32)
    """
    p = _validate.number("top_p", p, low=0.0, high=1.0)
    return _apply(logits, "top_p", p, _min_keep(min_keep))


def min_p(logits: object, p: float, min_keep: int = 1) -> np.ndarray:
    """Keep tokens whose probability is at least ``p`` times that of the most likely token.

    >>> min_p(np.log(np.array([0.6, 0.3, 0.1], dtype=np.float32)), 0.2)
    array([-0.5108256, -1.2039728,       -inf], dtype=float32)
    """
    p = _validate.number("min_p", p, low=0.0, high=1.0)
    return _apply(logits, "min_p", p, _min_keep(min_keep))


def xtc(logits: object, threshold: float, min_keep: int = 1) -> np.ndarray:
    """XTC with its coin come up (the sampler draws it with probability ``xtc_probability``):
    remove every token with probability ``>= threshold`` but the least likely of them;
    ``threshold > 0.5`` keeps all.

    >>> xtc(np.log(np.array([0.5, 0.3, 0.15, 0.05], dtype=np.float32)), 0.1)
    array([      -inf,       -inf, -1.89712  , -2.9957323], dtype=float32)
    """
    threshold = _validate.number("xtc_threshold", threshold, low=0.0, high=1.0)
    return _apply(logits, "xtc", threshold, _min_keep(min_keep))


def typical_p(logits: object, p: float, min_keep: int = 1) -> np.ndarray:
    """Locally typical filter: keep tokens whose surprise is closest to the entropy, up to mass ``p``.

    >>> typical_p(np.log(np.array([0.6, 0.3, 0.1], dtype=np.float32)), 0.2)
    array([      -inf, -1.2039728,       -inf], dtype=float32)
    """
    p = _validate.number("typical_p", p, low=0.0, high=1.0)
    return _apply(logits, "typical_p", p, _min_keep(min_keep))


def top_n_sigma(logits: object, n: float, min_keep: int = 1) -> np.ndarray:
    """Keep tokens within ``n`` standard deviations of the largest logit; ``n <= 0`` keeps all.

    >>> top_n_sigma(np.array([0.0, 1.0, 2.0, 10.0], dtype=np.float32), 1.0)
    array([-inf, -inf, -inf,  10.], dtype=float32)
    """
    n = _validate.number("top_n_sigma", n)
    return _apply(logits, "top_n_sigma", n, _min_keep(min_keep))
