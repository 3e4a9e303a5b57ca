"""Generation on the real default model: generate, stream, chat, the llama-cpp-python hook, stop
strings and length, sentence schedules and rules files."""

from __future__ import annotations

import numpy as np
import pytest

import dyntemp

PROMPT = "<|im_start|>user\nWrite four short sentences about the sea.<|im_end|>\n<|im_start|>assistant\n"
MESSAGES = [{"role": "user", "content": "Write two sentences about rain."}]


def sentence_sampler(seed=7):
    return dyntemp.Sampler(dyntemp.get_strategy("sentence", temperatures=[0.2, 0.9, 1.4]), top_p=0.95, seed=seed)


STRATEGIES = {
    "constant": {"temperature": 0.8}, "edt": {}, "dynatemp": {}, "softmax-adaptive": {}, "sentence": {"temperatures": [0.3, 1.0]},
    "sentence-position": {}, "position": {}, "adapt": {}, "target-entropy": {},
    "rules": {"rules": [{"before_sentence": 1, "temperature": 0.0}]},
    "clamp": {"strategy": "edt", "max_temp": 0.5}, "scale": {"strategy": "edt", "factor": 0.5},
    "choose": {"condition": "at_sentence_start", "then": 1.2, "otherwise": 0.6},
}


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_built_in_strategy_generates(llm, name):
    sampler = dyntemp.Sampler(dyntemp.get_strategy(name, **STRATEGIES[name]), seed=3)
    result = sampler.generate(llm, PROMPT, max_tokens=40)
    assert result.text.strip() and result.finish_reason in ("eos", "length")
    assert result.tokens == [r.token for r in result.trace][:len(result.tokens)]
    assert result.text == result.trace.text


def test_every_built_in_is_covered():
    assert set(STRATEGIES) == set(dyntemp.list_strategies())


def test_streaming_equals_generate(llm):
    result = sentence_sampler().generate(llm, PROMPT, max_tokens=80)
    pieces = list(sentence_sampler().stream(llm, PROMPT, max_tokens=80))
    assert "".join(p.text for p in pieces) == result.text
    assert len(pieces) > 10 and all(isinstance(p.record, dyntemp.TraceRecord) for p in pieces)


def test_the_sentence_schedule_holds_token_by_token(llm):
    result = sentence_sampler(seed=8).generate(llm, PROMPT, max_tokens=120)
    assert max(r.sentence_index for r in result.trace) >= 2
    for record in result.trace:
        assert record.temperature == [0.2, 0.9, 1.4][min(record.sentence_index, 2)]


def test_stop_strings_end_generation_and_are_not_emitted(llm):
    free = sentence_sampler().generate(llm, PROMPT, max_tokens=80).text
    stop = free[free.index(".") + 1:free.index(".") + 4]
    result = sentence_sampler().generate(llm, PROMPT, max_tokens=80, stop=["zzz-never", stop])
    assert result.finish_reason == "stop" and result.text == free[:free.index(stop)]
    streamed = "".join(p.text for p in sentence_sampler().stream(llm, PROMPT, max_tokens=80, stop=stop))
    assert streamed == result.text


def test_max_tokens_and_eos(llm):
    result = sentence_sampler().generate(llm, PROMPT, max_tokens=5)
    assert result.finish_reason == "length" and len(result.tokens) == 5 and len(result.trace) == 5
    done = dyntemp.Sampler(0.0).generate(llm, PROMPT, max_tokens=300)
    assert done.finish_reason == "eos" and len(done.trace) == len(done.tokens)


def test_chat_uses_the_models_template(llm):
    result = dyntemp.Sampler(0.0).chat(llm, MESSAGES, max_tokens=60)
    assert result.finish_reason == "eos" and "rain" in result.text.lower()
    assert "<|im_start|>" not in result.text


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_the_hook_inside_create_completion_gives_the_same_tokens(llm, name):
    def make():
        return dyntemp.Sampler(dyntemp.get_strategy(name, **STRATEGIES[name]), seed=5)

    ours = make().generate(llm, PROMPT, max_tokens=60)
    sampler = make()
    llm.reset()  # llama-cpp-python would reuse the cached prompt; its logits then differ by rounding
    out = llm.create_completion(PROMPT, max_tokens=60, logits_processor=sampler.logits_processor(llm),
                                **sampler.llama_kwargs())
    assert out["choices"][0]["text"] == ours.text
    # Whole records agree: tokens, temperatures, entropies and each drawn token's probability.
    hooked = list(sampler.trace)
    assert hooked == list(ours.trace)[:len(hooked)] and len(hooked) == len(ours.tokens)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_the_hook_inside_create_chat_completion_gives_the_same_text(llm, name):
    def make():
        return dyntemp.Sampler(dyntemp.get_strategy(name, **STRATEGIES[name]), seed=2)

    ours = make().chat(llm, MESSAGES, max_tokens=40)
    sampler = make()
    llm.reset()
    out = llm.create_chat_completion(MESSAGES, max_tokens=40, logits_processor=sampler.logits_processor(llm),
                                     **sampler.llama_kwargs())
    assert out["choices"][0]["message"]["content"] == ours.text
    hooked = list(sampler.trace)
    assert hooked == list(ours.trace)[:len(hooked)]


