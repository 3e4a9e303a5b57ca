"""Metrics of generated text and their aggregation: diversity, repetition, self-BLEU, pass@k, NLL, temperatures.

Pure functions on strings and numbers. Per generation: :func:`text_metrics` (distinct-n, rep-n, repetition
loop), :func:`mean_nll` and :func:`temperature_stats`; per prompt: :func:`self_bleu` across seeds and
:func:`pass_at_k` across samples; across prompts: :func:`bootstrap_ci` of the mean.
"""

from __future__ import annotations

import math
import re
import reprlib
import warnings
from typing import Sequence

import numpy as np
from sacrebleu.metrics import BLEU
from scipy import stats

from dyntemp import _validate

_WORD = re.compile(r"\w+(?:['’]\w+)*")

# Bounds the memory of the resampling and of BCa's jackknife (n × n values otherwise) and is faster too.
_BOOTSTRAP_BATCH = 256


def words(text: str) -> list[str]:
    r"""The lowercased words of ``text``: the tokens that every text metric here counts.

    A word is a run of letters, digits and underscores (Unicode ``\w``); an apostrophe (``'`` or ``’``)
    between two such runs stays inside the word. Whitespace and punctuation only separate words and are
    dropped, so that an ellipsis or a row of exclamation marks does not count as repetition and a repeated
    sentence is the same phrase whether it ends in ``.`` or ``!``.

    >>> words("Don't PANIC... it's 4:20, well-known!")
    ["don't", 'panic', "it's", '4', '20', 'well', 'known']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {reprlib.repr(text)}")
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence, n: int) -> list[tuple]:
    """The ``n``-grams of ``tokens``, in order, as tuples; none when there are fewer than ``n`` tokens.

    >>> ngrams(["a", "b", "c"], 2)
    [('a', 'b'), ('b', 'c')]
    >>> ngrams(["a"], 2)
    []
    """
    n = _validate.integer("n", n, low=1)
    return list(zip(*(tokens[i:] for i in range(n))))


def distinct_n(text: str, n: int) -> float:
    """Distinct-n (Li et al., 2016) within one text: unique ``n``-grams of its :func:`words` / all of them.

    1.0 when no ``n``-gram occurs twice, lower the more the text repeats itself; ``nan`` when the text has
    fewer than ``n`` words.

    >>> distinct_n("the cat the dog", 1)
    0.75
    >>> distinct_n("hello", 2)
    nan
    """
    grams = ngrams(words(text), _validate.integer("n", n, low=1))
    return len(set(grams)) / len(grams) if grams else math.nan


def rep_n(text: str, n: int) -> float:
    """seq-rep-n (Welleck et al., 2020) within one text: ``1 - distinct_n(text, n)``, the share of repeats.

    0.0 when no ``n``-gram occurs twice; ``nan`` when the text has fewer than ``n`` words.

    >>> rep_n("ha ha ha", 2)
    0.5
    >>> round(rep_n("i like it and i like it", 2), 4)
    0.3333
    """
    return 1.0 - distinct_n(text, n)


def _repeated_tails(tokens: Sequence[str], repeats: int) -> list[int]:
    """Lengths ``L`` such that the last ``repeats * L`` tokens are one ``L``-token phrase ``repeats`` times."""
    if not tokens:
        return []
    ids = np.unique(np.asarray(tokens), return_inverse=True)[1]
    n = ids.size
    sizes = []
    for size in range(1, n // repeats + 1):
        tail = ids[n - size * repeats:]
        # A window is `repeats` copies of its last `size` tokens exactly when it has period `size`.
        if np.array_equal(tail[size:], tail[:-size]):
            sizes.append(size)
    return sizes


def repetition_loop(text: str, min_repeats: int = 3) -> bool:
    """Whether ``text`` ends in a loop: one phrase of :func:`words` ``min_repeats`` or more times in a row.

    Only the end counts: a phrase repeated earlier and then left is not a loop. The phrase may be a single
    word (``no no no``) and may start anywhere in the sentence it repeats, so a loop cut off at a word
    boundary still counts. A last word cut short (generation stopped inside it) is disregarded when it is
    the start of the word the loop would put there. Punctuation is not part of :func:`words`, so
    ``"Yes. Yes! Yes?"`` is a loop of ``yes``.

    >>> repetition_loop("Well. I like it. I like it. I like it.")
    True
    >>> repetition_loop("I like it. I like it. I like it. I li")
    True
    >>> repetition_loop("no no no, said the cat")
    False
    >>> repetition_loop("I like it. I like it.")
    False
    """
    repeats = _validate.integer("min_repeats", min_repeats, low=2)
    tokens = words(text)
    if _repeated_tails(tokens, repeats):
        return True
    head, last = tokens[:-1], tokens[-1:]
    # After `repeats` copies of the phrase head[-size:], the loop would continue with head[-size].
    return bool(last) and any(head[-size].startswith(last[0]) for size in _repeated_tails(head, repeats))


def self_bleu(texts: Sequence[str]) -> float:
    """Self-BLEU (Zhu et al., 2018) of texts generated for one prompt, on a 0–1 scale (sacrebleu's 0–100 / 100).

    Each text is scored with sentence-level BLEU against all the others as references, and the scores are
    averaged. BLEU is sacrebleu's with its defaults (``13a`` tokenisation, case-sensitive, ``exp``
    smoothing) and effective order, so that texts shorter than four tokens are scored on the n-gram orders
    they have. 1.0 when all texts are the same, 0.0 when no text shares a token (punctuation included) with
    another, and for a text without tokens; higher means less diverse.

    >>> self_bleu(["the cat sat", "the cat sat"])
    1.0
    >>> self_bleu(["the cat sat", "a dog ran"])
    0.0
    """
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(f"texts must be a sequence of str, got {reprlib.repr(texts)}")
    if len(texts) < 2:
        raise ValueError(f"texts must hold at least 2 texts to compare, got {len(texts)}")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] must be a str, got {reprlib.repr(text)}")
    bleu = BLEU(effective_order=True)
    scores = [bleu.sentence_score(text, [*texts[:i], *texts[i + 1:]]).score for i, text in enumerate(texts)]
    # sacrebleu's geometric mean can round a perfect score to just above 100.
    return min(float(np.mean(scores)) / 100.0, 1.0)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al., 2021): the chance that ``k`` of ``n`` samples, ``c`` correct, hold a correct one.

    ``1 - C(n - c, k) / C(n, k)``, computed as ``1 - prod(1 - k / i for i in n-c+1 .. n)``, which never forms
    the binomial coefficients (beyond floats from ``n`` ≈ 1030 on). ``pass_at_k(n, c, 1) == c / n`` up to rounding.

    >>> round(pass_at_k(10, 3, 1), 6), round(pass_at_k(10, 3, 5), 6)
    (0.3, 0.916667)
    >>> pass_at_k(10, 0, 5), pass_at_k(10, 7, 5)
    (0.0, 1.0)
    """
    n = _validate.integer("n", n, low=1)
    c = _validate.integer("c", c, low=0)
    k = _validate.integer("k", k, low=1)
    if c > n:
        raise ValueError(f"c must be <= n ({n}), got {c}")
    if k > n:
        raise ValueError(f"k must be <= n ({n}), got {k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def _vector(name: str, values: object) -> np.ndarray:
    """``values`` as a 1-D float64 array, or an error naming the parameter."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of numbers, got {reprlib.repr(values)}")
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a sequence of numbers, got {reprlib.repr(values)}") from error
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def bootstrap_ci(values: Sequence[float], confidence: float = 0.95, n_resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float, float]:
    """The mean of ``values`` and its bootstrap confidence interval: ``(mean, low, high)``.

    The interval is scipy's BCa (bias-corrected and accelerated) bootstrap of the mean. BCa rather than the
    plain percentile interval because many metrics here are rates near 0 or 1 (loop rate, accuracy,
    pass@k), where the bootstrap distribution of the mean is skewed and the percentile interval falls
    short: for 1 success in 100 it gives about [0, 0.03] where BCa gives [0, 0.05], near the exact
    binomial [0.0003, 0.054]. ``seed`` makes the resampling, hence the interval, reproducible.

    NaN values (a metric undefined for some generation) are dropped first. Then:

    - no values: ``(nan, nan, nan)``;
    - one value ``v``: ``(v, nan, nan)``, since one observation says nothing about the spread;
    - all values equal to ``v``: ``(v, v, v)``, the bootstrap's point mass (BCa itself is undefined there);
    - an infinite value: the mean is infinite (``nan`` if both signs occur) and the interval ``(nan, nan)``.

    >>> bootstrap_ci([0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0])
    (0.625, 0.25, 0.875)
    >>> bootstrap_ci([2.0, float("nan")]), bootstrap_ci([3.0, 3.0])
    ((2.0, nan, nan), (3.0, 3.0, 3.0))
    """
    array = _vector("values", values)
    confidence = _validate.number("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True)
    n_resamples = _validate.integer("n_resamples", n_resamples, low=1)
    seed = _validate.integer("seed", seed, low=0)
    array = array[~np.isnan(array)]
    if array.size == 0:
        return math.nan, math.nan, math.nan
    with np.errstate(invalid="ignore"):
        # +inf and -inf together have no mean: nan, as documented.
        mean = float(np.mean(array))
    if array.size == 1 or not np.isfinite(mean):
        return mean, math.nan, math.nan
    if np.all(array == array[0]):
        return mean, mean, mean
    # BCa's acceleration cubes the jackknife deviations, which underflow for tiny values and overflow for
    # huge ones; scaling by a power of two near the largest value is exact, and the mean commutes with it.
    exponent = int(np.frexp(np.max(np.abs(array)))[1])
    scaled = np.ldexp(array, -exponent)
    # Values equal but for rounding (a constant temperature's mean) leave BCa's acceleration 0/0; the
    # percentile interval is well defined there.
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = stats.bootstrap((scaled,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                                     method=method, batch=_BOOTSTRAP_BATCH, rng=np.random.default_rng(seed))
        if np.all(np.isfinite(result.confidence_interval)):
            break
    low, high = (float(np.ldexp(bound, exponent)) for bound in result.confidence_interval)
    return mean, low, high


def temperature_stats(temperatures: Sequence[float], entropies: Sequence[float]) -> dict[str, float]:
    """Mean and spread of the temperatures of one generation and their Pearson correlation with the entropies.

    ``temperatures[i]`` and ``entropies[i]`` belong to the same generated token. The spread is the
    population standard deviation (``ddof=0``) of the temperatures used. The correlation is ``nan`` when
    there are fewer than 2 tokens or either sequence is constant (a fixed temperature has no correlation),
    including constant up to the last bits of the floats, where scipy's ``pearsonr`` could only return
    rounding noise; no value gives ``nan`` mean and spread.

    >>> result = temperature_stats([0.5, 0.7, 0.9], [1.0, 2.0, 3.0])
    >>> {name: round(value, 4) for name, value in result.items()}
    {'temperature_mean': 0.7, 'temperature_std': 0.1633, 'temperature_entropy_corr': 1.0}
    >>> temperature_stats([0.7, 0.7], [1.0, 2.0])["temperature_entropy_corr"]
    nan
    """
    t = _vector("temperatures", temperatures)
    h = _vector("entropies", entropies)
    if t.size != h.size:
        raise ValueError(f"temperatures and entropies must have the same length, got {t.size} and {h.size}")
    for name, array in (("temperatures", t), ("entropies", h)):
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} must be finite numbers, got {float(array[~np.isfinite(array)][0])!r} "
                             f"at index {int(np.flatnonzero(~np.isfinite(array))[0])}")
    if t.size == 0:
        return {"temperature_mean": math.nan, "temperature_std": math.nan, "temperature_entropy_corr": math.nan}
    corr = math.nan
    if t.size >= 2:
        with warnings.catch_warnings():
            # scipy warns of a constant input (r undefined) and of a nearly constant one (r rounding noise).
            warnings.simplefilter("error", stats.DegenerateDataWarning)
            try:
                corr = float(stats.pearsonr(t, h).statistic)
            except stats.DegenerateDataWarning:
                pass
    return {"temperature_mean": float(np.mean(t)), "temperature_std": float(np.std(t)),
            "temperature_entropy_corr": corr}


def text_metrics(text: str) -> dict[str, float]:
    """The per-text diversity and repetition metrics: distinct-1/2/3, rep-2/3/4 and the loop flag as 0.0/1.0.

    >>> for name, value in text_metrics("I like it. I like it. I like it.").items():
    ...     print(name, round(value, 3))
    distinct_1 0.333
    distinct_2 0.375
    distinct_3 0.429
    rep_2 0.625
    rep_3 0.571
    rep_4 0.5
    loop 1.0
    """
    return {
        **{f"distinct_{n}": distinct_n(text, n) for n in (1, 2, 3)},
        **{f"rep_{n}": rep_n(text, n) for n in (2, 3, 4)},
        "loop": float(repetition_loop(text)),
    }


def mean_nll(logprobs: Sequence[float]) -> float:
    """Mean negative log-likelihood (nats per token) of a generated text from its tokens' log-probabilities.

    ``nan`` for no tokens; a token of probability 0 (log-probability ``-inf``) makes it ``inf``. The
    log-probabilities must be <= 0 and not NaN.

    >>> mean_nll([-0.5, -1.5]), mean_nll([]), mean_nll([-1.0, float("-inf")])
    (1.0, nan, inf)
    """
    array = _vector("logprobs", logprobs)
    bad = np.flatnonzero(np.isnan(array) | (array > 0))
    if bad.size:
        raise ValueError(f"logprobs must be log-probabilities (<= 0, not NaN), got {float(array[bad[0]])!r} "
                         f"at index {int(bad[0])}")
    if array.size == 0:
        return math.nan
    return 0.0 - float(np.mean(array))
