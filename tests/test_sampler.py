"""The per-token pipeline: determinism, state, order, trace, bias and penalties, errors; and real
generation with the default model."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

import dyntemp
from dyntemp.core import apply_penalties, top_k
from dyntemp.strategies import Strategy


def logp(*probs):
    return np.log(np.array(probs, dtype=np.float64)).astype(np.float32)


X = logp(0.5, 0.2, 0.15, 0.1, 0.05)


def test_same_seed_same_tokens_and_reset_replays():
    rng = np.random.default_rng(0)
    vectors = [rng.normal(size=1000).astype(np.float32) * 3 for _ in range(50)]
    a = dyntemp.Sampler("edt", seed=42)
    b = dyntemp.Sampler("edt", seed=42)
    first = [a.sample(x) for x in vectors]
    assert first == [b.sample(x) for x in vectors]
    a.reset()
    assert first == [a.sample(x) for x in vectors]
    assert first != [dyntemp.Sampler("edt", seed=43).sample(x) for x in vectors]


def test_draws_follow_the_distribution():
    sampler = dyntemp.Sampler(1.0, top_k=0, top_p=1.0, min_p=0.0, seed=1)
    counts = np.bincount([sampler.sample(X) for _ in range(20000)], minlength=5)
    np.testing.assert_allclose(counts / 20000, [0.5, 0.2, 0.15, 0.1, 0.05], atol=0.012)


def test_distribution_and_process_change_no_state():
    strategy = dyntemp.get_strategy("target-entropy", target=0.5, rate=1.0)
    sampler = dyntemp.Sampler(strategy, seed=3)
    reference = dyntemp.Sampler(dyntemp.get_strategy("target-entropy", target=0.5, rate=1.0), seed=3)
    for _ in range(20):
        before = sampler.distribution(X)
        sampler.process(X)
        np.testing.assert_array_equal(before, sampler.distribution(X))
        assert sampler.sample(X) == reference.sample(X)
    assert len(sampler.trace) == 20


def test_distribution_applies_filters_then_temperature():
    sampler = dyntemp.Sampler(2.0, top_k=3, top_p=1.0, min_p=0.0)
    kept = np.array([0.5, 0.2, 0.15]) ** 0.5
    np.testing.assert_allclose(sampler.distribution(X), np.r_[kept / kept.sum(), 0, 0], rtol=1e-6)


def test_greedy_at_temperature_zero():
    sampler = dyntemp.Sampler(0.0, seed=5)
    assert {sampler.sample(logp(0.2, 0.5, 0.3)) for _ in range(20)} == {1}
    np.testing.assert_array_equal(sampler.distribution(logp(0.2, 0.5, 0.3)), [0.0, 1.0, 0.0])


def test_temperature_first_lets_filters_see_the_flatter_distribution():
    x = logp(0.6, 0.3, 0.1)
    last = dyntemp.Sampler(3.0, top_k=0, top_p=0.8, min_p=0.0)
    first = dyntemp.Sampler(3.0, top_k=0, top_p=0.8, min_p=0.0, order=["temperature", "top_p"])
    assert np.count_nonzero(last.distribution(x)) == 2
    assert np.count_nonzero(first.distribution(x)) == 3


def test_order_accepts_llama_cpp_names():
    assert dyntemp.Sampler(1.0, order="penalties;top_k;typ_p;top_p;min_p;temp").order == (
        "penalties", "top_k", "typical_p", "top_p", "min_p", "temperature")


def test_logit_bias_bans_and_boosts():
    sampler = dyntemp.Sampler(1.0, top_k=0, top_p=1.0, min_p=0.0, logit_bias={0: -math.inf, 4: 3.0})
    probs = sampler.distribution(X)
    assert probs[0] == 0.0
    assert probs[4] == pytest.approx(0.05 * math.e**3 / (0.45 + 0.05 * math.e**3), rel=1e-5)


def test_penalties_in_the_pipeline_match_apply_penalties():
    history = [0, 0, 1, 3]
    sampler = dyntemp.Sampler(1.0, top_k=0, top_p=1.0, min_p=0.0, repeat_penalty=1.5, frequency_penalty=0.2,
                              presence_penalty=0.1, penalty_last_n=3)
    expected = apply_penalties(X, history, 1.5, 0.2, 0.1, 3)
    np.testing.assert_array_equal(sampler.process(X, history), expected)


def test_penalties_after_top_k_only_touch_candidates():
    history = [0, 4]
    sampler = dyntemp.Sampler(1.0, top_k=3, top_p=1.0, min_p=0.0, repeat_penalty=2.0,
                              order=["top_k", "penalties", "temperature"])
    expected = apply_penalties(top_k(X, 3), history, 2.0)
    np.testing.assert_array_equal(sampler.process(X, history), expected)


def test_the_trace_records_each_token():
    x = logp(0.4, 0.3, 0.2, 0.1)
    sampler = dyntemp.Sampler("edt", top_k=2, top_p=1.0, min_p=0.0, seed=2, detokenizer=lambda ids: b"ab.c"[ids[0]:ids[0] + 1])
    tokens = [sampler.sample(x) for _ in range(6)]
    trace = sampler.trace
    assert [r.token for r in trace] == tokens and [r.index for r in trace] == list(range(6))
    first = trace[0]
    full_entropy = -sum(p * math.log(p) for p in (0.4, 0.3, 0.2, 0.1))
    candidate_entropy = -sum(p * math.log(p) for p in (4 / 7, 3 / 7))
    assert first.entropy == pytest.approx(full_entropy, abs=1e-5)
    assert first.candidate_entropy == pytest.approx(candidate_entropy, abs=1e-7) and first.n_candidates == 2
    assert first.temperature == pytest.approx(0.8 ** (1.0 / full_entropy), rel=1e-5)
    probs = sampler.distribution(x)
    assert all(r.probability == pytest.approx(probs[r.token], rel=1e-9) for r in trace)
    # logprob is of the model's own distribution: before top_k and EDT's temperature.
    assert all(r.logprob == pytest.approx(math.log((0.4, 0.3, 0.2, 0.1)[r.token]), abs=1e-5) for r in trace)
    assert trace.text == "".join("ab.c"[t] for t in tokens)
    columns = trace.columns()
    assert columns["temperature"].dtype == np.float64 and list(columns["token"]) == tokens
    buffer = io.StringIO()
    trace.to_jsonl(buffer)
    assert dyntemp.Trace.from_json_lines(buffer.getvalue()) == trace


def test_trace_file_round_trip(tmp_path):
    sampler = dyntemp.Sampler(1.0, seed=0)
    for _ in range(5):
        sampler.sample(X)
    sampler.trace.to_jsonl(tmp_path / "t.jsonl")
    assert dyntemp.Trace.from_jsonl(tmp_path / "t.jsonl") == sampler.trace


def test_the_rule_that_fired_is_traced():
    rules = dyntemp.get_strategy("rules", rules=[{"name": "start", "before_sentence": 1, "temperature": 0.0}], base=1.0)
    sampler = dyntemp.Sampler(rules, seed=0, detokenizer=lambda ids: b"Hi. "[ids[0]:ids[0] + 1])
    for _ in range(4):
        sampler.sample(logp(0.4, 0.3, 0.2, 0.1))
    assert sampler.trace[0].rule == "start" and sampler.trace[0].temperature == 0.0


@pytest.mark.parametrize("logits", [[1e4, -1e4, 0.0], [-1e4, -1e4 + 1], [7.0, -np.inf, -np.inf], [3.0]])
@pytest.mark.parametrize("strategy", ["edt", "dynatemp", 0.0, 1.0, 1e-30])
def test_extreme_but_valid_logits_give_a_distribution(logits, strategy):
    x = np.array(logits, dtype=np.float32)
    probs = dyntemp.Sampler(strategy, top_k=2, top_p=0.9, min_p=0.0).distribution(x)
    assert not np.isnan(probs).any() and probs.sum() == pytest.approx(1.0)


def test_min_keep_holds_through_the_chain():
    sampler = dyntemp.Sampler(1.0, top_k=1, top_p=0.1, min_p=0.9, min_keep=3)
    assert np.count_nonzero(sampler.distribution(X)) == 3


def test_a_temperature_beyond_float32_is_uniform(recwarn):
    probs = dyntemp.Sampler(1e300, top_k=3, top_p=1.0, min_p=0.0).distribution(X)
    np.testing.assert_allclose(probs, [1 / 3, 1 / 3, 1 / 3, 0, 0])
    assert not recwarn.list


def test_numpy_scalars_are_temperatures():
    assert dyntemp.Sampler(_Returns(np.float32(0.5))).sample(X) in range(5)
    assert dyntemp.Sampler(_Returns(np.int64(1))).sample(X) in range(5)


def test_dynatemp_counts_only_tokens_that_are_still_candidates():
    """llama.cpp's temp_ext also counts -inf tokens left in its array in ln(n); dyntemp does not."""
    x = np.array([2.0, 1.0, 0.0, -np.inf, -np.inf, -np.inf], dtype=np.float32)
    strategy = dyntemp.get_strategy("dynatemp", temperature=1.0, delta=0.5)
    dyntemp.Sampler(strategy, top_k=0, top_p=1.0, min_p=0.0, seed=0).sample(x)
    p = np.exp([2.0, 1.0, 0.0]) / np.exp([2.0, 1.0, 0.0]).sum()
    entropy = -(p @ np.log(p))
    sampler = dyntemp.Sampler(strategy, top_k=0, top_p=1.0, min_p=0.0, seed=0)
    sampler.sample(x)
    assert sampler.trace[0].temperature == pytest.approx(0.5 + entropy / math.log(3))


