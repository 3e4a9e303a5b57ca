"""Numeric building blocks of one sampling step: checked logits, softmax, entropy, top selection.

Everything here avoids a full sort of the vocabulary: the largest tokens are found by a threshold
below the maximum and a partition of the few tokens above it, and the full-vocabulary entropy costs
one ``exp`` pass and two dot products.
"""

from __future__ import annotations

import bisect
import itertools
import math
import threading
from typing import Sequence

import numpy as np

# Below this the sum of exp(x) would be made of subnormal floats: shift by the maximum instead.
_DIRECT_EXP_MIN_TOTAL = 1e-30
# Top selection: every _STRIDE-th token is sampled (at most about _SAMPLE of them); the threshold
# is the sample value at the rank that leaves about _OVERSAMPLE * k tokens above it (never fewer
# than _MIN_RANK sampled ones, so that falling short of k, which costs a second pass, is rare).
_STRIDE = 64
_SAMPLE = 1024
_OVERSAMPLE = 8
_MIN_RANK = 6
# Candidate sets up to this size are handled in Python floats: right after a llama.cpp decode every
# numpy call starts with cold caches (5 to 20 microseconds each), a loop over a few dozen floats
# does not (entropy of 40 candidates: 0.024 ms in Python against 0.064 ms in numpy).
_SMALL = 64
_FLOAT32_LOWEST = np.finfo(np.float32).min
# Bound on the relative error of the float32 mass of the full vocabulary (exp rounding of x - max
# and float64 accumulation); a top-p cut closer than this to the boundary is recomputed in float64.
_MASS_REL_ERROR = 1e-5
#: The largest float32, as a Python float: bounds for logit biases and temperatures.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def as_vector(logits: object, name: str = "logits") -> np.ndarray:
    """``logits`` as a 1-D float32 array, refusing other shapes and values that are not real numbers.

    >>> as_vector([1, 2]).dtype
    dtype('float32')
    """
    if type(logits) is np.ndarray and logits.dtype == np.float32:
        x = logits
    else:
        x = np.asarray(logits)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be real numbers, got an array of {x.dtype}")
        with np.errstate(over="ignore"):  # beyond float32's range becomes inf, refused with its index
            x = x.astype(np.float32, copy=False)
    if x.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {x.shape}")
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)  # the kernel reads one run of memory
    return x


def as_logits(logits: object, name: str = "logits") -> tuple[np.ndarray, float]:
    """Return ``(logits as 1-D float32, max logit)``; raise ``ValueError`` for unusable logits.

    NaN, ``+inf``, an empty array and all-``-inf`` are refused; ``-inf`` entries are removed tokens.

    >>> x, m = as_logits([1.0, -np.inf, 3.0])
    >>> x.dtype, m
    (dtype('float32'), 3.0)
    """
    x = as_vector(logits, name)
    if x.size == 0:
        raise ValueError(f"{name} is empty: there is no token to sample")
    m = float(x.max())
    if m != m:
        raise ValueError(f"{name} contains NaN at index {int(np.flatnonzero(np.isnan(x))[0])}")
    if m == np.inf:
        raise ValueError(f"{name} contains +inf (or a value beyond float32's range) at index {int(np.argmax(x))}; "
                         "only -inf (a removed token) is allowed")
    if m == -np.inf:
        raise ValueError(f"{name} are all -inf: every token was removed, nothing is left to sample")
    return x, m


def entropy64(logits: np.ndarray) -> float:
    """Entropy (nats) of ``softmax(logits)``, computed in float64; for candidate sets.

    >>> round(entropy64(np.array([0.0, 0.0, -np.inf], dtype=np.float32)), 6)
    0.693147
    """
    if logits.size <= _SMALL:
        values = logits.tolist()
        top = max(values)
        total = weighted = 0.0
        for v in values:
            if v != -math.inf:
                e = math.exp(v - top)
                total += e
                weighted += e * (v - top)
        return max(math.log(total) - weighted / total, 0.0)
    z = logits.astype(np.float64)
    z -= z.max()
    e = np.exp(z)
    total = float(np.add.reduce(e))
    keep = e > 0.0
    weighted = float(np.vecdot(e[keep], z[keep]))
    return max(math.log(total) - weighted / total, 0.0)


