"""dyntemp's filters, penalties, dynatemp and chains against llama.cpp's native samplers.

Every test runs on 1,000 logit vectors: 500 real ones from the default model and 500 synthetic
LLM-like ones (Zipf-shaped, peaked, flat, with -inf holes) at vocabularies 49,152 and 262,144.
The kept sets must be the same and the kept logits equal to float32 rounding. Where llama.cpp sums
probabilities in float32 (top-p, typical-p) its cut may move by a few tail tokens: there the test
checks that every disagreement sits where the exact cumulative mass is within float32 summation
error of the cut, and that dyntemp's set is exactly the one a float64 computation gives.

Each reference is computed once and both of dyntemp's paths are held to it: the compiled kernel and
the numpy fallback (``on_each_path``).
"""

from __future__ import annotations

import numpy as np
import pytest

import dyntemp
from dyntemp.llama.native import NativeChain
from dyntemp.core import apply_penalties, min_p, top_k, top_n_sigma, top_p, typical_p
from dyntemp.testing import on_each_path

# Relative error of llama.cpp's float32 running sums over a whole vocabulary, with room to spare.
FLOAT32_SUM_ERROR = 2e-3


def _native(stages, x, history=(), finite_only=False):
    chain = NativeChain(stages, n_vocab=x.size)
    chain.accept(history)
    return chain.apply(x, np.flatnonzero(x > -np.inf) if finite_only else None)


def _as_full(ids, logits, n):
    out = np.full(n, -np.inf, dtype=np.float32)
    out[ids] = logits
    return out


def _assert_same(ours, ids, logits):
    theirs = _as_full(ids, logits, ours.size)
    assert np.array_equal(ours > -np.inf, theirs > -np.inf)
    kept = ours > -np.inf
    np.testing.assert_array_max_ulp(ours[kept], theirs[kept], maxulp=2)


def _mass_order(x):
    """Tokens by probability (descending, ties by id) and their exact float64 probabilities."""
    finite = np.flatnonzero(x > -np.inf)
    order = finite[np.argsort(-x[finite], kind="stable")]
    z = x[order].astype(np.float64)
    p = np.exp(z - z[0])
    return order, p / p.sum()


def test_top_k(logit_vectors):
    ties = 0
    for x in logit_vectors:
        for k in (1, 40, 200):
            compiled, numpy = on_each_path(top_k, x, k)
            np.testing.assert_array_equal(compiled, numpy)
            ids, logits = _native([("top_k", (k,))], x)
            if not np.array_equal(compiled > -np.inf, _as_full(ids, logits, x.size) > -np.inf):
                # llama.cpp breaks ties at the cut arbitrarily: the kept values must still agree.
                ties += 1
                np.testing.assert_array_equal(np.sort(compiled[compiled > -np.inf]), np.sort(logits))
            else:
                _assert_same(compiled, ids, logits)
    assert ties <= len(logit_vectors) // 100


def test_min_p(logit_vectors):
    for x in logit_vectors:
        for p in (0.02, 0.05, 0.3):
            theirs = _native([("min_p", (p, 1))], x)
            for ours in on_each_path(min_p, x, p):
                _assert_same(ours, *theirs)


def test_top_n_sigma(logit_vectors):
    boundary = 0
    for x in logit_vectors:
        for n in (0.5, 1.0, 2.0):
            ids, logits = _native([("top_n_sigma", (n,))], x)
            theirs = _as_full(ids, logits, x.size)
            compiled, numpy = on_each_path(top_n_sigma, x, n)
            np.testing.assert_array_equal(compiled, numpy)
            ours = compiled
            differ = np.flatnonzero((ours > -np.inf) != (theirs > -np.inf))
            if differ.size:
                # llama.cpp accumulates mean and std in float32: only tokens at the cut may differ.
                boundary += 1
                finite = x[x > -np.inf].astype(np.float64)
                cut = finite.max() - n * finite.std()
                assert np.all(np.abs(x[differ] - cut) <= FLOAT32_SUM_ERROR * (abs(cut) + finite.std()))
            kept = (ours > -np.inf) & (theirs > -np.inf)
            np.testing.assert_array_equal(ours[kept], theirs[kept])
    assert boundary <= len(logit_vectors) // 20


@pytest.mark.parametrize("p", [0.5, 0.9, 0.95])
def test_top_p_agrees_and_is_exact(logit_vectors, p):
    moved = 0
    for x in logit_vectors:
        order, probs = _mass_order(x)
        cum = np.cumsum(probs)
        exact = int(np.searchsorted(cum, p, side="left")) + 1
        ours, numpy = on_each_path(top_p, x, p)
        np.testing.assert_array_equal(ours, numpy)
        assert np.array_equal(np.flatnonzero(ours > -np.inf), np.sort(order[:exact]))
        ids, logits = _native([("top_p", (p, 1))], x)
        if len(ids) != exact:
            moved += 1
            lo, hi = sorted((len(ids), exact))
            assert np.all(np.abs(cum[lo - 1:hi - 1] - p) <= FLOAT32_SUM_ERROR), "the cut moved beyond float32 error"
        else:
            _assert_same(ours, ids, logits)
    assert moved < len(logit_vectors) // 2