@pytest.mark.parametrize("settings", [dict(temperature=0.1, top_k=1), dict(repeat_penalty=1.5, frequency_penalty=1.0),
                                      dict()])
def test_the_hook_applies_the_temperature_once(llm, settings):
    """llama-cpp-python gets dyntemp's token raised far above every other: whatever its own
    settings (its default chain samples at temperature 0.8), it picks that token; the trace's
    probabilities are dyntemp's alone."""
    sampler = dyntemp.Sampler(2.0, top_k=40, top_p=1.0, min_p=0.0, seed=1)
    llm.reset()
    prompt = llm.tokenize(b"The sea is")
    llm.create_completion(prompt, max_tokens=20, logits_processor=sampler.logits_processor(llm), **settings)
    evaluated = [int(t) for t in llm.input_ids[len(prompt):llm.n_tokens]]
    assert len(evaluated) > 5 and evaluated == [r.token for r in sampler.trace][:len(evaluated)]
    assert all(r.temperature == 2.0 for r in sampler.trace)
    # at temperature 2 over 40 candidates the model's top token is often not the one drawn
    assert np.mean([r.probability for r in sampler.trace]) < 0.5


def test_a_reused_sampler_and_two_samplers_are_independent(llm):
    a, b = sentence_sampler(seed=1), sentence_sampler(seed=1)
    first = a.generate(llm, PROMPT, max_tokens=30)
    a.generate(llm, "The history of the moon", max_tokens=10)
    assert a.generate(llm, PROMPT, max_tokens=30).tokens == first.tokens == b.generate(llm, PROMPT, max_tokens=30).tokens
    hook_a, hook_b = sentence_sampler(seed=1), sentence_sampler(seed=2)
    for sampler in (hook_a, hook_b, hook_a):
        llm.reset()
        llm.create_completion(PROMPT, max_tokens=30, logits_processor=sampler.logits_processor(llm),
                              **sampler.llama_kwargs())
    assert [r.token for r in hook_a.trace] == first.tokens[:len(hook_a.trace)]


def test_a_rules_file_drives_the_temperature(llm, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text('base = 1.2\n\n[[rule]]\nname = "code"\nin_code_block = true\ntemperature = 0.2\n\n'
                     '[[rule]]\nname = "first"\nbefore_sentence = 1\ntemperature = 0.0\n')
    sampler = dyntemp.Sampler(dyntemp.get_strategy("rules", file=str(rules)), seed=4)
    prompt = ("<|im_start|>user\nExplain in two sentences what a Python list is, then show a short code "
              "example in a ```python block.<|im_end|>\n<|im_start|>assistant\n")
    result = sampler.generate(llm, prompt, max_tokens=150)
    fired = {r.rule for r in result.trace}
    assert {"first", "code"} <= fired
    for record in result.trace:
        expected = {"first": 0.0, "code": 0.2, None: 1.2}[record.rule]
        assert record.temperature == expected


class TestBadInput:
    def test_max_tokens(self, llm):
        with pytest.raises(ValueError, match="max_tokens must be >= 1, got 0"):
            dyntemp.Sampler(1.0).generate(llm, "Hi", max_tokens=0)

    def test_empty_stop(self, llm):
        with pytest.raises(ValueError, match="stop must be a string or a list of non-empty strings, got ''"):
            dyntemp.Sampler(1.0).generate(llm, "Hi", stop=[""])
        with pytest.raises(TypeError, match="stop must be a string or a list of strings, got 5"):
            dyntemp.Sampler(1.0).generate(llm, "Hi", stop=5)

    def test_messages(self, llm):
        with pytest.raises(ValueError, match=r"messages\[0\] must be a dict with a 'role' string, got 'hello'"):
            dyntemp.Sampler(1.0).chat(llm, ["hello"])


def test_adapt_is_hot_on_each_code_lines_first_non_blank_token_only(llm):
    # Code continued: a whitespace token at a blank line start (a blank line; SmolLM2 joins the
    # indentation to the newline, drawn at the line before) is drawn cold, the first token of text on
    # a line hot, the rest cold.
    prompt = "import math\n\n\ndef area(r):\n    if r < 0:\n        raise ValueError(r)\n"
    adapt = dyntemp.get_strategy("adapt", high=1.3, low=0.0, sentences=False)
    trace = dyntemp.Sampler(adapt, seed=5).generate(llm, prompt, max_tokens=60).trace
    line, hot_openers, indents = "", 0, 0
    for record in trace:
        if line.strip():  # inside a line of text: cold
            assert record.temperature == 0.0 and record.rule is None, (line, record)
        elif record.temperature == 0.0:  # cold at a blank line start: the greedy token was whitespace
            assert not record.piece.strip() and record.rule == "adapt:indent", (line, record)
            indents += 1
        else:
            assert record.rule == "adapt:start"
            hot_openers += bool(record.piece.strip())
        line = (line + record.piece).rpartition("\n")[2]
    assert indents >= 1 and hot_openers >= 3