def mass_prefix(logits: np.ndarray, p: float) -> int:
    """Length of the shortest prefix of ``logits`` (sorted descending) whose share of the
    ``softmax`` mass (float64) reaches ``p``.

    >>> mass_prefix(np.log(np.array([0.5, 0.3, 0.2])), 0.75)
    2
    """
    if logits.size <= _SMALL:
        values = logits.tolist()
        top = values[0]
        cum = list(itertools.accumulate(math.exp(v - top) for v in values))
        return bisect.bisect_left(cum, p * cum[-1]) + 1
    cum = np.exp(logits.astype(np.float64) - float(logits[0])).cumsum()
    return int(cum.searchsorted(p * cum[-1], side="left")) + 1


def top_p_head(x: np.ndarray, p: float) -> tuple[np.ndarray, int]:
    """Top-p on a full, unsorted vocabulary: ``(ids of a head of x, ranked, how many of them hold
    a share p of the mass)``. Only the head within a gap of the maximum that holds the mass is
    sorted; the cut is on float64 masses, the total's float32 error settled exactly when it matters.

    >>> head, cut = top_p_head(np.log(np.array([0.2, 0.5, 0.3], dtype=np.float32)), 0.6)
    >>> head[:cut].tolist()
    [1, 2]
    """
    m = float(x.max())
    e = np.exp(x - np.float32(m))
    total = float(e.sum(dtype=np.float64))
    need = p * total * (1.0 + _MASS_REL_ERROR)
    for gap in (8.0, 32.0, 128.0, math.inf):
        head = np.flatnonzero(x >= np.float32(m - gap)) if gap < math.inf else np.flatnonzero(x > -np.inf)
        if float(e[head].sum(dtype=np.float64)) >= need:
            break
    order = head[np.argsort(-x[head], kind="stable")]
    cum = np.cumsum(np.exp(x[order].astype(np.float64) - m))
    lo = int(np.searchsorted(cum, p * total * (1.0 - _MASS_REL_ERROR), side="left"))
    hi = int(np.searchsorted(cum, need, side="left"))
    if lo == hi:
        return order, lo + 1
    exact_total = float(np.exp(x.astype(np.float64) - m).sum())
    return order, int(np.searchsorted(cum, p * exact_total, side="left")) + 1


def softmax_weights(logits: np.ndarray, is_sorted: bool) -> np.ndarray:
    """Unnormalized float64 probabilities ``exp(logit - max)`` (``is_sorted``: the first is the max).

    >>> softmax_weights(np.log(np.array([0.5, 0.25], dtype=np.float32)), True).round(6)
    array([1. , 0.5])
    """
    z = logits.astype(np.float64)
    z -= z[0] if is_sorted else z.max()
    return np.exp(z, out=z)


def draw(logits: np.ndarray, is_sorted: bool, u: float) -> tuple[int, float]:
    """The index drawn from ``softmax(logits)`` (float64) for a uniform ``u`` in [0, 1), and its
    probability: the first index whose cumulative probability exceeds ``u``.

    >>> j, p = draw(np.log(np.array([0.5, 0.25, 0.25], dtype=np.float32)), True, 0.6)
    >>> j, round(p, 6)
    (1, 0.25)
    """
    if logits.size <= _SMALL:
        values = logits.tolist()
        top = values[0] if is_sorted else max(values)
        weights = [math.exp(v - top) for v in values]
        cum = list(itertools.accumulate(weights))
        j = min(bisect.bisect_right(cum, u * cum[-1]), len(cum) - 1)
        return j, weights[j] / cum[-1]
    e = softmax_weights(logits, is_sorted)
    cum = e.cumsum()
    j = min(int(cum.searchsorted(u * cum[-1], side="right")), cum.size - 1)
    return j, float(e[j] / cum[-1])