@pytest.mark.parametrize("p", [0.5, 0.9])
def test_typical_p_agrees_and_is_exact(logit_vectors, p):
    moved = 0
    for x in logit_vectors:
        ours = typical_p(x, p)
        order, probs = _mass_order(x)
        entropy = -(probs[probs > 0] @ np.log(probs[probs > 0]))
        with np.errstate(divide="ignore"):
            scores = np.abs(-np.log(probs) - entropy)
        by_typicality = np.argsort(scores, kind="stable")
        cum = np.cumsum(probs[by_typicality])
        exact = int(np.searchsorted(cum, p, side="right")) + 1
        expected = np.sort(order[by_typicality[:exact]])
        assert np.array_equal(np.flatnonzero(ours > -np.inf), expected)
        # llama.cpp's entropy is NaN if a removed token is still in its array (0 * log 0): hand it
        # only the finite tokens, as an earlier sampler would.
        ids, logits = _native([("typical", (p, 1))], x, finite_only=True)
        differ = np.setxor1d(ids, expected)
        if differ.size:
            # llama.cpp's float32 running sums over n tokens shift its entropy and log-probabilities
            # by up to about n·2^-24 relative, and so every score: only tokens whose exact score is
            # that close to the score at the cut may change sides.
            moved += 1
            score_of = dict(zip(order.tolist(), scores.tolist()))
            cut = scores[by_typicality[exact - 1]]
            bound = 4 * order.size * 2.0**-24 * max(1.0, entropy)
            assert max(abs(score_of[t] - cut) for t in differ.tolist()) <= bound
        else:
            _assert_same(ours, ids, logits)
    assert moved < len(logit_vectors) // 2


def test_penalties(logit_vectors):
    rng = np.random.default_rng(5)
    for x in logit_vectors:
        history = rng.integers(0, x.size, size=80)
        history[40:] = history[:40]  # repeats, so counts reach 2
        for last_n, repeat, freq, presence in ((64, 1.1, 0.0, 0.0), (16, 1.3, 0.2, 0.5), (64, 0.9, -0.1, 0.3)):
            ours = apply_penalties(x, history, repeat, freq, presence, last_n)
            ids, logits = _native([("penalties", (last_n, repeat, freq, presence))], x, history)
            theirs = _as_full(ids, logits, x.size)
            kept = ours > -np.inf
            assert np.array_equal(kept, theirs > -np.inf)
            np.testing.assert_array_max_ulp(ours[kept], theirs[kept], maxulp=2)


def _chain_match(sampler, stages, x, history=()):
    ours, numpy = on_each_path(sampler.process, x, history)
    np.testing.assert_allclose(ours, numpy, rtol=1e-6, atol=0)  # a strategy reading the entropy: 1e-6 apart
    ids, logits = _native(stages, x, history)
    theirs = _as_full(ids, logits, x.size)
    if not np.array_equal(ours > -np.inf, theirs > -np.inf):
        return False
    kept = ours > -np.inf
    np.testing.assert_allclose(ours[kept], theirs[kept], rtol=2e-6, atol=1e-6)
    return True


@pytest.mark.parametrize("temperature, delta, exponent", [(1.0, 0.5, 1.0), (0.8, 0.7, 2.0), (1.2, 1.5, 0.5)])
def test_dynatemp_equals_temp_ext_after_the_same_chain(logit_vectors, temperature, delta, exponent):
    sampler = dyntemp.Sampler(dyntemp.get_strategy("dynatemp", temperature=temperature, delta=delta, exponent=exponent),
                              top_k=40, top_p=0.95, min_p=0.05)
    stages = [("top_k", (40,)), ("top_p", (0.95, 1)), ("min_p", (0.05, 1)), ("temp_ext", (temperature, delta, exponent))]
    assert sum(not _chain_match(sampler, stages, x) for x in logit_vectors) == 0


