"""Generation where users meet its limits: the end of the context, prompts of every type, strategies
that need the text, chat templates, threads, llama.cpp's log lines."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

import dyntemp
from dyntemp.llama import chat_tokens, load_model

LONG = "Write a very long story about the sea."


@pytest.fixture(scope="module")
def small():
    """The default model with a small context: 96 asked, rounded up to 256 (as llama.cpp rounds it)."""
    return load_model(n_ctx=96)


def test_the_end_of_the_context_stops_with_length_and_keeps_the_text(small):
    prompt = small.tokenize(LONG.encode())
    result = dyntemp.Sampler(0.9, seed=3, logit_bias={small.token_eos(): -float("inf")}).generate(
        small, LONG, max_tokens=400)
    assert result.finish_reason == "length"
    assert len(prompt) + len(result.tokens) == small.n_ctx() and len(result.trace) == len(result.tokens)
    assert result.text == small.detokenize(result.tokens).decode("utf-8", errors="replace")
    # The same limit as llama-cpp-python's own, which stops with "length" too.
    native = small.create_completion(LONG, max_tokens=400, logit_bias={small.token_eos(): -100.0}, seed=3)
    assert native["choices"][0]["finish_reason"] == "length"
    assert native["usage"]["completion_tokens"] == len(result.tokens)


def test_the_hook_at_the_end_of_the_context_ends_like_llama_cpp_python(small):
    sampler = dyntemp.Sampler(0.9, seed=3, logit_bias={small.token_eos(): -float("inf")})
    small.reset()
    out = small.create_completion(LONG, max_tokens=400, logits_processor=sampler.logits_processor(small),
                                  **sampler.llama_kwargs())
    assert out["choices"][0]["finish_reason"] == "length" and out["usage"]["total_tokens"] == small.n_ctx()


def test_a_prompt_that_does_not_fit_is_refused_before_any_decode(small):
    prompt = "sea " * 400
    with pytest.raises(ValueError, match=rf"the prompt is \d+ tokens and the context holds {small.n_ctx()} \(n_ctx; "
                                         r"--ctx-size"):
        dyntemp.Sampler(0.0).generate(small, prompt)


def test_prompts_are_text_bytes_or_token_ids(small):
    def first(prompt):
        return dyntemp.Sampler(0.0).generate(small, prompt, max_tokens=4).text

    ids = small.tokenize(b"The capital of France is", special=True)
    assert first(b"The capital of France is") == first("The capital of France is") == first(ids) \
        == first(np.array(ids))
    with pytest.raises(TypeError, match="prompt must be text or a list of token ids"):
        first(3.5)
    with pytest.raises(ValueError, match="a bytes prompt must be UTF-8 text"):
        first(b"\xff\xfe")


@pytest.mark.parametrize("name", ["sentence", "sentence-position", "adapt", "rules", "choose"])
def test_a_strategy_that_reads_the_text_is_refused_where_there_is_none(name):
    params = {"sentence": {"temperatures": [0.2, 1.0]}, "rules": {"rules": [{"before_sentence": 1,
                                                                             "temperature": 0.0}]},
              "choose": {"condition": "in_code_block", "then": 0.2, "otherwise": 1.0}}.get(name, {})
    sampler = dyntemp.Sampler(dyntemp.get_strategy(name, **params))
    with pytest.raises(ValueError, match="reads the generated text, but this sampler has no detokenizer"):
        sampler.logits_processor()
    with pytest.raises(ValueError, match="reads the generated text"):
        sampler.sample(np.zeros(10, dtype=np.float32))
    # With a detokenizer, or for a strategy that does not read the text, nothing is refused.
    sampler.use_detokenizer(lambda ids: b"x")
    assert sampler.sample(np.zeros(10, dtype=np.float32)) in range(10)
    assert dyntemp.Sampler("edt").sample(np.zeros(10, dtype=np.float32)) in range(10)
    assert dyntemp.Sampler(dyntemp.get_strategy("clamp", strategy="edt")).logits_processor() is not None


def test_chat_gives_the_prompt_ids_of_create_chat_completion(llm):
    messages = [{"role": "user", "content": "Name a sea."}]
    seen = []

    def spy(input_ids, scores):
        seen.append(list(input_ids))
        return scores

    llm.reset()
    llm.create_chat_completion(messages, max_tokens=1, logits_processor=[spy])
    assert chat_tokens(llm, messages) == seen[0]
    assert chat_tokens(llm, [{"role": "user", "content": [{"type": "text", "text": "Name a sea."}]}]) == seen[0]


@pytest.mark.parametrize("messages, message", [
    ([{"role": "user"}], r"messages\[0\]\['content'\] must be text or a list of text parts"),
    ([{"role": "user", "content": None}], r"messages\[0\]\['content'\] must be text"),
    ([{"content": "hi"}], r"messages\[0\] must be a dict with a 'role' string"),
    ("hello", "messages must be a non-empty list"),
])
def test_bad_chat_messages_name_what_is_wrong(llm, messages, message):
    with pytest.raises(ValueError, match=message):
        dyntemp.Sampler(0.0).chat(llm, messages, max_tokens=2)


def test_a_strategy_cannot_write_the_logits_it_is_shown():
    seen = []

    class Keeper(dyntemp.Strategy):
        def temperature(self, step):
            seen.append(step.logits)
            with pytest.raises(ValueError, match="read-only"):
                step.logits[0] = 99.0
            with pytest.raises(ValueError, match="read-only"):
                step.candidate_logits[0] = 99.0
            return 1.0

    dyntemp.Sampler(Keeper(), top_k=3, seed=1).sample(np.arange(10, dtype=np.float32))
    assert not seen[0].flags.writeable


def test_one_model_from_two_threads_takes_turns_and_one_sampler_is_refused(llm):
    results, errors = {}, []

    def run(key, sampler):
        try:
            results[key] = sampler.generate(llm, "The history of the sea is", max_tokens=24).tokens
        except RuntimeError as exc:
            errors.append(str(exc))

    alone = dyntemp.Sampler("edt", seed=4).generate(llm, "The history of the sea is", max_tokens=24).tokens
    threads = [threading.Thread(target=run, args=(k, dyntemp.Sampler("edt", seed=4))) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and all(tokens == alone for tokens in results.values())

    shared = dyntemp.Sampler("edt", seed=4)
    stream = shared.stream(llm, "The history of the sea is", max_tokens=24)
    next(stream)
    with pytest.raises(RuntimeError, match="this Sampler is already generating"):
        shared.generate(llm, "Hello", max_tokens=2)
    with pytest.raises(RuntimeError, match="this model is in the middle of another generation in this thread"):
        dyntemp.Sampler("edt").generate(llm, "Hello", max_tokens=2)
    stream.close()
    assert len(shared.generate(llm, "Hello", max_tokens=2).tokens) == 2


def test_register_replace_and_a_strategy_without_temperature():
    class NoTemperature(dyntemp.Strategy):
        pass

    with pytest.raises(TypeError, match="NoTemperature does not implement temperature"):
        dyntemp.register_strategy("no-temperature-test")(NoTemperature)

    @dyntemp.register_strategy("again-test")
    class First(dyntemp.Strategy):
        def temperature(self, step):
            return 0.1

    try:
        with pytest.raises(ValueError, match="or pass replace=True"):
            dyntemp.register_strategy("again-test")(First)

        @dyntemp.register_strategy("again-test", replace=True)
        class Second(dyntemp.Strategy):
            def temperature(self, step):
                return 0.2

        assert dyntemp.get_strategy("again-test").temperature(None) == 0.2
    finally:
        dyntemp.unregister_strategy("again-test")


def test_llama_cpp_says_nothing_unless_asked():
    code = ("from dyntemp.llama import load_model\n"
            "import dyntemp\n"
            "llm = load_model(n_ctx=64)\n"
            "dyntemp.Sampler(0.9, seed=1, logit_bias={llm.token_eos(): -float('inf')}).generate(llm, 'Hi', "
            "max_tokens=200)\n")
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == ""
    loud = subprocess.run([sys.executable, "-c", code.replace("n_ctx=64", "n_ctx=64, verbose=True")],
                          capture_output=True, text=True, timeout=300)
    assert loud.returncode == 0 and "llama_" in loud.stderr


def test_an_eval_item_that_does_not_fit_is_named_and_the_run_keeps_what_it_made(tmp_path):
    from dyntemp.eval import RunError, Sweep, parse_strategy, read_generations, run_sweep

    suite = tmp_path / "mixed.jsonl"
    suite.write_text('{"id": "short", "prompt": "Name a sea."}\n'
                     + '{"id": "huge", "prompt": "' + "sea " * 400 + '"}\n')
    sweep = Sweep([str(suite)], parse_strategy("constant:temperature=0.0"), seeds=1, max_tokens=4, n_ctx=128)
    with pytest.raises(RunError, match=r"suite mixed, item 'huge': the prompt is \d+ tokens and the context "
                                       r"holds 256"):
        run_sweep(sweep, tmp_path / "run", progress=False)
    assert [r.item for r in read_generations(tmp_path / "run")] == ["short"]
