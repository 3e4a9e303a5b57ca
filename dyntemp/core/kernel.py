"""The full-vocabulary work of a step: the compiled kernel (``_kernel.c``) or its numpy fallback.

Both give the same results: the same top-k and cuts (exact ties, float32 thresholds, float64 masses),
draws and candidate entropies from the same float64 formulas, and the full entropy within 1e-4 nats
(the kernel's is the more accurate: float64 sums). The kernel is used when it loads; otherwise,
numpy, with one warning saying why. ``DYNTEMP_KERNEL=0`` asks for numpy; ``use(compiled)`` switches
in a running process (the tests run both paths).

>>> lse, entropy, ids, values = scan(np.array([0.0, 2.0, 1.0], dtype=np.float32), 2)
>>> ids.tolist(), values.tolist(), round(entropy, 4)
([1, 2], [2.0, 1.0], 0.8324)
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from typing import Sequence

import numpy as np

from . import numerics
from .numerics import as_logits

ENV = "DYNTEMP_KERNEL"
_FLOAT32_TINY = float(np.finfo(np.float32).smallest_subnormal)


def _load():
    """``(the compiled module or None, a description of the path)``."""
    if os.environ.get(ENV, "").strip() == "0":
        return None, f"numpy ({ENV}=0)"
    try:
        from . import _kernel
    except ImportError as exc:
        why = str(exc) or type(exc).__name__
        warnings.warn(f"dyntemp's compiled sampling kernel did not load ({why}): sampling runs on numpy, which is "
                      f"slower. Run scripts/setup.sh, or reinstall dyntemp where a C compiler is found",
                      RuntimeWarning, stacklevel=3)
        return None, f"numpy (the compiled kernel did not load: {why})"
    build, simd = _kernel.simd()
    return _kernel, f"compiled, {build} build, running {simd}"


_compiled, _description = _load()
_active = _compiled


def path() -> str:
    """Which path sampling runs on: the kernel (its build and SIMD) or numpy (and why)."""
    return _description if _active is not None else (
        _description if _compiled is None else "numpy (switched by dyntemp.core.kernel.use)")


def available() -> bool:
    """Whether the compiled kernel loaded."""
    return _compiled is not None


def use(compiled: bool) -> None:
    """Run on the compiled kernel (``True``, when it loaded) or on numpy (``False``) from now on."""
    global _active
    if compiled and _compiled is None:
        raise RuntimeError(f"the compiled kernel is not available: {_description}")
    _active = _compiled if compiled else None


@contextlib.contextmanager
def running(compiled: bool):
    """Within the block, run on the compiled kernel (``True``) or on numpy (``False``).

    >>> with running(False):
    ...     path()
    'numpy (switched by dyntemp.core.kernel.use)'
    """
    global _active
    before = _active
    use(compiled)
    try:
        yield
    finally:
        _active = before


_local = threading.local()


def _buffers(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-thread output and work buffers for a vocabulary of ``n``: ids, values, work (n + 1)."""
    try:
        return _local.buffers[n]
    except (AttributeError, KeyError):
        buffers = np.empty(n, np.int64), np.empty(n, np.float32), np.empty(n + 1, np.float32)
        _local.__dict__.setdefault("buffers", {})[n] = buffers
        return buffers


def scan(x: np.ndarray, k: int = 0, removed: Sequence[int] = ()) -> tuple[
        float, float, "np.ndarray | None", "np.ndarray | None"]:
    """``(log Σ exp x, entropy, top ids, their values)`` of contiguous float32 logits ``x``: the
    statistics a step records and, for ``k > 0``, the ``k`` largest finite values, ranked (ties: the
    lower id). Unusable logits (NaN, ``+inf``, empty, all ``-inf``) raise ``ValueError``.
    ``removed``: tokens known to be ``-inf``, which spares numpy a clipped copy."""
    kernel = _active
    if kernel is None:
        lse, entropy = numerics.logsumexp_and_entropy(x, removed)
        if k <= 0:
            return lse, entropy, None, None
        ids = numerics.largest(x, k)
        return lse, entropy, ids, x[ids]
    ids, values, work = _buffers(x.size)
    result = kernel.scan(x, min(k, x.size), ids, values, work, True)
    if result is None:
        as_logits(x)  # raises the error that says what is wrong
    _, lse, entropy, count = result
    if k <= 0:
        return lse, entropy, None, None
    return lse, entropy, ids[:count].copy(), values[:count].copy()


