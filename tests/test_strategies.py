"""Built-in strategies and combinators on hand-made steps, with exact expected temperatures."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import dyntemp
from dyntemp import Step
from dyntemp.strategies import RulesError, SpecError


def step_with_entropy(probs, text=""):
    return Step.from_text(text, logits=np.log(np.array(probs)))


class TestEDT:
    def test_formula(self):
        step = step_with_entropy([0.5, 0.25, 0.25])  # H = 1.5 ln 2 = 1.0397
        t = dyntemp.get_strategy("edt", t0=0.9, n=0.8, theta=0.5).temperature(step)
        assert t == pytest.approx(0.9 * 0.8 ** (0.5 / (1.5 * math.log(2))), rel=1e-6)

    def test_confident_steps_get_colder(self):
        edt = dyntemp.get_strategy("edt")
        assert edt.temperature(step_with_entropy([0.98, 0.01, 0.01])) < edt.temperature(step_with_entropy([0.4, 0.3, 0.3]))

    def test_one_hot_is_greedy_not_a_division_by_zero(self):
        assert dyntemp.get_strategy("edt").temperature(Step.from_text("", logits=[0.0, -np.inf])) == 0.0

    def test_clamps(self):
        edt = dyntemp.get_strategy("edt", min_temp=0.3, max_temp=0.5)
        assert edt.temperature(Step.from_text("", logits=[0.0, -np.inf])) == 0.3
        assert edt.temperature(step_with_entropy([0.25] * 4)) == 0.5

    @pytest.mark.parametrize("params, message", [
        ({"n": 0.0}, "n must be > 0"), ({"n": 1.5}, "n must be <= 1.0"), ({"t0": -1.0}, "t0 must be >= 0"), ({"theta": float("nan")}, "theta"),
        ({"min_temp": 1.0, "max_temp": 0.5}, "max_temp must be >= 1.0"),
    ])
    def test_bad_parameters(self, params, message):
        with pytest.raises(ValueError, match=message):
            dyntemp.get_strategy("edt", **params)


class TestDynaTemp:
    def test_uniform_candidates_get_the_maximum(self):
        step = Step.from_text("", logits=[0.0] * 4)
        assert dyntemp.get_strategy("dynatemp", temperature=1.0, delta=0.5).temperature(step) == pytest.approx(1.5)

    def test_formula_with_exponent(self):
        step = step_with_entropy([0.7, 0.2, 0.1])
        h = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))
        expected = 0.2 + (1.4 - 0.2) * (h / math.log(3)) ** 2.0
        assert dyntemp.get_strategy("dynatemp", temperature=0.8, delta=0.6, exponent=2.0).temperature(step) == (
            pytest.approx(expected, rel=1e-6))

    def test_min_temperature_floors_at_zero(self):
        step = Step.from_text("", logits=[0.0, -30.0])
        assert dyntemp.get_strategy("dynatemp", temperature=0.3, delta=1.0).temperature(step) == pytest.approx(0.0, abs=1e-9)

    def test_no_delta_is_a_plain_temperature(self):
        assert dyntemp.get_strategy("dynatemp", temperature=0.7, delta=0.0).temperature(step_with_entropy([0.5, 0.5])) == 0.7


class TestSentenceStrategies:
    def test_list_per_sentence_last_repeats(self):
        s = dyntemp.get_strategy("sentence", temperatures=[0.2, 0.9])
        texts = ["Start", "One. Two", "One. Two. Three. Four"]
        assert [s.temperature(Step.from_text(t)) for t in texts] == [0.2, 0.9, 0.9]

    def test_function_of_the_sentence_index(self):
        s = dyntemp.get_strategy("sentence", temperatures=lambda i: 0.1 * (i + 1))
        assert s.temperature(Step.from_text("A. B. C")) == pytest.approx(0.3)

    def test_position_inside_the_sentence(self):
        s = dyntemp.get_strategy("sentence-position", temperatures=[1.3, 1.0, 0.5])
        assert [s.temperature(Step.from_text(t)) for t in ("", "H", "Hi", "Hi there", "Hi. ")] == [1.3, 1.0, 0.5, 0.5, 1.3]

    @pytest.mark.parametrize("bad", [[], "0.5", [0.5, -1.0], [float("nan")]])
    def test_bad_schedules(self, bad):
        with pytest.raises((ValueError, TypeError), match="temperatures"):
            dyntemp.get_strategy("sentence", temperatures=bad)


class TestPosition:
    def at(self, strategy, i):
        return strategy.temperature(Step.from_text("", index=i))

    def test_linear(self):
        p = dyntemp.get_strategy("position", start=1.0, end=0.0, length=10)
        assert [self.at(p, i) for i in (0, 5, 10, 50)] == [1.0, 0.5, 0.0, 0.0]

    def test_cosine(self):
        p = dyntemp.get_strategy("position", start=1.0, end=0.0, length=10, shape="cosine")
        assert [round(self.at(p, i), 6) for i in (0, 5, 10)] == [1.0, 0.5, 0.0]

    def test_step(self):
        p = dyntemp.get_strategy("position", start=1.0, end=0.0, length=8, shape="step", steps=4)
        assert [self.at(p, i) for i in (0, 1, 2, 4, 7, 8)] == [1.0, 1.0, 0.75, 0.5, 0.25, 0.0]

    def test_exponential(self):
        p = dyntemp.get_strategy("position", start=1.0, end=0.25, length=2, shape="exponential")
        assert [self.at(p, i) for i in (0, 1, 2)] == [1.0, 0.5, 0.25]

    def test_warmup_then_decay(self):
        p = dyntemp.get_strategy("position", start=0.0, peak=1.0, end=0.5, warmup=4, length=2)
        assert [self.at(p, i) for i in (0, 2, 4, 5, 6, 9)] == [0.0, 0.5, 1.0, 0.75, 0.5, 0.5]

    def test_bad_shape(self):
        with pytest.raises(ValueError, match="shape must be one of linear, cosine, step, exponential; got 'wavy'"):
            dyntemp.get_strategy("position", shape="wavy")


class TestAdapT:
    def test_code_line_starts_are_hot(self):
        a = dyntemp.get_strategy("adapt", high=1.0, low=0.1)
        assert a.temperature(Step.from_text("```python\ndef f():\n    ")) == 1.0
        assert a.temperature(Step.from_text("```python\ndef f():\n    return")) == 0.1

    def test_sentence_starts_in_prose(self):
        a = dyntemp.get_strategy("adapt", high=1.0, low=0.1)
        assert a.temperature(Step.from_text("It rained. ")) == 1.0
        assert a.temperature(Step.from_text("It rained. The")) == 0.1
        assert dyntemp.get_strategy("adapt", high=1.0, low=0.1, sentences=False).temperature(
            Step.from_text("It rained. ")) == 0.1

    def test_labels_the_rule(self):
        step = Step.from_text("")
        dyntemp.get_strategy("adapt").temperature(step)
        assert step.rule == "adapt:start"

    @pytest.mark.parametrize("blank", [" ", "\t", "\n"])
    def test_indentation_to_come_is_cold(self, blank):
        # At a blank line start, the most likely candidate is whitespace: the indentation (or a blank
        # line), not the line's first non-blank token; it is drawn cold, and so are later tokens.
        a = dyntemp.get_strategy("adapt", high=1.0, low=0.1)
        logits = np.zeros(128)
        logits[ord(blank)] = 3.0
        step = Step.from_text("```python\ndef f():\n", logits=logits)
        assert a.temperature(step) == 0.1 and step.rule == "adapt:indent"
        logits[ord("r")] = 4.0  # now the text itself is most likely: the line opens here
        assert a.temperature(Step.from_text("```python\ndef f():\n    ", logits=logits)) == 1.0
        assert a.temperature(Step.from_text("```python\ndef f():\n    r", logits=logits)) == 0.1


class TestTargetEntropy:
    def test_surprising_tokens_cool_it_down_and_reset_restores(self):
        s = dyntemp.get_strategy("target-entropy", target=1.0, rate=0.5, initial=1.0)
        step = Step.from_text("", logits=np.log([0.9, 0.1]))
        s.accept(step, 1)  # surprise ln 10 = 2.303
        assert s.temperature(step) == pytest.approx(math.exp(-0.5 * (math.log(10) - 1.0)))
        s.accept(step, 0)  # surprise 0.105: warms up again
        assert s.temperature(step) == pytest.approx(math.exp(-0.5 * (math.log(10) - 1.0) - 0.5 * (-math.log(0.9) - 1.0)))
        s.reset()
        assert s.temperature(step) == 1.0

    def test_clamped(self):
        s = dyntemp.get_strategy("target-entropy", target=0.0, rate=10.0, min_temp=0.2)
        s.accept(Step.from_text("", logits=np.log([0.5, 0.5])), 0)
        assert s.temperature(None) == 0.2

    def test_temperature_does_not_change_state(self):
        s = dyntemp.get_strategy("target-entropy")
        step = Step.from_text("", logits=np.log([0.5, 0.5]))
        assert s.temperature(step) == s.temperature(step) == 1.0


class TestCombinators:
    def test_clamp(self):
        assert dyntemp.get_strategy("clamp", strategy="constant", max_temp=0.4).temperature(None) == 0.4
        assert dyntemp.get_strategy("clamp", strategy=0.1, min_temp=0.3).temperature(None) == 0.3

    def test_scale(self):
        assert dyntemp.get_strategy("scale", strategy=dyntemp.get_strategy("constant", temperature=0.8),
                                    factor=0.5, offset=0.1).temperature(None) == pytest.approx(0.5)

    def test_choose_by_attribute_or_function(self):
        c = dyntemp.get_strategy("choose", condition="in_code_block", then=0.2, otherwise="constant")
        assert c.temperature(Step.from_text("```\n")) == 0.2 and c.temperature(Step.from_text("x")) == 1.0
        c = dyntemp.get_strategy("choose", condition=lambda s: s.index > 3, then=0.0, otherwise=1.5)
        assert c.temperature(Step.from_text("", index=5)) == 0.0

    def test_children_are_reset_and_accept(self):
        inner = dyntemp.get_strategy("target-entropy", target=0.0, rate=1.0)
        outer = dyntemp.get_strategy("scale", strategy=inner, factor=2.0)
        step = Step.from_text("", logits=np.log([0.5, 0.5]))
        outer.accept(step, 0)
        assert outer.temperature(step) == pytest.approx(2.0 * 0.5)
        outer.reset()
        assert outer.temperature(step) == 2.0

    def test_numpy_numbers_are_temperatures(self):
        assert dyntemp.get_strategy("clamp", strategy=np.float32(0.25), max_temp=1.0).temperature(None) == 0.25

    def test_bad_condition(self):
        with pytest.raises(ValueError, match="condition must be"):
            dyntemp.get_strategy("choose", condition="in_a_poem", then=0.1, otherwise=1.0)


RULES = [
    {"name": "code", "in_code_block": True, "temperature": 0.2},
    {"name": "opening", "before_sentence": 1, "temperature": 0.0},
    {"name": "list", "line_regex": r"^\s*[-*] ", "scale": 0.5},
]


class TestRules:
    def test_first_match_wins(self):
        r = dyntemp.get_strategy("rules", rules=RULES, base=1.2)
        step = Step.from_text("Intro.\n```\nx = 1")
        assert r.temperature(step) == 0.2 and step.rule == "code"
        step = Step.from_text("Intro")
        assert r.temperature(step) == 0.0 and step.rule == "opening"
        step = Step.from_text("Intro. Items:\n- one")
        assert r.temperature(step) == pytest.approx(0.6) and step.rule == "list"
        step = Step.from_text("Intro. Prose")
        assert r.temperature(step) == 1.2 and step.rule is None

    def test_all_matches_apply_in_order(self):
        rules = [{"name": "late", "after_token": 3, "scale": 0.5}, {"name": "why", "sentence_regex": r"^Why", "scale": 0.5}]
        r = dyntemp.get_strategy("rules", rules=rules, base=2.0, mode="all")
        step = Step.from_text("Why not")
        assert r.temperature(step) == 0.5 and step.rule == "late,why"

    def test_base_may_be_a_strategy_table(self):
        r = dyntemp.get_strategy("rules", rules=[{"after_sentence": 5, "temperature": 0.1}],
                                 base={"strategy": "sentence", "temperatures": [0.3, 0.6]})
        assert r.temperature(Step.from_text("A. B")) == 0.6

    def test_from_toml_file(self, tmp_path):
        path = tmp_path / "rules.toml"
        path.write_text('mode = "first"\nbase = 1.2\n\n[[rule]]\nname = "code"\nin_code_block = true\ntemperature = 0.2\n'
                        '\n[[rule]]\nname = "first-sentence"\nbefore_sentence = 1\ntemperature = 0.0\n')
        r = dyntemp.get_strategy("rules", file=str(path))
        assert [r.temperature(Step.from_text(t)) for t in ("Hi", "Hi. There", "Hi.\n```\n")] == [0.0, 1.2, 0.2]

    def test_from_json_file(self, tmp_path):
        path = tmp_path / "rules.json"
        path.write_text(json.dumps({"base": "constant", "rule": [{"at_line_start": True, "temperature": 0.7}]}))
        r = dyntemp.get_strategy("rules", file=path)
        assert r.temperature(Step.from_text("a\n")) == 0.7 and r.temperature(Step.from_text("a")) == 1.0

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="rules file not found: .*nope.toml"):
            dyntemp.get_strategy("rules", file=str(tmp_path / "nope.toml"))

    @pytest.mark.parametrize("content, message", [
        ("base = [", r"bad.toml: not a valid TOML rules file"),
        ("base = 1.0\n", r"bad.toml: no rules"),
        ("[[rule]]\ntemperature = 0.5\nin_code = true\n", r"bad.toml: rule 1: unknown key 'in_code'. Did you mean 'in_code_block'\?"),
        ("[[rule]]\nin_code_block = true\n", r"needs exactly one of 'temperature' or 'scale'"),
        ("[[rule]]\ntemperature = -1\n", r"rule 1: temperature must be >= 0.0, got -1.0"),
        ("[[rule]]\nline_regex = \"([\"\ntemperature = 1\n", r"line_regex '\(\[': not a regular expression RE2 runs"),
        ("[[rule]]\nin_code_block = \"yes\"\ntemperature = 1\n", r"in_code_block must be true or false, got 'yes'"),
        ("mode = \"some\"\n[[rule]]\ntemperature = 1\n", r"bad.toml: mode must be one of first, all; got 'some'"),
        ("bsae = 1\n[[rule]]\ntemperature = 1\n", r"unknown key 'bsae'. Did you mean 'base'\?"),
        ("base = \"edtt\"\n[[rule]]\ntemperature = 1\n", r"bad.toml: base: unknown strategy 'edtt'. Did you mean 'edt'"),
    ])
    def test_malformed_toml_files(self, tmp_path, content, message):
        path = tmp_path / "bad.toml"
        path.write_text(content)
        with pytest.raises(RulesError, match=message):
            dyntemp.get_strategy("rules", file=str(path))

    def test_a_single_rule_table_is_explained(self, tmp_path):
        path = tmp_path / "one.toml"
        path.write_text("[rule]\ntemperature = 0.5\n")
        with pytest.raises(RulesError, match=r"write \[\[rule\]\] \(double brackets\), not \[rule\]"):
            dyntemp.get_strategy("rules", file=str(path))

    def test_upper_case_json_suffix(self, tmp_path):
        path = tmp_path / "RULES.JSON"
        path.write_text(json.dumps({"rule": [{"temperature": 0.3}]}))
        assert dyntemp.get_strategy("rules", file=path).temperature(Step.from_text("x")) == 0.3

    def test_parameters_override_the_file(self, tmp_path):
        path = tmp_path / "rules.toml"
        path.write_text('base = 0.4\nmode = "all"\n[[rule]]\nafter_sentence = 3\nscale = 2.0\n')
        from_file = dyntemp.get_strategy("rules", file=path)
        assert from_file.mode == "all" and from_file.temperature(Step.from_text("x")) == 0.4
        overridden = dyntemp.get_strategy("rules", file=path, base=0.9, mode="first")
        assert overridden.mode == "first" and overridden.temperature(Step.from_text("x")) == 0.9

    def test_malformed_json_file(self, tmp_path):
        path = tmp_path / "bad.json"
        path.write_text("{\"rule\": [}")
        with pytest.raises(RulesError, match="bad.json: not a valid JSON rules file"):
            dyntemp.get_strategy("rules", file=str(path))

    def test_rules_and_file_together(self, tmp_path):
        with pytest.raises(RulesError, match="not both"):
            dyntemp.get_strategy("rules", rules=RULES, file=str(tmp_path / "x.toml"))


# The paper's fit (arXiv 2410.01104, its reference code), written out here rather than imported from the module.
PAPER_FIT = [-0.037, 0.481, -2.3, 4.917, -1.791]


def paper_beta(h):
    return max(float(np.polyval(PAPER_FIT, h)), 1.0) if h > 0.5 else 1.0


class TestSoftmaxAdaptive:
    def test_low_entropy_keeps_the_base_temperature_exactly(self):
        s = dyntemp.get_strategy("softmax-adaptive", temperature=0.8)
        assert s.temperature(step_with_entropy([0.98, 0.01, 0.01])) == 0.8  # H = 0.112
        assert s.temperature(Step.from_text("", logits=[0.0, -np.inf])) == 0.8  # H = 0
        uniform = Step.from_text("", logits=[0.0] * 4)
        at_threshold = dyntemp.get_strategy("softmax-adaptive", temperature=0.8, threshold=uniform.entropy)
        assert at_threshold.temperature(uniform) == 0.8  # only H > threshold is sharpened

    @pytest.mark.parametrize("n, beta", [(4, 1.7500661), (50, 2.3767532)])
    def test_high_entropy_divides_by_the_paper_polynomial(self, n, beta):
        step = Step.from_text("", logits=[0.0] * n)
        assert step.entropy == pytest.approx(math.log(n), rel=1e-6)  # float32 logits
        assert paper_beta(math.log(n)) == pytest.approx(beta, rel=1e-7)  # by hand: -0.037 H^4 + ... - 1.791
        t = dyntemp.get_strategy("softmax-adaptive", temperature=0.8).temperature(step)
        assert t == pytest.approx(0.8 / beta, rel=1e-6)
        assert dyntemp.get_strategy("softmax-adaptive").temperature(step) == pytest.approx(1.0 / beta, rel=1e-6)

    @pytest.mark.parametrize("n", [2, 1000])
    def test_beta_floors_at_one_where_the_fit_falls_below_it(self, n):
        # H = ln 2 is above the threshold but the fit gives 0.66 there; at ln 1000 it is negative.
        assert np.polyval(PAPER_FIT, math.log(n)) < 1.0
        step = Step.from_text("", logits=[0.0] * n)
        assert dyntemp.get_strategy("softmax-adaptive", temperature=0.7).temperature(step) == 0.7

    def test_custom_threshold_and_coefficients(self):
        s = dyntemp.get_strategy("softmax-adaptive", threshold=0.0, coefficients=[1, 1])  # beta = H + 1
        assert s.coefficients == (1.0, 1.0) and all(type(c) is float for c in s.coefficients)
        assert s.temperature(step_with_entropy([0.5, 0.5])) == pytest.approx(1.0 / (math.log(2) + 1.0), rel=1e-6)
        assert dyntemp.get_strategy("softmax-adaptive").coefficients == tuple(PAPER_FIT)

    @settings(max_examples=300, deadline=None)
    @given(x=arrays(np.float32, st.integers(1, 300), elements=st.floats(-1e4, 1e4, width=32)),
           temperature=st.floats(0.0, 5.0))
    def test_never_raises_the_temperature(self, x, temperature):
        step = Step.from_text("", logits=x)
        t = dyntemp.get_strategy("softmax-adaptive", temperature=temperature).temperature(step)
        assert 0.0 <= t <= temperature
        assert t == pytest.approx(temperature / paper_beta(step.entropy), rel=1e-12)

    @pytest.mark.parametrize("params, error, message", [
        ({"temperature": -1.0}, ValueError, "temperature must be >= 0.0, got -1.0"),
        ({"temperature": "hot"}, TypeError, "temperature must be a number, got 'hot'"),
        ({"threshold": float("nan")}, ValueError, "threshold must be a finite number, got nan"),
        ({"threshold": -0.5}, ValueError, "threshold must be >= 0.0, got -0.5"),
        ({"coefficients": []}, ValueError, r"coefficients must be a non-empty list of numbers.*got \[\]"),
        ({"coefficients": "1,2"}, ValueError, "coefficients must be a non-empty list of numbers.*got '1,2'"),
        ({"coefficients": 2.0}, ValueError, "coefficients must be a non-empty list of numbers.*got 2.0"),
        ({"coefficients": [1.0, float("inf")]}, ValueError, r"coefficients\[1\] must be a finite number, got inf"),
        ({"coefficients": [1.0, "x"]}, TypeError, r"coefficients\[1\] must be a number, got 'x'"),
    ])
    def test_bad_parameters(self, params, error, message):
        with pytest.raises(error, match=message):
            dyntemp.get_strategy("softmax-adaptive", **params)

    def test_bad_parameter_in_spec_text(self):
        with pytest.raises(SpecError, match="threshold must be >= 0.0, got -1.0"):
            dyntemp.SamplerSettings("softmax-adaptive:threshold=-1")

    @pytest.mark.parametrize("text", ["softmax-adaptive:temperature=0.8",
                                      "softmax-adaptive:threshold=0.2:coefficients=[0.5,1,2]"])
    def test_round_trips_as_data_and_pickle(self, text):
        settings = dyntemp.SamplerSettings(text)
        data = json.loads(json.dumps(settings.to_dict()))
        assert dyntemp.SamplerSettings.from_dict(data) == settings
        strategy = settings.make_strategy()
        step = step_with_entropy([0.1] * 10)
        for copy in (dyntemp.SamplerSettings.from_dict(data).make_strategy(), pickle.loads(pickle.dumps(strategy))):
            assert copy.params() == strategy.params() and type(copy.coefficients) is tuple
            assert copy.temperature(step) == strategy.temperature(step)
        assert dyntemp.Sampler(strategy).settings == settings  # the instance is written back as the same data

    def test_generates_on_the_model_with_the_paper_temperatures(self, llm):
        result = dyntemp.Sampler("softmax-adaptive", seed=1).generate(llm, "Once upon a time", max_tokens=8)
        assert len(result.tokens) == 8 and len(result.trace) >= 8
        for record in result.trace:
            assert record.temperature == pytest.approx(1.0 / paper_beta(record.entropy), rel=1e-9)
        assert any(record.temperature < 1.0 for record in result.trace)  # the polynomial did act
