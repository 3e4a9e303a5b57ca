"""Quadratic smoothing, as text-generation-webui and KoboldCpp define it.

With ``d = logit - max`` (``<= 0``), ``k = (3 - curve) / 2`` and ``s = (curve - 1) / 2``, each logit
becomes ``max - k·factor·d² + s·factor·d³``: the top stays where it is, the rest fall away
quadratically, so a larger ``factor`` sharpens the distribution and a small one flattens it.
``curve = 1`` is the plain quadratic; a larger curve raises the tokens near the top. ``factor = 0``
turns it off.
"""

from __future__ import annotations

import numpy as np

from .. import _validate
from .numerics import as_logits


def smoothing_is_off(factor: float) -> bool:
    """True when smoothing changes nothing (``factor <= 0``)."""
    return factor <= 0.0


def smooth(cand: np.ndarray, factor: float, curve: float) -> np.ndarray:
    """The smoothed candidate logits (float32; removed ``-inf`` tokens stay removed)."""
    top = float(cand.max())
    out = np.full_like(cand, -np.inf)
    finite = cand > -np.inf
    d = cand[finite].astype(np.float64) - top
    k, s = (3.0 - curve) / 2.0, (curve - 1.0) / 2.0
    out[finite] = top - k * factor * d * d + s * factor * d * d * d
    return out


def quadratic_smoothing(logits: object, factor: float, curve: float = 1.0) -> np.ndarray:
    """Quadratic smoothing of ``logits`` (a new float32 array).

    >>> quadratic_smoothing(np.array([3.0, 2.0, 0.0], dtype=np.float32), 0.5)
    array([ 3. ,  2.5, -1.5], dtype=float32)
    """
    x, _ = as_logits(logits)
    factor = _validate.number("smoothing_factor", factor, low=0.0)
    curve = _validate.number("smoothing_curve", curve)
    return smooth(x, factor, curve) if not smoothing_is_off(factor) else x.copy()
