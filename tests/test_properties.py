"""Property tests: for any finite logits and valid parameters the distribution is a distribution."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import dyntemp
from dyntemp.core import apply_penalties, min_p, top_k, top_n_sigma, top_p, typical_p

finite = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, width=32)


@st.composite
def logit_vectors(draw, max_size=300):
    """Finite float32 logits, some with -inf holes (never all of them)."""
    x = draw(arrays(np.float32, st.integers(1, max_size), elements=finite))
    holes = draw(arrays(np.bool_, x.shape))
    holes[draw(st.integers(0, x.size - 1))] = False
    x[holes] = -np.inf
    return x


strategies = st.one_of(
    st.floats(0.0, 5.0).map(lambda t: dyntemp.get_strategy("constant", temperature=t)),
    st.floats(0.0, 2.0).map(lambda theta: dyntemp.get_strategy("edt", theta=theta)),
    st.tuples(st.floats(0.0, 2.0), st.floats(0.0, 2.0), st.floats(0.0, 3.0)).map(
        lambda p: dyntemp.get_strategy("dynatemp", temperature=p[0], delta=p[1], exponent=p[2])),
)

sampler_params = st.fixed_dictionaries({
    "top_k": st.integers(0, 60),
    "top_p": st.floats(0.0, 1.0),
    "min_p": st.floats(0.0, 1.0),
    "typical_p": st.floats(0.0, 1.0),
    "top_n_sigma": st.floats(-1.0, 4.0),
    "min_keep": st.integers(1, 5),
    "repeat_penalty": st.floats(0.5, 2.0),
    "frequency_penalty": st.floats(-1.0, 1.0),
    "presence_penalty": st.floats(-1.0, 1.0),
})


@settings(max_examples=300, deadline=None)
@given(x=logit_vectors(), strategy=strategies, params=sampler_params, seed=st.integers(0, 2**32 - 1),
       history=st.lists(st.integers(0, 10**6), max_size=20))
def test_distribution_is_valid(x, strategy, params, seed, history):
    history = [h % x.size for h in history]
    sampler = dyntemp.Sampler(strategy, seed=seed, **params)
    probs = sampler.distribution(x, history)
    assert not np.isnan(probs).any()
    assert abs(probs.sum() - 1.0) < 1e-9
    assert (probs[x == -np.inf] == 0).all()
    processed = sampler.process(x, history)
    kept = np.count_nonzero(processed > -np.inf)
    token = sampler.sample(x, history)
    assert x[token] > -np.inf and processed[token] > -np.inf
    # Below 1e-30 the division by the temperature may leave float32, and sampling turns greedy.
    greedy_possible = sampler.trace[-1].temperature <= 1e-30
    assert kept >= (1 if greedy_possible else min(params["min_keep"], np.count_nonzero(x > -np.inf)))


@settings(max_examples=300, deadline=None)
@given(x=logit_vectors(), k=st.integers(0, 60), p=st.floats(0.0, 1.0), n=st.floats(-1.0, 4.0), min_keep=st.integers(0, 8))
def test_filters_keep_at_least_min_keep_and_only_change_removed_tokens(x, k, p, n, min_keep):
    n_finite = np.count_nonzero(x > -np.inf)
    for out in (top_k(x, k, min_keep), top_p(x, p, min_keep), min_p(x, p, min_keep), typical_p(x, p, min_keep),
                top_n_sigma(x, n, min_keep)):
        kept = out > -np.inf
        assert np.count_nonzero(kept) >= min(max(min_keep, 1), n_finite)
        np.testing.assert_array_equal(out[kept], x[kept])
        assert not np.isnan(out).any()


@settings(max_examples=200, deadline=None)
@given(x=logit_vectors(), min_keep=st.integers(0, 8), history=st.lists(st.integers(0, 10**6), max_size=20))
def test_neutral_values_change_nothing(x, min_keep, history):
    history = [h % x.size for h in history]
    for out in (top_k(x, 0, min_keep), top_p(x, 1.0, min_keep), min_p(x, 0.0, min_keep), typical_p(x, 1.0, min_keep),
                top_n_sigma(x, 0.0, min_keep), apply_penalties(x, history)):
        np.testing.assert_array_equal(out, x)
    sampler = dyntemp.Sampler(1.0, top_k=0, top_p=1.0, min_p=0.0, typical_p=1.0, top_n_sigma=-1.0)
    np.testing.assert_array_equal(sampler.process(x, history), x)
    z = x.astype(np.float64)
    expected = np.exp(z - z.max())
    np.testing.assert_allclose(sampler.distribution(x, history), expected / expected.sum(), rtol=1e-12, atol=1e-300)


def reference_stats(x: np.ndarray) -> tuple[float, float]:
    """log Σ exp x and the entropy of softmax(x), in float64 over the finite logits."""
    z = x[np.isfinite(x)].astype(np.float64)
    m = z.max()
    p = np.exp(z - m)
    total = p.sum()
    p /= total
    return m + np.log(total), float(-(p[p > 0] * np.log(p[p > 0])).sum())


@settings(max_examples=300, deadline=None)
@given(x=logit_vectors(max_size=2000), offset=st.sampled_from([0.0, 80.0, -120.0]),
       banned=st.lists(st.integers(0, 1999), max_size=4))
def test_full_vocabulary_statistics_match_float64(x, offset, banned):
    from dyntemp.core.numerics import logsumexp_and_entropy

    x = np.clip(x, -60, 60) + np.float32(offset)  # near float32's exp limit too
    banned = [b for b in set(banned) if b < x.size and (x.size > 1)]
    if banned and np.isfinite(np.delete(x, banned)).any():
        x[banned] = -np.inf
    else:
        banned = []
    before = x.copy()
    lse, h = logsumexp_and_entropy(x, banned)
    ref_lse, ref_h = reference_stats(x)
    assert abs(lse - ref_lse) <= 1e-4 * max(1.0, abs(ref_lse))
    assert abs(h - ref_h) <= 1e-3 * max(1.0, ref_h)
    np.testing.assert_array_equal(x, before)  # banned tokens are -inf again afterwards


@settings(max_examples=300, deadline=None)
@given(x=logit_vectors(max_size=200), u=st.floats(0.0, 1.0, exclude_max=True))
def test_candidate_entropy_and_draw_match_float64(x, u):
    from dyntemp.core.numerics import draw, entropy64

    x = np.clip(x, -60, 60)
    assert abs(entropy64(x) - reference_stats(x)[1]) <= 1e-9 * max(1.0, reference_stats(x)[1])
    finite = x[np.isfinite(x)]
    j, probability = draw(finite, False, u)
    p = np.exp(finite.astype(np.float64) - finite.max())
    cum = np.cumsum(p / p.sum())
    assert j == min(int(np.searchsorted(cum, u * cum[-1] / cum[-1] * cum[-1], side="right")), finite.size - 1) \
        or abs(cum[j] - u) < 1e-12 or (j > 0 and abs(cum[j - 1] - u) < 1e-12)
    assert abs(probability - p[j] / p.sum()) <= 1e-12