def logsumexp_and_entropy(x: np.ndarray, removed: Sequence[int] = ()) -> tuple[float, float]:
    """Return ``(log Σ exp x, entropy of softmax(x) in nats)`` for 1-D float32 logits ``x``.

    One ``exp`` pass into a reused buffer and two float32 dot products: ``H = ln S - Σ e·x / S`` with
    ``e = exp(x)``; shifted by the maximum only when ``exp(x)`` would overflow or underflow. Accurate
    to about 1e-4 nats (measured: 6e-5 at 49,152 tokens, 3e-4 at 262,144; float64 or pairwise sums
    would cost extra passes). It doubles as the check of the logits: NaN, ``+inf``, all ``-inf``
    and empty raise ``ValueError`` (see ``as_logits``).

    A ``-inf`` logit makes its term ``0 · -inf``: ``removed`` names tokens known to be ``-inf``
    (banned by a logit bias), which are set to 0 in ``x`` for the dot product and back to ``-inf``
    after it, so that only other ``-inf`` tokens cost a clipped copy of the vocabulary.

    >>> lse, h = logsumexp_and_entropy(np.zeros(4, dtype=np.float32))
    >>> round(lse, 6), round(h, 6)
    (1.386294, 1.386294)
    """
    if x.size == 0:
        as_logits(x)
    # numpy's dot products, not scipy's BLAS: OpenBLAS splits a long reduction across threads, and
    # right after a decode llama.cpp's threads still spin on the other cores, so the split waited
    # milliseconds for a core (seen at 262,144 tokens: 3.4 ms instead of 0.2).
    ones = _ones(x.size)
    shift, weighted = 0.0, math.nan
    with np.errstate(over="ignore", invalid="ignore"):  # both mean: take the shifted path below
        e = np.exp(x, out=_scratch(x.size))
        # Both sums as dot products of the same shape: their float32 rounding errors are alike and
        # largely cancel in ln S - W / S (a pairwise sum for S alone doubled the entropy's error).
        total = float(np.vecdot(e, ones))
        if _DIRECT_EXP_MIN_TOTAL <= total < math.inf:
            for token in removed:
                x[token] = 0.0  # its e is exp(-inf) = 0: the term vanishes
            weighted = float(np.vecdot(e, x))
            for token in removed:
                x[token] = -np.inf
            if weighted != weighted:
                # 0 * -inf for a removed token nobody named: only then pay for a clipped copy.
                weighted = float(np.vecdot(e, np.maximum(x, _FLOAT32_LOWEST)))
    if not -math.inf < weighted < math.inf:
        # exp(x) or the sums left float32 (logits near 88 and above) or vanished: shift by the
        # maximum, and clip -inf to the lowest float, whose exp is 0 and product -0.
        _, shift = as_logits(x)
        z = np.maximum(x - np.float32(shift), _FLOAT32_LOWEST)
        e = np.exp(z, out=e)
        total = float(np.vecdot(e, ones))
        weighted = float(np.vecdot(e, z))
    lse = math.log(total)
    return lse + shift, max(lse - weighted / total, 0.0)


_local = threading.local()


def _scratch(n: int, dtype: type = np.float32) -> np.ndarray:
    """A scratch array of length ``n``, reused per thread to avoid page faults."""
    try:
        return _local.arrays[dtype, n]
    except (AttributeError, KeyError):
        buf = _local.__dict__.setdefault("arrays", {})[dtype, n] = np.empty(n, dtype=dtype)
        return buf


_ONES: dict[int, np.ndarray] = {}


def _ones(n: int) -> np.ndarray:
    ones = _ONES.get(n)
    if ones is None:
        ones = _ONES[n] = np.ones(n, dtype=np.float32)
    return ones


def largest(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest finite values of ``x``, ordered by value descending.

    Ties are broken by the lower index. Fewer than ``k`` finite values gives all of them. A strided
    sample of ``x`` estimates a threshold a few times below the k-th value, so only the tokens above
    it are sorted: the cost is one comparison pass, whatever the shape of the distribution.

    >>> largest(np.array([1, 5, 3, 5], dtype=np.float32), 2)
    array([1, 3])
    """
    sel = None
    stride = max(_STRIDE, x.size // _SAMPLE)
    sample = x[::stride].copy()
    rank = max(_MIN_RANK, -(-_OVERSAMPLE * k // stride))
    while rank < sample.size:
        cut = sample.size - rank
        sample.partition(cut)
        threshold = sample[cut]
        if threshold == -np.inf:
            break
        sel = np.greater_equal(x, threshold, out=_scratch(x.size, bool)).nonzero()[0]
        if sel.size >= k:
            break
        sel, rank = None, rank * 4
    if sel is None:
        sel = np.flatnonzero(x > -np.inf)
    vals = x[sel]
    if sel.size > k:
        # Cut to the k-th value first: a stable sort of a few hundred values is slow, of k fast.
        cut = sel.size - k
        kth = vals.copy()
        kth.partition(cut)
        top = vals >= kth[cut]
        sel, vals = sel[top], vals[top]
    return sel[(-vals).argsort(kind="stable")[:k]]


def sort_desc(x: np.ndarray) -> np.ndarray:
    """Indices of the finite values of ``x``, by value descending, ties by lower index.

    >>> sort_desc(np.array([1, -np.inf, 3], dtype=np.float32))
    array([2, 0])
    """
    sel = np.flatnonzero(x > -np.inf)
    return sel[np.argsort(-x[sel], kind="stable")]