class _Returns(Strategy):
    def __init__(self, value):
        self.value = value

    def temperature(self, step):
        return self.value


class TestBadInput:
    @pytest.mark.parametrize("value", [float("nan"), -0.5, float("inf"), True, "hot", None])
    def test_strategy_returning_a_bad_temperature(self, value):
        with pytest.raises(ValueError, match=f"returned temperature {value!r}".replace("(", r"\(")):
            dyntemp.Sampler(_Returns(value)).sample(X)

    @pytest.mark.parametrize("logits, message", [
        ([0.0, float("nan")], "NaN at index 1"), ([-np.inf, -np.inf], "all -inf"), ([], "empty"),
        ([np.inf, 0.0], r"\+inf"), ([[0.0]], "1-D"),
    ])
    def test_unusable_logits(self, logits, message):
        with pytest.raises(ValueError, match=message):
            dyntemp.Sampler(1.0).sample(np.array(logits, dtype=np.float32))

    def test_a_failing_detokenizer_changes_nothing(self):
        strategy = dyntemp.get_strategy("target-entropy", target=0.0, rate=1.0)
        sampler = dyntemp.Sampler(strategy, detokenizer=lambda ids: "not bytes")
        with pytest.raises(TypeError, match="detokenizer returned str for token"):
            sampler.sample(X)
        assert len(sampler.trace) == 0 and strategy.temperature(None) == 1.0

    @pytest.mark.parametrize("logits, error, message", [
        (np.array([1 + 2j, 0j]), TypeError, "logits must be real numbers, got an array of complex128"),
        (["a", "b"], TypeError, "logits must be real numbers"),
        (np.array([1e39, 0.0]), ValueError, r"beyond float32's range"),
    ])
    def test_logits_that_are_not_float32_numbers(self, logits, error, message):
        with pytest.raises(error, match=message):
            dyntemp.Sampler(1.0).sample(logits)

    @pytest.mark.parametrize("history, error, message", [
        ([1.7, 2.0], TypeError, "input_ids must be a flat sequence of integer token ids, got float64"),
        ([[1, 2]], TypeError, r"shape \(1, 2\)"),
        ({1, 2}, TypeError, "input_ids must be a sequence of token ids, got set"),
        ([1, -1], ValueError, r"token id -1, outside the vocabulary"),
    ])
    def test_bad_input_ids(self, history, error, message):
        with pytest.raises(error, match=message):
            dyntemp.Sampler(1.0, repeat_penalty=1.1).sample(X, history)

    def test_nothing_is_recorded_after_an_error(self):
        sampler = dyntemp.Sampler(1.0)
        with pytest.raises(ValueError):
            sampler.sample(np.array([np.nan], dtype=np.float32))
        assert len(sampler.trace) == 0

    def test_history_outside_the_vocabulary(self):
        with pytest.raises(ValueError, match=r"token id 9, outside the vocabulary \[0, 5\)"):
            dyntemp.Sampler(1.0, repeat_penalty=1.1).sample(X, [1, 9])

    def test_logit_bias_outside_the_vocabulary(self):
        with pytest.raises(ValueError, match=r"logit_bias names token 7, outside the vocabulary \[0, 5\)"):
            dyntemp.Sampler(1.0, logit_bias={7: 1.0}).sample(X)

    @pytest.mark.parametrize("kwargs, error, message", [
        ({"top_p": 1.5}, ValueError, "top_p must be <= 1.0, got 1.5"),
        ({"top_k": -1}, ValueError, "top_k must be >= 0, got -1"),
        ({"min_p": -0.1}, ValueError, "min_p must be >= 0.0"),
        ({"order": ["top_k", "temperatrue"]}, ValueError, "unknown stage 'temperatrue' in order"),
        ({"order": ["top_k", "top_k", "temperature"]}, ValueError, "stage 'top_k' appears 2 times"),
        ({"order": ["top_k", "top_p", "min_p"]}, ValueError, "no 'temperature' stage"),
        ({"order": ["top_p", "min_p", "temperature"]}, ValueError, r"top_k=40 is set but 'top_k' is not in order"),
        ({"repeat_penalty": 1.2, "order": ["top_k", "top_p", "min_p", "temperature"]}, ValueError,
         r"repeat_penalty=1.2, frequency_penalty=0.0, presence_penalty=0.0 is set but 'penalties' is not in order"),
        ({"logit_bias": {1: float("nan")}}, ValueError, r"logit_bias\[1\] must be a finite number, got nan \(a bias"),
        ({"logit_bias": {1: "high"}}, TypeError, r"logit_bias\[1\] must be a number, got 'high'"),
        ({"logit_bias": {1: 1e39}}, ValueError, r"logit_bias\[1\] must be <= 3.4"),
        ({"logit_bias": [1, 2]}, TypeError, "logit_bias must be a mapping"),
        ({"penalty_last_n": -2}, ValueError, "penalty_last_n must be >= -1"),
        ({"order": None}, TypeError, "order must be a list of stage names"),
        ({"order": "penalties;infill;top_k;temperature"}, ValueError, "llama.cpp's 'infill' sampler is not a dyntemp stage"),
        ({"order": "top_k;temperature;mirostat_v2"}, ValueError, "its version is the mirostat setting"),
        ({"mirostat": 3}, ValueError, r"mirostat must be 0 \(off\), 1 or 2 \(the version\), got 3"),
        ({"mirostat": 2, "adaptive_target": 0.5}, ValueError, "mirostat=2 and adaptive_target=0.5 both pick the token"),
        ({"adaptive_target": 0.5, "order": "adaptive_p;temperature", "top_k": 0, "top_p": 1.0, "min_p": 0.0}, ValueError,
         "'adaptive_p' picks the token, so it runs last, as in llama.cpp"),
        ({"adaptive_decay": 0.995}, ValueError, "adaptive_decay must be <= 0.99, got 0.995"),
        ({"dry_base": 0.5}, ValueError, "dry_base must be >= 1.0, got 0.5"),
        ({"dry_multiplier": -1}, ValueError, "dry_multiplier must be >= 0.0"),
        ({"dry_sequence_breakers": ["\n", ""]}, ValueError, "dry_sequence_breakers must hold non-empty strings"),
        ({"dry_sequence_breakers": "\n"}, TypeError, "dry_sequence_breakers must be a list of strings"),
        ({"dry_multiplier": 0.8, "order": "top_k;temperature", "top_p": 1.0, "min_p": 0.0}, ValueError,
         "dry_multiplier=0.8 is set but 'dry' is not in order"),
        ({"smoothing_factor": -0.1}, ValueError, "smoothing_factor must be >= 0.0"),
        ({"mirostat_mode": 2}, TypeError, "here it is mirostat"),
        ({"detokenizer": "not callable"}, TypeError, "detokenizer must be a function"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
    ])
    def test_bad_parameters(self, kwargs, error, message):
        with pytest.raises(error, match=message):
            dyntemp.Sampler(1.0, **kwargs)

    def test_negative_constant_temperature(self):
        with pytest.raises(ValueError, match="temperature must be >= 0.0, got -1.0"):
            dyntemp.Sampler(-1.0)

    def test_unknown_strategy(self):
        with pytest.raises(dyntemp.UnknownStrategyError, match="Did you mean 'dynatemp'"):
            dyntemp.Sampler("dynatmp")


def test_real_generation_is_reproducible_and_traced(llm):
    sampler = dyntemp.Sampler("edt", top_k=40, top_p=0.95, min_p=0.05, repeat_penalty=1.1, seed=11)
    prompt = "<|im_start|>user\nWrite three short sentences about the sea.<|im_end|>\n<|im_start|>assistant\n"
    tokens = sampler.generate(llm, prompt, max_tokens=60).tokens
    assert len(tokens) >= 10
    trace = sampler.trace
    assert trace.text == llm.detokenize(tokens).decode("utf-8", errors="replace")
    assert all(0.0 <= r.temperature <= 1.0 and 0 < r.probability <= 1.0 and 1 <= r.n_candidates <= 40 for r in trace)
    assert np.all(np.diff(trace.columns()["sentence_index"]) >= 0)
    assert sampler.generate(llm, prompt, max_tokens=60).tokens == tokens


def test_real_logits_through_every_built_in_strategy(llm, real_logits):
    strategies = {
        "constant": {}, "edt": {}, "dynatemp": {}, "softmax-adaptive": {}, "sentence": {"temperatures": [0.5, 1.0]},
        "sentence-position": {}, "position": {}, "adapt": {}, "target-entropy": {},
        "rules": {"rules": [{"in_code_block": True, "temperature": 0.2}]},
        "clamp": {"strategy": "edt", "max_temp": 0.5}, "scale": {"strategy": "edt", "factor": 0.5},
        "choose": {"condition": "at_sentence_start", "then": 1.2, "otherwise": 0.6},
    }
    assert set(strategies) == set(dyntemp.list_strategies())
    for name, params in strategies.items():
        sampler = dyntemp.Sampler(dyntemp.get_strategy(name, **params), seed=1, detokenizer=llm.detokenize)
        for x in real_logits[:40]:
            probs = sampler.distribution(x)
            token = sampler.sample(x)
            record = sampler.trace[-1]
            assert probs[token] > 0 and record.probability == pytest.approx(probs[token], rel=1e-9), name
        temperatures = sampler.trace.columns()["temperature"]
        assert len(temperatures) == 40 and np.all(temperatures >= 0), name
        replay = dyntemp.Sampler(dyntemp.get_strategy(name, **params), seed=1, detokenizer=llm.detokenize)
        assert [replay.sample(x) for x in real_logits[:40]] == list(sampler.trace.columns()["token"]), name
