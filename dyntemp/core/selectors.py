"""The stages that pick the token: mirostat (v1 and v2) and adaptive-p, as llama.cpp's samplers.

Each takes the place of the plain draw at the end of the chain, as in llama.cpp, where they are the
chain's last sampler. ``apply`` turns the candidates into the distribution the token is drawn from
and changes nothing (so ``Sampler.distribution`` shows it); ``accept`` learns from the token drawn;
``reset`` starts a new generation. They compute in float32, as llama.cpp does, so that their state
follows llama.cpp's step for step.

Next to a strategy: the strategy's temperature applies first, so these read the tempered
distribution — mirostat aims its surprise at ``tau`` on it, and adaptive-p's target is a
probability under it. A strategy at 1.0 leaves them the model's own distribution.
"""

from __future__ import annotations

import numpy as np

from .numerics import sort_desc

#: How many of the most likely tokens mirostat v1 reads to estimate the distribution's shape
#: (llama.cpp's and llama-cpp-python's ``m``).
MIROSTAT_M = 100
# adaptive-p's transform (llama.cpp's constants): a peak at the target, quadratic near it, linear far off.
_PEAK = np.float32(5.0)
_SHARPNESS = np.float32(10.0)
_INV_WIDTH = np.float32(1.0) / np.float32(0.3)
_INT_MIN = -2 ** 31


def softmax32(cand: np.ndarray) -> np.ndarray:
    """float32 probabilities of ``cand`` as llama.cpp's softmax computes them: its float32 running
    sum (a cumulative sum, where numpy's ``sum`` would add pairwise) is off by up to ~1e-4 relative
    over a whole vocabulary, and the selectors' state follows it."""
    with np.errstate(under="ignore"):
        p = np.exp(cand - cand.max(), dtype=np.float32)
    return p / p.cumsum(dtype=np.float32)[-1]


class Mirostat:
    """Mirostat (Basu et al., arXiv 2007.14966): keeps the surprise ``-log2 p`` of the drawn tokens
    near ``tau``. Version 2 keeps the tokens whose surprise is at most ``mu``; version 1 estimates the
    Zipf exponent from the ``m`` most likely tokens and keeps the top ``k`` it implies. After each
    token, ``mu -= eta · (surprise - tau)``; a generation starts at ``mu = 2·tau``.

    >>> miro = Mirostat(2, tau=1.0, eta=0.1)
    >>> keep, values, _, _ = miro.apply(np.log(np.array([0.6, 0.3, 0.1], dtype=np.float32)), False, 3)
    >>> keep.tolist()  # surprises 0.74 and 1.74 are within mu = 2; 3.3 is not
    [0, 1]
    """

    def __init__(self, version: int, tau: float, eta: float, m: int = MIROSTAT_M) -> None:
        self.version, self.m = version, m
        self.tau, self.eta = np.float32(tau), np.float32(eta)
        self.reset()

    def reset(self) -> None:
        self.mu = np.float32(2.0) * self.tau

    def apply(self, cand: np.ndarray, is_sorted: bool, n_vocab: int) -> tuple:
        """``(kept indices into cand, their logits, sorted, memo for accept)``."""
        if self.version == 2:
            with np.errstate(divide="ignore"):
                keep = np.flatnonzero(-np.log2(softmax32(cand)) <= self.mu)
            if keep.size == 0:
                keep = np.array([int(np.argmax(cand))])
            keep = keep[sort_desc(cand[keep])]
        else:
            # llama.cpp sorts the candidates whole, and sums their probabilities in that order.
            order = sort_desc(cand)
            keep = order[:self._k(cand[order], n_vocab)]
        return keep, cand[keep], True, None

    def _k(self, ordered: np.ndarray, n_vocab: int) -> int:
        """The top-k mirostat v1 keeps of ``ordered``, the candidate logits sorted descending."""
        head = ordered[:self.m]
        p = np.exp(head - head[0], dtype=np.float32)
        p /= np.exp(ordered - head[0], dtype=np.float32).cumsum(dtype=np.float32)[-1]
        i = np.arange(min(self.m - 1, head.size - 1), dtype=np.float32)
        with np.errstate(all="ignore"):
            t = np.log((i + np.float32(2)) / (i + np.float32(1)))
            b = np.log(p[:i.size] / p[1:i.size + 1])
            s_hat = np.float32(np.sum(t * b, dtype=np.float32) / np.sum(t * t, dtype=np.float32))
            eps = s_hat - np.float32(1)
            k = np.power(eps * np.power(np.float32(2), self.mu) / (np.float32(1) - np.power(np.float32(n_vocab), -eps)),
                         np.float32(1) / s_hat)
        # C's int() of NaN, infinity or a float beyond int's range is INT_MIN on x86: then k = 1.
        k_int = int(k) if np.isfinite(k) and abs(float(k)) < 2.0 ** 31 else _INT_MIN
        return max(k_int, 1)

    def accept(self, values: np.ndarray, j: int, memo: object) -> None:
        """Learn from the token at index ``j`` of the ``values`` drawn from."""
        with np.errstate(divide="ignore"):
            surprise = -np.log2(softmax32(values)[j])
        self.mu = np.float32(self.mu - self.eta * (surprise - self.tau))


class AdaptiveP:
    """Adaptive-p (llama.cpp PR #17927): favours tokens whose probability is near ``target``.
    Each candidate's logit becomes ``5 - 10·d²/(1 + d)`` with ``d = |p - t| / 0.3``, where the
    step's target ``t = clamp(2·target - average, 0, 1)`` corrects for the exponential moving average
    (decay ``decay``) of the original probabilities of the tokens drawn so far, which starts at
    ``target``.

    >>> ap = AdaptiveP(target=0.3, decay=0.9)
    >>> _, values, _, _ = ap.apply(np.log(np.array([0.6, 0.3, 0.1], dtype=np.float32)), False, 3)
    >>> int(np.argmax(values))  # the token nearest 0.3
    1
    """

    def __init__(self, target: float, decay: float) -> None:
        self.target, self.decay = np.float32(target), np.float32(decay)
        self.reset()

    def reset(self) -> None:
        self.weighted_sum = self.target / (np.float32(1) - self.decay)
        self.total_weight = np.float32(1) / (np.float32(1) - self.decay)

    def apply(self, cand: np.ndarray, is_sorted: bool, n_vocab: int) -> tuple:
        p = softmax32(cand)
        adapted = np.float32(np.clip(np.float32(2) * self.target - self.weighted_sum / self.total_weight, 0, 1))
        d = np.abs((p - adapted) * _INV_WIDTH)
        values = _PEAK - _SHARPNESS * d * d / (np.float32(1) + d)
        values[cand == -np.inf] = -np.inf  # a removed token stays removed, as in llama.cpp
        return None, values, False, p

    def accept(self, values: np.ndarray, j: int, memo: np.ndarray) -> None:
        self.weighted_sum = np.float32(memo[j] + self.decay * self.weighted_sum)
        self.total_weight = np.float32(np.float32(1) + self.decay * self.total_weight)
