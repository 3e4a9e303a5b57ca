"""Numeric building blocks of one sampling step: checked logits, softmax, entropy, top selection.

Everything here avoids a full sort of the vocabulary: the largest tokens are found by a threshold
below the maximum and a partition of the few tokens above it, and the full-vocabulary entropy costs
one ``exp`` pass and two dot products.
"""

from __future__ import annotations

import math
import threading

import numpy as np
from scipy.linalg.blas import ddot, sdot

# Below this the sum of exp(x) would be made of subnormal floats: shift by the maximum instead.
_DIRECT_EXP_MIN_TOTAL = 1e-30
# Top selection: every _STRIDE-th token is sampled (at most about _SAMPLE of them); the threshold
# is the sample value at the rank that leaves about _OVERSAMPLE * k tokens above it (never fewer
# than _MIN_RANK sampled ones, so that falling short of k, which costs a second pass, is rare).
_STRIDE = 64
_SAMPLE = 1024
_OVERSAMPLE = 8
_MIN_RANK = 6


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
    z = logits.astype(np.float64)
    z -= z.max()
    e = np.exp(z)
    total = e.sum()
    # BLAS dot products: no numpy floating-point error check, and far less call overhead.
    weighted = ddot(e, z)
    if weighted != weighted:
        keep = e > 0.0
        weighted = ddot(e[keep], z[keep])
    return max(float(np.log(total) - weighted / total), 0.0)


def logsumexp_and_entropy(x: np.ndarray) -> tuple[float, float]:
    """Return ``(log Σ exp x, entropy of softmax(x) in nats)`` for 1-D float32 logits ``x``.

    One ``exp`` pass into a reused buffer and two dot products: ``H = ln S - Σ e·x / S`` with
    ``e = exp(x)``; shifted by the maximum only when ``exp(x)`` would overflow or underflow. The dot
    products accumulate in float32, so the entropy is accurate to about 1e-4 nats (float64 would
    cost an extra pass). It doubles as the check of the logits: NaN, ``+inf``,
    all ``-inf`` and empty raise ``ValueError`` (see ``as_logits``).

    >>> lse, h = logsumexp_and_entropy(np.zeros(4, dtype=np.float32))
    >>> round(lse, 6), round(h, 6)
    (1.386294, 1.386294)
    """
    if x.size == 0:
        as_logits(x)
    with np.errstate(over="ignore"):
        e = np.exp(x, out=_buffer(x.size))
    total = sdot(e, _ones(x.size))
    if not _DIRECT_EXP_MIN_TOTAL <= total < np.inf:
        _, shift = as_logits(x)
        z = x - np.float32(shift)
        e = np.exp(z, out=e)
        total = sdot(e, _ones(x.size))
    else:
        shift, z = 0.0, x
    weighted = sdot(e, z)
    if weighted != weighted:
        # 0 * -inf for removed tokens: only then pay for a clipped copy.
        weighted = sdot(e, np.maximum(z, np.finfo(np.float32).min))
    lse = math.log(total)
    return lse + shift, max(lse - weighted / total, 0.0)


_local = threading.local()


def _buffer(n: int) -> np.ndarray:
    """A float32 scratch array of length ``n``, reused per thread to avoid page faults."""
    buffers = _local.__dict__.setdefault("float32", {})
    buf = buffers.get(n)
    if buf is None:
        buf = buffers[n] = np.empty(n, dtype=np.float32)
    return buf


def _mask(n: int) -> np.ndarray:
    """A boolean scratch array of length ``n``, reused per thread."""
    masks = _local.__dict__.setdefault("bool", {})
    buf = masks.get(n)
    if buf is None:
        buf = masks[n] = np.empty(n, dtype=bool)
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
        sel = np.greater_equal(x, threshold, out=_mask(x.size)).nonzero()[0]
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