def test_dynatemp_alone_over_the_full_vocabulary(real_logits):
    """Over 49,152 candidates llama.cpp's float32 running sums drift by up to n·2^-24; dyntemp's
    full-vocabulary entropy keeps the scaled logits within 4e-7 of exact on the kernel (float64 sums
    of a polynomial exp, then a float32 scaling: a few ulps), within 1e-5 on numpy (float32 dot
    products)."""
    sampler = dyntemp.Sampler(dyntemp.get_strategy("dynatemp", temperature=1.0, delta=0.5),
                              top_k=0, top_p=1.0, min_p=0.0)
    for x in real_logits[:50]:
        _, probs = _mass_order(x)
        entropy = -(probs[probs > 0] @ np.log(probs[probs > 0]))
        exact_t = 0.5 + 1.0 * entropy / np.log(x.size)
        ids, logits = _native([("temp_ext", (1.0, 0.5, 1.0))], x)
        theirs = _as_full(ids, logits, x.size)
        compiled, numpy = on_each_path(sampler.process, x)
        np.testing.assert_allclose(compiled, x / np.float32(exact_t), rtol=4e-7)  # float64 sums
        for ours in (compiled, numpy):
            np.testing.assert_allclose(ours, x / np.float32(exact_t), rtol=1e-5)
            np.testing.assert_allclose(theirs, ours, rtol=4 * x.size * 2.0**-24)


def test_the_default_chain(logit_vectors):
    rng = np.random.default_rng(9)
    sampler = dyntemp.Sampler(0.7, top_k=40, top_p=0.95, min_p=0.05, top_n_sigma=2.0, repeat_penalty=1.2,
                              frequency_penalty=0.1, presence_penalty=0.2, penalty_last_n=32)
    stages = [("penalties", (32, 1.2, 0.1, 0.2)), ("top_n_sigma", (2.0,)), ("top_k", (40,)), ("top_p", (0.95, 1)),
              ("min_p", (0.05, 1)), ("temp", (0.7,))]
    mismatched = 0
    for x in logit_vectors:
        history = rng.integers(0, x.size, size=40)
        mismatched += not _chain_match(sampler, stages, x, history)
    assert mismatched == 0


def test_typical_in_a_chain(logit_vectors):
    # llama.cpp's top-nσ masks with -inf without removing, and its typical sampler then computes a
    # NaN entropy; so typical is checked here behind top-k alone, as llama.cpp's default chain has it.
    sampler = dyntemp.Sampler(1.0, top_k=40, typical_p=0.9, top_p=0.95, min_p=0.05)
    stages = [("top_k", (40,)), ("typical", (0.9, 1)), ("top_p", (0.95, 1)), ("min_p", (0.05, 1)), ("temp", (1.0,))]
    assert sum(not _chain_match(sampler, stages, x) for x in logit_vectors) == 0


def test_temperature_first_then_filters(real_logits):
    sampler = dyntemp.Sampler(1.5, top_k=40, top_p=0.9, min_p=0.1, order=["temperature", "top_k", "top_p", "min_p"])
    stages = [("temp", (1.5,)), ("top_k", (40,)), ("top_p", (0.9, 1)), ("min_p", (0.1, 1))]
    assert sum(not _chain_match(sampler, stages, x) for x in real_logits) == 0


@pytest.mark.parametrize("threshold", [0.05, 0.1, 0.3])
def test_xtc_with_its_coin_up_agrees_in_a_chain(logit_vectors, threshold):
    # The coin pinned (probability 1): llama.cpp's own draw is a std::mt19937 nobody else shares.
    sampler = dyntemp.Sampler(1.0, top_k=40, top_p=1.0, min_p=0.0, xtc_probability=1.0, xtc_threshold=threshold)
    stages = [("top_k", (40,)), ("xtc", (1.0, threshold, 1, 0)), ("temp", (1.0,))]
    assert sum(not _chain_match(sampler, stages, x) for x in logit_vectors) == 0


def test_xtc_alone_over_the_whole_vocabulary(real_logits):
    cut = 0
    for x in real_logits:
        ids, logits = _native([("xtc", (1.0, 0.1, 1, 0))], x)
        for ours in on_each_path(dyntemp.core.xtc, x, 0.1):
            _assert_same(ours, ids, logits)
        cut += int(np.count_nonzero(ours > -np.inf) < x.size)
    assert cut > 50  # the cut happened often enough to mean something


def test_xtc_coin_comes_up_at_its_probability_and_off_values_change_nothing(real_logits):
    x = next(v for v in real_logits if np.count_nonzero(dyntemp.core.xtc(v, 0.1) > -np.inf) < v.size - 1)
    sampler = dyntemp.Sampler(1.0, top_k=0, top_p=1.0, min_p=0.0, xtc_probability=0.3, xtc_threshold=0.1, seed=4)
    top = int(np.argmax(x))
    draws = [sampler.sample(x) for _ in range(600)]
    # With the coin down (70% of steps) the top token is drawn as often as its probability; with it up, never.
    p_top = float(np.exp(x[top] - np.logaddexp.reduce(x.astype(np.float64))))
    assert abs(draws.count(top) / 600 - 0.7 * p_top) < 0.06
    for off in (dict(xtc_probability=0.0), dict(xtc_probability=1.0, xtc_threshold=0.6)):
        assert np.array_equal(dyntemp.Sampler(1.0, seed=1, **off).distribution(x),
                              dyntemp.Sampler(1.0, seed=1).distribution(x))
