"""Filters and penalties on tiny hand-made vectors with exact expected results, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from dyntemp.core import apply_penalties, min_p, top_k, top_n_sigma, top_p, typical_p

INF = np.inf


def f32(*values):
    return np.array(values, dtype=np.float32)


def logp(*probs):
    return np.log(np.array(probs, dtype=np.float64)).astype(np.float32)


def kept(out):
    return np.flatnonzero(out > -INF).tolist()


class TestTopK:
    def test_keeps_the_k_largest(self):
        np.testing.assert_array_equal(top_k(f32(1, 3, 2, 0), 2), f32(-INF, 3, 2, -INF))

    def test_ties_at_the_cut_go_to_the_lower_id(self):
        assert kept(top_k(f32(3, 1, 3, 3), 2)) == [0, 2]

    def test_min_keep_raises_k(self):
        assert kept(top_k(f32(1, 3, 2, 0), 1, min_keep=3)) == [0, 1, 2]

    def test_neutral_and_oversized_k_keep_all(self):
        x = f32(1, 3, 2)
        np.testing.assert_array_equal(top_k(x, 0), x)
        np.testing.assert_array_equal(top_k(x, 10), x)

    def test_removed_tokens_stay_removed(self):
        assert kept(top_k(f32(-INF, 1, -INF, 2), 3)) == [1, 3]

    def test_large_vocabulary_matches_a_full_sort(self):
        x = np.random.default_rng(0).normal(size=100_000).astype(np.float32)
        assert set(kept(top_k(x, 50))) == set(np.argsort(-x, kind="stable")[:50].tolist())


class TestTopP:
    @pytest.mark.parametrize("p, expected", [(0.0, [0]), (0.45, [0]), (0.75, [0, 1]), (0.85, [0, 1, 2])])
    def test_smallest_prefix_reaching_p(self, p, expected):
        assert kept(top_p(logp(0.5, 0.3, 0.2), p)) == expected

    def test_order_is_by_probability_not_position(self):
        assert kept(top_p(logp(0.2, 0.5, 0.3), 0.75)) == [1, 2]

    def test_min_keep(self):
        assert kept(top_p(logp(0.9, 0.05, 0.05), 0.5, min_keep=2)) == [0, 1]

    def test_neutral(self):
        x = logp(0.5, 0.3, 0.2)
        np.testing.assert_array_equal(top_p(x, 1.0), x)

    def test_kept_logits_are_unchanged(self):
        x = logp(0.5, 0.3, 0.2)
        np.testing.assert_array_equal(top_p(x, 0.75)[:2], x[:2])


class TestMinP:
    def test_threshold_relative_to_the_top_token(self):
        assert kept(min_p(logp(0.6, 0.3, 0.1), 0.2)) == [0, 1]
        assert kept(min_p(logp(0.6, 0.3, 0.1), 0.6)) == [0]

    def test_min_keep_takes_the_most_likely(self):
        assert kept(min_p(logp(0.1, 0.6, 0.3), 0.9, min_keep=2)) == [1, 2]

    def test_neutral(self):
        x = logp(0.6, 0.3, 0.1)
        np.testing.assert_array_equal(min_p(x, 0.0), x)


class TestTypicalP:
    # H = 0.898 nats; |-ln p - H| = 0.387, 0.306, 1.405: the 0.3 token is the most typical.
    @pytest.mark.parametrize("p, expected", [(0.2, [1]), (0.5, [0, 1]), (0.95, [0, 1, 2])])
    def test_keeps_tokens_closest_to_the_entropy(self, p, expected):
        assert kept(typical_p(logp(0.6, 0.3, 0.1), p)) == expected

    def test_min_keep(self):
        assert kept(typical_p(logp(0.6, 0.3, 0.1), 0.2, min_keep=2)) == [0, 1]

    def test_neutral(self):
        x = logp(0.6, 0.3, 0.1)
        np.testing.assert_array_equal(typical_p(x, 1.0), x)


class TestTopNSigma:
    # mean 3.25, population std 3.9608
    @pytest.mark.parametrize("n, expected", [(1.0, [3]), (2.5, [1, 2, 3]), (3.0, [0, 1, 2, 3])])
    def test_within_n_sigma_of_the_max(self, n, expected):
        assert kept(top_n_sigma(f32(0, 1, 2, 10), n)) == expected

    def test_ignores_removed_tokens_in_the_std(self):
        # finite values 0, 10, 6: std 4.11, so n=1 keeps logits >= 5.89
        assert kept(top_n_sigma(f32(0, -INF, 10, 6), 1.0)) == [2, 3]

    def test_neutral(self):
        x = f32(0, 1, 2, 10)
        np.testing.assert_array_equal(top_n_sigma(x, 0.0), x)
        np.testing.assert_array_equal(top_n_sigma(x, -1.0), x)


class TestPenalties:
    def test_repeat_frequency_and_presence(self):
        out = apply_penalties(f32(2, -1, 3, 0.5), [0, 1, 1, 3], repeat_penalty=2.0, frequency_penalty=0.5,
                              presence_penalty=0.25)
        np.testing.assert_array_equal(out, f32(0.25, -3.25, 3, -0.5))

    def test_only_the_last_n_tokens_count(self):
        out = apply_penalties(f32(2, -1, 3, 0.5), [0, 1, 1, 3], repeat_penalty=2.0, frequency_penalty=0.5,
                              presence_penalty=0.25, last_n=2)
        np.testing.assert_array_equal(out, f32(2, -2.75, 3, -0.5))

    def test_last_n_minus_one_is_the_whole_history(self):
        out = apply_penalties(f32(4, 4), [0] * 100, frequency_penalty=0.01, last_n=-1)
        np.testing.assert_allclose(out, f32(3, 4), rtol=1e-6)

    @pytest.mark.parametrize("kwargs", [{}, {"last_n": 0, "repeat_penalty": 2.0}, {"repeat_penalty": 1.0}])
    def test_neutral(self, kwargs):
        x = f32(2, -1, 3)
        np.testing.assert_array_equal(apply_penalties(x, [0, 1, 2], **kwargs), x)


@pytest.mark.parametrize("fn, value", [(top_k, 2), (top_p, 0.5), (min_p, 0.5), (typical_p, 0.5), (top_n_sigma, 1.0)])
def test_filters_never_change_their_input(fn, value):
    x = f32(0.5, 2, -1, 3)
    before = x.copy()
    fn(x, value)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("fn, value", [(top_k, 1), (top_p, 0.5), (min_p, 0.5), (typical_p, 0.5), (top_n_sigma, 1.0)])
@pytest.mark.parametrize("logits, expected", [
    ([1e4, -1e4, 0.0], [0]),       # one token holds all the mass
    ([5.0, -INF, -INF], [0]),      # a single finite value
    ([-1e4, -1e4 + 1, -INF], None),  # far below zero: the same as [0, 1]
])
def test_extreme_but_valid_logits(fn, value, logits, expected):
    x = f32(*logits)
    out = fn(x, value)
    if expected is None:
        expected = kept(fn(f32(0.0, 1.0, -INF), value))
    assert kept(out) == expected
    np.testing.assert_array_equal(out[expected], x[expected])


class TestBadInput:
    @pytest.mark.parametrize("fn, name, value", [
        (top_p, "top_p", 1.5), (top_p, "top_p", -0.1), (min_p, "min_p", 2.0), (typical_p, "typical_p", -1.0),
        (top_k, "top_k", -1), (top_n_sigma, "top_n_sigma", float("nan")),
    ])
    def test_out_of_range_parameter(self, fn, name, value):
        with pytest.raises(ValueError, match=name):
            fn(f32(1, 2), value)

    def test_top_k_must_be_an_integer(self):
        with pytest.raises(TypeError, match="top_k must be an integer, got 2.5"):
            top_k(f32(1, 2), 2.5)

    @pytest.mark.parametrize("logits, message", [
        ([1.0, float("nan")], "NaN at index 1"),
        ([-INF, -INF], "all -inf"),
        ([], "empty"),
        ([1.0, INF], r"\+inf \(or a value beyond float32's range\) at index 1"),
        ([[1.0, 2.0]], "1-D"),
    ])
    def test_unusable_logits(self, logits, message):
        with pytest.raises(ValueError, match=message):
            top_p(np.array(logits, dtype=np.float32), 0.5)

    def test_history_outside_the_vocabulary(self):
        with pytest.raises(ValueError, match=r"token id 7, outside the vocabulary \[0, 3\)"):
            apply_penalties(f32(1, 2, 3), [0, 7], repeat_penalty=1.1)

    def test_repeat_penalty_must_be_positive(self):
        with pytest.raises(ValueError, match="repeat_penalty must be > 0"):
            apply_penalties(f32(1, 2, 3), [0], repeat_penalty=0.0)