def top_k(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest finite values of ``x`` and their ids, ranked (ties: the lower id)."""
    kernel = _active
    if kernel is None:
        ids = numerics.largest(x, k)
        return ids, x[ids]
    ids, values, work = _buffers(x.size)
    result = kernel.scan(x, min(k, x.size), ids, values, work, False)  # the top k alone: no exp pass
    count = 0 if result is None else result[3]
    return ids[:count].copy(), values[:count].copy()


def at_least(x: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The ids of the values ``>= threshold`` (float32 comparison), in id order, and the values."""
    kernel = _active
    if kernel is None:
        ids = np.flatnonzero(x >= np.float32(threshold))
        return ids, x[ids]
    ids, values, _ = _buffers(x.size)
    count = kernel.at_least(x, threshold, ids, values)
    return ids[:count].copy(), values[:count].copy()


def count_at_least(x: np.ndarray, threshold: float) -> int:
    """How many values are ``>= threshold`` (float32 comparison)."""
    kernel = _active
    if kernel is None:
        return int(np.count_nonzero(x >= np.float32(threshold)))
    return kernel.count_at_least(x, threshold)


def deviation(x: np.ndarray) -> tuple[float, float]:
    """``(max, standard deviation)`` of the finite values (float64)."""
    kernel = _active
    if kernel is None:
        finite = x[x > -np.inf]
        return float(finite.max()), float(finite.astype(np.float64).std())
    return kernel.deviation(x)


def top_p(x: np.ndarray, p: float) -> tuple[np.ndarray, int]:
    """Top-p on a full, unsorted vocabulary: ``(ranked ids of a head, how many of them hold p)``."""
    kernel = _active
    if kernel is None:
        return numerics.top_p_head(x, p)
    ids, values, _ = _buffers(x.size)
    cut, head = kernel.top_p(x, p, ids, values)
    return ids[:head].copy(), cut


def mass_prefix(x: np.ndarray, p: float) -> int:
    """Length of the shortest prefix of ``x`` (sorted descending) holding a share ``p`` of the mass."""
    kernel = _active
    return numerics.mass_prefix(x, p) if kernel is None else kernel.mass_prefix(x, p)


def draw(x: np.ndarray, is_sorted: bool, u: float) -> tuple[int, float]:
    """The index drawn from ``softmax(x)`` for a uniform ``u``, and its probability."""
    kernel = _active
    return numerics.draw(x, is_sorted, u) if kernel is None else kernel.draw(x, is_sorted, u)


def entropy(x: np.ndarray) -> float:
    """Entropy (nats) of ``softmax(x)``, float64: for candidate sets."""
    kernel = _active
    return numerics.entropy64(x) if kernel is None else kernel.entropy(x)


def head(x: np.ndarray, top_p: float, min_p: float, min_keep: int) -> tuple[int, float]:
    """Top-p, then min-p, on candidates ``x`` sorted descending: ``(the length of the prefix they
    keep, its entropy)``, each cut keeping at least ``min_keep``; ``top_p >= 1`` or ``min_p <= 0``
    turns that cut off. What the two stages and the candidates' entropy give, in one call.

    >>> head(np.log(np.array([0.5, 0.3, 0.15, 0.05], dtype=np.float32)), 0.9, 0.2, 1)[0]
    3
    """
    kernel = _active
    if kernel is not None:
        return kernel.head(x, top_p, min_p, min_keep)
    if x.size == 0:
        raise ValueError("head: x must not be empty")
    from . import filters  # the stages' own cuts on sorted candidates (filters imports this module)

    n = x.size
    if top_p < 1.0:
        n = filters.top_p_keep(x, top_p, min_keep, True)[0].stop
    if min_p > 0.0:
        n = filters.min_p_keep(x[:n], min_p, min_keep, True)[0].stop
    return n, numerics.entropy64(x[:n])


def scale(x: np.ndarray, temperature: float, is_sorted: bool) -> "np.ndarray | None":
    """``x / temperature`` in float32 (a ``temperature`` beyond float32's range divides as its
    largest value), or ``None`` when that would leave float32: a ``temperature`` below the smallest
    float, or a quotient beyond the largest (the caller samples greedily then). ``x``: finite.

    >>> scale(np.array([2.0, 1.0], dtype=np.float32), 0.5, True).tolist(), scale(np.ones(2, np.float32), 0.0, True)
    ([4.0, 2.0], None)
    """
    out = np.empty(x.size, np.float32)
    kernel = _active
    if kernel is not None:
        return out if kernel.scale(x, temperature, is_sorted, out) else None
    if temperature < _FLOAT32_TINY:
        return None
    largest = max(abs(float(x[0])), abs(float(x[-1]))) if is_sorted and x.size else float(np.abs(x).max(initial=0.0))
    if largest / temperature >= numerics.FLOAT32_MAX:
        return None
    return np.divide(x, np.float32(min(temperature, numerics.FLOAT32_MAX)), out=out)


def check(seed: int = 0) -> None:
    """Run the compiled kernel beside numpy on random logits (ties, ``-inf`` and sizes around the
    vector width included); ``AssertionError`` names the first difference."""
    if _compiled is None:
        raise AssertionError(_description)
    rng = np.random.default_rng(seed)
    for n in (1, 15, 17, 1000, 49_152, 262_144):  # the last: the larger block of a large vocabulary
        x = (rng.standard_normal(n) * 4).astype(np.float32).round(1)  # rounded: ties
        x[rng.integers(0, n, n // 50)] = -np.inf
        x[rng.integers(0, n)] = 9.0
        results = []
        for compiled in (True, False):
            with running(compiled):
                lse, h, ids, values = scan(x, 40)
                results.append((lse, h, ids.tolist(), values.tolist(), top_p(x, 0.9)[0].tolist(),
                                at_least(x, 1.5)[0].tolist(), count_at_least(x, 1.5), mass_prefix(values, 0.7),
                                draw(values, True, 0.37), head(values, 0.9, 0.05, 2)[0], entropy(values),
                                head(values, 0.9, 0.05, 2)[1], deviation(x), scale(values, 0.7, True).tolist()))
        ours, theirs = results
        assert abs(ours[0] - theirs[0]) < 1e-4 and abs(ours[1] - theirs[1]) < 1e-3, (n, ours[:2], theirs[:2])
        assert ours[2:10] == theirs[2:10], f"n={n}: the kernel and numpy disagree"
        assert abs(ours[10] - theirs[10]) < 1e-12 and abs(ours[11] - theirs[11]) < 1e-12, n
        assert np.allclose(ours[12], theirs[12], rtol=1e-9) and ours[13] == theirs[13], n

