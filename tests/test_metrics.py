"""Eval metrics on hand-made texts and numbers with known values, and their properties on random input."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import sacrebleu
from hypothesis import given, settings
from hypothesis import strategies as st

from dyntemp.core import SamplerSettings, Trace
from dyntemp.eval import metric_info
from dyntemp.eval.metrics import (bootstrap_ci, distinct_n, mean_nll, ngrams, pass_at_k, rep_n, repetition_loop,
                                  self_bleu, temperature_stats, text_metrics, words)
from dyntemp.eval.summary import COLUMNS, format_table, read_csv, summarize, write_csv
from dyntemp.records import GenerationRecord

# A metric that warns (constant input, degenerate bootstrap) is a metric that leaks noise into every sweep.
pytestmark = pytest.mark.filterwarnings("error")


# --- tokens and n-grams ---

@pytest.mark.parametrize("text, expected", [
    ("The cat, the DOG.", ["the", "cat", "the", "dog"]),
    ("don't stop—it’s 4:20 o'clock", ["don't", "stop", "it’s", "4", "20", "o'clock"]),
    ("'quoted' dogs' snake_case well-known", ["quoted", "dogs", "snake_case", "well", "known"]),
    ("Café ÜBER naïve", ["café", "über", "naïve"]),
    ("... !!! ?", []),
    ("", []),
])
def test_words(text, expected):
    assert words(text) == expected


def test_words_rejects_non_text():
    with pytest.raises(TypeError, match="text must be a str, got 3"):
        words(3)


def test_ngrams():
    assert ngrams(["a", "b", "c", "d"], 1) == [("a",), ("b",), ("c",), ("d",)]
    assert ngrams(["a", "b", "c", "d"], 3) == [("a", "b", "c"), ("b", "c", "d")]
    assert ngrams(["a", "b"], 3) == []
    assert ngrams([], 1) == []


@pytest.mark.parametrize("n, error, message", [
    (0, ValueError, "n must be >= 1, got 0"),
    (-2, ValueError, "n must be >= 1, got -2"),
    (1.5, TypeError, "n must be an integer, got 1.5"),
    (True, TypeError, "n must be an integer, got True"),
])
def test_n_is_validated(n, error, message):
    for call in (lambda: ngrams(["a"], n), lambda: distinct_n("a", n), lambda: rep_n("a", n)):
        with pytest.raises(error, match=message):
            call()


# --- distinct-n and rep-n ---

@pytest.mark.parametrize("text, n, expected", [
    ("the cat the dog", 1, 3 / 4),
    ("the cat the dog", 2, 1.0),
    ("The cat. The cat!", 2, 2 / 3),          # bigrams: the cat, cat the, the cat
    ("a a a a", 1, 1 / 4),
    ("a a a a", 3, 1 / 2),
    ("one two three", 3, 1.0),
])
def test_distinct_n(text, n, expected):
    assert distinct_n(text, n) == expected


@pytest.mark.parametrize("text, n, expected", [
    ("the cat sat on the cat", 2, 1 / 5),     # 5 bigrams, "the cat" twice
    ("the cat sat on the mat", 2, 0.0),
    ("the cat sat on the cat", 1, 2 / 6),     # "the" and "cat" twice each
    ("go go go go go", 4, 1 / 2),
])
def test_rep_n(text, n, expected):
    assert rep_n(text, n) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("text, n", [("", 1), ("...", 1), ("one", 2), ("one two", 3), ("a b c", 4)])
def test_no_ngram_is_nan(text, n):
    assert math.isnan(distinct_n(text, n)) and math.isnan(rep_n(text, n))


# --- repetition loops ---

@pytest.mark.parametrize("text", [
    "Well. I like it. I like it. I like it.",
    "I like it. I like it. I like it",
    "no no no",
    "He said no no no no no",
    "Yes. Yes! Yes?",                              # punctuation is not part of the phrase
    "a b c a b c a b c",
    "I like it. I like it. I like it. I like",     # cut at a word boundary: the loop of "it i like"
    "I like it. I like it. I like it. I li",       # cut inside the next word of the loop
    "x " + "the end of the line " * 20,
])
def test_loop(text):
    assert repetition_loop(text)


@pytest.mark.parametrize("text", [
    "",
    "...",
    "a b c",
    "ha",
    "ha ha",
    "I like it. I like it.",                       # two copies only
    "no no no, said the cat",                      # the repeat is in the middle
    "I like it. I like it. I like it. And then it stopped.",
    "no no n",                                     # two copies and the start of a third
    "no no no x",                                  # the last word is not the start of "no"
    "I like it. I like it. I like it. I lo",
    "a b a b a",
])
def test_no_loop(text):
    assert not repetition_loop(text)


def test_loop_repeats_threshold():
    assert repetition_loop("I like it. I like it.", min_repeats=2)
    assert not repetition_loop("no no no", min_repeats=4)
    assert repetition_loop("no no no no", min_repeats=4)
    assert repetition_loop("yes " * 10, min_repeats=10)
    with pytest.raises(ValueError, match="min_repeats must be >= 2, got 1"):
        repetition_loop("a a", min_repeats=1)


def test_loop_on_long_texts_is_fast():
    rng = np.random.default_rng(0)
    prose = " ".join(f"w{i}" for i in rng.integers(0, 50, 600))
    start = time.perf_counter()
    assert not repetition_loop(prose + " end")
    assert repetition_loop(prose + " and so on" * 3)
    assert time.perf_counter() - start < 0.5


# --- self-BLEU ---

def test_self_bleu_extremes():
    assert self_bleu(["the cat sat on the mat", "the cat sat on the mat", "the cat sat on the mat"]) == 1.0
    assert self_bleu(["Hi.", "Hi."]) == 1.0
    assert self_bleu(["the cat sat", "a dog ran", "one bird flew"]) == 0.0
    assert self_bleu(["", ""]) == 0.0


def test_self_bleu_matches_sacrebleu():
    texts = ["the cat sat on the mat today", "the cat sat on a mat", "a dog lay on the mat", "cats sit"]
    expected = np.mean([sacrebleu.sentence_bleu(text, texts[:i] + texts[i + 1:], use_effective_order=True).score
                        for i, text in enumerate(texts)]) / 100
    assert self_bleu(texts) == pytest.approx(expected, rel=1e-12)
    assert 0.0 < self_bleu(texts) < 1.0
    assert self_bleu(tuple(texts)) == self_bleu(texts)


def test_self_bleu_validation():
    with pytest.raises(ValueError, match="texts must hold at least 2 texts to compare, got 1"):
        self_bleu(["only one"])
    with pytest.raises(ValueError, match="texts must hold at least 2 texts to compare, got 0"):
        self_bleu([])
    with pytest.raises(TypeError, match="texts must be a sequence of str"):
        self_bleu("two words")
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str, got 5"):
        self_bleu(["a", 5])


# --- pass@k ---

def comb_pass_at_k(n, c, k):
    return 1 - math.comb(n - c, k) / math.comb(n, k)


@pytest.mark.parametrize("n, c, k", [(1, 0, 1), (1, 1, 1), (5, 2, 1), (5, 2, 3), (5, 2, 4), (10, 3, 5),
                                     (20, 1, 10), (20, 19, 2), (100, 7, 50), (200, 13, 100)])
def test_pass_at_k_matches_combinatorial_formula(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(comb_pass_at_k(n, c, k), rel=1e-12, abs=1e-15)


def test_pass_at_k_special_cases():
    assert pass_at_k(10, 0, 1) == pass_at_k(10, 0, 10) == 0.0
    assert pass_at_k(10, 10, 1) == pass_at_k(10, 10, 10) == 1.0
    for n, c in [(7, 3), (10, 1), (200, 57)]:
        assert pass_at_k(n, c, 1) == pytest.approx(c / n, rel=1e-12)


def test_pass_at_k_large_n_stays_finite():
    # math.comb's exact ratio of huge integers is the reference the product form must match.
    assert pass_at_k(5000, 3, 1000) == pytest.approx(comb_pass_at_k(5000, 3, 1000), rel=1e-12)


@pytest.mark.parametrize("args, error, message", [
    ((0, 0, 1), ValueError, "n must be >= 1, got 0"),
    ((5, -1, 1), ValueError, "c must be >= 0, got -1"),
    ((5, 6, 1), ValueError, r"c must be <= n \(5\), got 6"),
    ((5, 2, 0), ValueError, "k must be >= 1, got 0"),
    ((5, 2, 6), ValueError, r"k must be <= n \(5\), got 6"),
    ((5.0, 2, 1), TypeError, "n must be an integer, got 5.0"),
])
def test_pass_at_k_validation(args, error, message):
    with pytest.raises(error, match=message):
        pass_at_k(*args)


# --- bootstrap intervals ---

def test_bootstrap_contains_the_mean_and_is_reproducible():
    values = np.random.default_rng(1).normal(3.0, 1.0, 50)
    mean, low, high = bootstrap_ci(values)
    assert mean == pytest.approx(values.mean(), rel=1e-15)
    assert low < mean < high
    assert bootstrap_ci(values) == (mean, low, high)
    assert bootstrap_ci(list(values), seed=0) == (mean, low, high)
    assert bootstrap_ci(values, seed=1) != (mean, low, high)


def test_bootstrap_narrows_with_more_data_and_lower_confidence():
    rng = np.random.default_rng(2)
    widths = []
    for n in (20, 200, 2000):
        _, low, high = bootstrap_ci(rng.normal(0.0, 1.0, n))
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2] > 0
    values = rng.normal(0.0, 1.0, 100)
    _, low95, high95 = bootstrap_ci(values, confidence=0.95)
    _, low50, high50 = bootstrap_ci(values, confidence=0.5)
    assert low95 < low50 < high50 < high95


def test_bootstrap_width_is_close_to_the_normal_interval():
    values = np.random.default_rng(3).normal(0.0, 2.0, 400)
    _, low, high = bootstrap_ci(values, n_resamples=5000)
    normal = 2 * 1.96 * values.std(ddof=1) / math.sqrt(values.size)
    assert high - low == pytest.approx(normal, rel=0.1)


def test_bootstrap_of_a_rare_event_is_not_too_narrow():
    mean, low, high = bootstrap_ci([1.0] + [0.0] * 99)
    assert (mean, low) == (0.01, 0.0)
    assert high >= 0.04     # the exact binomial upper limit is 0.054


@pytest.mark.parametrize("values, expected", [
    ([], (math.nan, math.nan, math.nan)),
    ([math.nan, math.nan], (math.nan, math.nan, math.nan)),
    ([2.5], (2.5, math.nan, math.nan)),
    ([2.5, math.nan], (2.5, math.nan, math.nan)),
    ([0.25, 0.25, 0.25], (0.25, 0.25, 0.25)),
    ([1, 1, math.nan, 1], (1.0, 1.0, 1.0)),
    ([1.0, math.inf, 2.0], (math.inf, math.nan, math.nan)),
    ([-math.inf, math.inf], (math.nan, math.nan, math.nan)),
])
def test_bootstrap_edge_cases(values, expected):
    np.testing.assert_equal(bootstrap_ci(values), expected)


def test_bootstrap_drops_nan_first():
    assert bootstrap_ci([0.0, 1.0, math.nan, 1.0, 0.5]) == bootstrap_ci([0.0, 1.0, 1.0, 0.5])


def test_bootstrap_accepts_booleans():
    assert bootstrap_ci([True, False, True, True])[0] == 0.75


@pytest.mark.parametrize("kwargs, error, message", [
    ({"confidence": 1.0}, ValueError, r"confidence must be < 1.0, got 1.0"),
    ({"confidence": 0}, ValueError, r"confidence must be > 0.0, got 0.0"),
    ({"n_resamples": 0}, ValueError, "n_resamples must be >= 1, got 0"),
    ({"seed": -1}, ValueError, "seed must be >= 0, got -1"),
    ({"values": [[1.0, 2.0]]}, ValueError, r"values must be one-dimensional, got shape \(1, 2\)"),
    ({"values": ["a", "b"]}, TypeError, "values must be a sequence of numbers"),
    ({"values": "12"}, TypeError, "values must be a sequence of numbers, got '12'"),
])
def test_bootstrap_validation(kwargs, error, message):
    with pytest.raises(error, match=message):
        bootstrap_ci(**{"values": [1.0, 2.0], **kwargs})


# --- temperatures ---

def test_temperature_stats_known_values():
    stats = temperature_stats([0.5, 1.0, 1.5], [2.0, 3.0, 4.0])
    assert stats["temperature_mean"] == 1.0
    assert stats["temperature_std"] == pytest.approx(math.sqrt(1 / 6), rel=1e-15)
    assert stats["temperature_entropy_corr"] == pytest.approx(1.0, rel=1e-15)
    anti = temperature_stats([0.5, 1.0, 1.5, 2.0], [4.0, 2.0, 0.0, -2.0])
    assert anti["temperature_entropy_corr"] == pytest.approx(-1.0, rel=1e-15)
    half = temperature_stats([0.0, 0.0, 1.0], [1.0, 2.0, 3.0])
    assert half["temperature_entropy_corr"] == pytest.approx(math.sqrt(3) / 2, rel=1e-12)


@pytest.mark.parametrize("temperatures, entropies", [
    ([0.7, 0.7, 0.7], [1.0, 2.0, 3.0]),
    ([0.5, 0.7, 0.9], [2.0, 2.0, 2.0]),
    ([0.8], [1.5]),
])
def test_temperature_correlation_undefined(temperatures, entropies):
    stats = temperature_stats(temperatures, entropies)
    assert stats["temperature_mean"] == pytest.approx(np.mean(temperatures), rel=1e-15)
    assert stats["temperature_std"] == pytest.approx(np.std(temperatures), abs=1e-15)
    assert math.isnan(stats["temperature_entropy_corr"])


def test_temperature_stats_constant_up_to_rounding_has_no_correlation():
    # pearsonr would give 0.5 here, where the exact correlation of the floats is 0.87: rounding noise.
    stats = temperature_stats([0.7, 0.7, np.nextafter(0.7, 1.0)], [1.0, 2.0, 3.0])
    assert math.isnan(stats["temperature_entropy_corr"])
    assert temperature_stats([0.7, 0.7, 0.7 + 1e-9], [1.0, 2.0, 3.0])["temperature_entropy_corr"] == pytest.approx(
        math.sqrt(3) / 2, rel=1e-5)


def test_temperature_stats_empty():
    stats = temperature_stats([], [])
    assert list(stats) == ["temperature_mean", "temperature_std", "temperature_entropy_corr"]
    assert all(math.isnan(value) for value in stats.values())


@pytest.mark.parametrize("temperatures, entropies, message", [
    ([1.0, 2.0], [1.0], "temperatures and entropies must have the same length, got 2 and 1"),
    ([1.0, math.nan], [1.0, 2.0], "temperatures must be finite numbers, got nan at index 1"),
    ([1.0, 2.0], [math.inf, 2.0], "entropies must be finite numbers, got inf at index 0"),
])
def test_temperature_stats_validation(temperatures, entropies, message):
    with pytest.raises(ValueError, match=message):
        temperature_stats(temperatures, entropies)


# --- per-text bundle and NLL ---

def test_text_metrics():
    metrics = text_metrics("The cat sat. The cat sat. The cat sat.")
    # 9 words, 3 distinct; 8 bigrams, 3 distinct; 7 trigrams, 3 distinct; 6 4-grams, 3 distinct.
    assert metrics == pytest.approx({"distinct_1": 3 / 9, "distinct_2": 3 / 8, "distinct_3": 3 / 7,
                                     "rep_2": 5 / 8, "rep_3": 4 / 7, "rep_4": 3 / 6, "loop": 1.0}, rel=1e-15)
    fresh = text_metrics("every word here is new")
    assert fresh == {"distinct_1": 1.0, "distinct_2": 1.0, "distinct_3": 1.0,
                     "rep_2": 0.0, "rep_3": 0.0, "rep_4": 0.0, "loop": 0.0}


def test_mean_nll():
    assert mean_nll([-1.0, -2.0, -3.0]) == 2.0
    assert mean_nll(np.log([0.5, 0.25])) == pytest.approx(1.5 * math.log(2), rel=1e-15)
    assert math.copysign(1.0, mean_nll([0.0])) == 1.0
    assert math.isnan(mean_nll([]))
    assert mean_nll([-0.1, -math.inf]) == math.inf


@pytest.mark.parametrize("logprobs, message", [
    ([-1.0, 0.5], r"logprobs must be log-probabilities \(<= 0, not NaN\), got 0.5 at index 1"),
    ([math.nan], r"got nan at index 0"),
    ([math.inf], r"got inf at index 0"),
])
def test_mean_nll_validation(logprobs, message):
    with pytest.raises(ValueError, match=message):
        mean_nll(logprobs)


# --- properties ---

vocabulary = st.sampled_from(["the", "cat", "sat", "a", "mat", "it's", "Cat", "I", "7"])
separators = st.sampled_from([" ", ", ", ". ", "\n", "! ", " - "])
repetitive_texts = st.lists(st.tuples(vocabulary, separators), max_size=60).map(
    lambda pairs: "".join(word + sep for word, sep in pairs))
texts = st.one_of(repetitive_texts, st.text(max_size=200))


@settings(max_examples=300, deadline=None)
@given(text=texts, n=st.integers(1, 5))
def test_distinct_and_rep_are_complementary_shares(text, n):
    distinct, rep = distinct_n(text, n), rep_n(text, n)
    if len(words(text)) < n:
        assert math.isnan(distinct) and math.isnan(rep)
    else:
        assert 0.0 < distinct <= 1.0
        assert rep == 1.0 - distinct
        assert 0.0 <= rep < 1.0


@settings(max_examples=200, deadline=None)
@given(prefix=repetitive_texts, phrase=st.lists(vocabulary, min_size=1, max_size=6), repeats=st.integers(3, 6))
def test_a_phrase_repeated_at_the_end_is_a_loop(prefix, phrase, repeats):
    assert repetition_loop(prefix + " " + " ".join(phrase * repeats), min_repeats=3)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.floats(-1e6, 1e6) | st.sampled_from([0.0, 1.0]), min_size=2, max_size=40))
def test_bootstrap_interval_holds_the_mean(values):
    mean, low, high = bootstrap_ci(values, n_resamples=300)
    assert mean == pytest.approx(np.mean(values), rel=1e-12, abs=1e-12)
    assert low <= mean <= high


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_pass_at_k_is_a_probability_monotone_in_k_and_c(data):
    n = data.draw(st.integers(1, 300))
    c = data.draw(st.integers(0, n))
    k = data.draw(st.integers(1, n))
    value = pass_at_k(n, c, k)
    assert 0.0 <= value <= 1.0
    if k < n:
        assert pass_at_k(n, c, k + 1) >= value
    if c < n:
        assert pass_at_k(n, c + 1, k) >= value


def test_bootstrap_of_values_equal_but_for_rounding_falls_back_to_percentile():
    mean, low, high = bootstrap_ci([0.2, 0.20000000000000007, 0.2, 0.2])
    assert low <= mean <= high and high - low < 1e-15


# --- what each metric is, and the summary built from it ---

def test_the_metric_table_gives_the_csv_columns_the_text_table_and_the_directions():
    assert COLUMNS[:7] == metric_info.HEADER == ("suite", "strategy", "label", "setting", "n", "prompts", "k")
    assert COLUMNS[7:] == tuple(f"{name}{end}" for name in (
        "accuracy", "pass@1", "pass@k", "pass@5", "pass@10", "pass@20", "pass@50", "pass@100", "parses", "distinct_1", "distinct_2", "distinct_3", "rep_2", "rep_3", "rep_4",
        "self_bleu", "loop_rate", "length", "nll", "scorer_nll", "temperature_mean", "temperature_std",
        "temperature_entropy_corr") for end in ("", "_low", "_high"))
    assert metric_info.TABLE == ("accuracy", "pass@1", "pass@k", "distinct_2", "self_bleu", "loop_rate", "nll",
                                 "scorer_nll", "temperature_mean")
    assert metric_info.LOWER_IS_BETTER == {"nll", "scorer_nll", "self_bleu", "rep_2", "rep_3", "rep_4", "loop_rate"}
    assert [name for name, metric in metric_info.METRICS.items() if metric.per == "prompt"] == [
        "pass@k", "pass@5", "pass@10", "pass@20", "pass@50", "pass@100", "self_bleu"]
    assert metric_info.label("temperature_entropy_corr") == "temperature–entropy correlation"
    assert metric_info.QUALITY == ("accuracy", "pass@1", "scorer_nll", "nll")


def test_pass_at_fixed_k_is_given_up_to_the_samples_of_the_prompt_with_the_fewest():
    # Two problems of 12 samples: 3 and 0 passing; then one with only 6 samples.
    passes = {"p1": [1] * 3 + [0] * 9, "p2": [0] * 12, "p3": [1, 0, 0, 0, 0, 0]}
    records = [generation("code", item, "def f(): pass", {"passed": float(p), "error": None}, 1.0)
               for item, ps in passes.items() for p in ps]
    [row] = summarize(records[:24])
    assert row["k"] == 12 and row["pass@1"] == 3 / 24
    assert row["pass@5"] == pytest.approx((pass_at_k(12, 3, 5) + 0.0) / 2, rel=1e-12)
    assert row["pass@10"] == pytest.approx(pass_at_k(12, 3, 10) / 2, rel=1e-12)
    assert row["pass@k"] == pass_at_k(12, 3, 12) / 2 == 0.5
    assert all(math.isnan(row[f"pass@{k}"]) for k in (20, 50, 100))
    [row] = summarize(records)  # p3 has 6 samples: pass@5 over all three, pass@10 for none
    assert row["k"] == 6 and row["pass@5"] == pytest.approx(
        (pass_at_k(12, 3, 5) + pass_at_k(6, 1, 5)) / 3, rel=1e-12)
    assert math.isnan(row["pass@10"])


def generation(suite, item, text, scores, nll):
    """A generation record as a run folder holds it, with the metrics the runner computes."""
    return GenerationRecord(
        text, "length", SamplerSettings(0.7, seed=0), Trace(), suite=suite, item=item, scores=scores,
        metrics={**text_metrics(text), "length": len(words(text)), "nll": nll, "temperature_mean": 0.7,
                 "temperature_std": 0.0, "temperature_entropy_corr": math.nan})


def test_summarize_reads_each_metric_from_its_source(tmp_path):
    qa = [generation("qa", "q1", "Paris is the capital.", {"correct": 1.0}, 1.0),
          generation("qa", "q1", "It is Paris, I think.", {"correct": 1.0}, 2.0),
          generation("qa", "q2", "I think it is Lyon.", {"correct": 0.0}, 3.0),
          generation("qa", "q2", "Lyon. Lyon. Lyon. Lyon. Lyon. Lyon.", {"correct": 0.0}, 4.0)]
    code = [generation("code", "c1", "def f(): pass", {"passed": 1.0, "error": None}, 1.0),
            generation("code", "c1", "def f(): return", {"passed": 0.0, "error": "AssertionError"}, 1.0)]
    code_row, qa_row = summarize(qa + code)
    assert list(qa_row)[:8] == [*metric_info.HEADER, "params"] and tuple(list(qa_row)[8:]) == COLUMNS[7:]
    assert (qa_row["n"], qa_row["prompts"], qa_row["k"]) == (4, 2, 2)
    assert qa_row["accuracy"] == 0.5 and qa_row["nll"] == 2.5 and qa_row["temperature_mean"] == 0.7
    assert qa_row["loop_rate"] == 0.25 == sum(r.metrics["loop"] for r in qa) / 4
    assert qa_row["self_bleu"] == pytest.approx((self_bleu([r.text for r in qa[:2]])
                                                 + self_bleu([r.text for r in qa[2:]])) / 2)
    assert all(math.isnan(qa_row[name]) for name in ("pass@1", "pass@k", "scorer_nll", "temperature_entropy_corr"))
    assert code_row["pass@1"] == 0.5 and code_row["pass@k"] == pass_at_k(2, 1, 2) == 1.0
    assert math.isnan(code_row["accuracy"]) and math.isnan(code_row["pass@5"])  # 2 samples: no pass@5
    table = format_table([code_row, qa_row])
    assert table.splitlines()[1].split() == ["setting", "n", "pass@1", "pass@k", "distinct_2", "self_bleu",
                                             "loop_rate", "nll", "temperature_mean"]
    write_csv([code_row, qa_row], tmp_path / "summary.csv")
    _, qa_back = read_csv(tmp_path / "summary.csv")
    assert qa_back["k"] == 2 and qa_back["label"] == "temperature=0.7" and qa_back["accuracy"] == 0.5


def test_too_few_values_get_a_mean_but_no_interval():
    from dyntemp.eval.summary import MIN_INTERVAL_VALUES, _add, format_table

    few, many = {}, {}
    _add(few, "accuracy", [1.0, 1.0, 0.0])
    _add(many, "accuracy", [1.0, 0.0] * MIN_INTERVAL_VALUES)
    assert few["accuracy"] == pytest.approx(2 / 3) and math.isnan(few["accuracy_low"])
    assert many["accuracy_low"] < 0.5 < many["accuracy_high"]
    row = {"suite": "qa", "setting": "edt", "n": 3, **few}
    assert format_table([row]).endswith("to resample") and "[" not in format_table([row]).splitlines()[2]
