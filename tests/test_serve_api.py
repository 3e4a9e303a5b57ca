"""``dyntemp serve`` through the official ``openai`` client and raw HTTP: completions, chat,
streaming, strategies through ``extra_body``, the trace, logprobs, JSON output, and the same text as
``Sampler.generate`` for the same model, prompt, seed and settings."""

from __future__ import annotations

import json
import math

import httpx
import pytest

from dyntemp import Sampler

MODEL = "SmolLM2-135M-Instruct.Q4_1"
SEA = [{"role": "user", "content": "Write four short sentences about the sea."}]


def test_models_health_and_strategies(server):
    models = server.client().models.list().data
    assert [m.id for m in models] == [MODEL]
    assert server.health() == {"status": "ok", "slots_idle": 2, "slots_processing": 0}
    catalog = httpx.get(f"{server.url}/v1/strategies").json()
    names = [s["name"] for s in catalog["strategies"]]
    assert "edt" in names and "sentence" in names and names == sorted(names)
    edt = next(s for s in catalog["strategies"] if s["name"] == "edt")
    assert edt["parameters"]["theta"] == 1.0 and edt["summary"]
    assert catalog["order"][0] == "penalties" and catalog["order"][-2:] == ["mirostat", "adaptive_p"]
    top_k = next(s for s in catalog["stages"] if s["stage"] == "top_k")["settings"][0]
    assert top_k == {"setting": "top_k", "default": 40, "off": 0, "help": "top-k", "fields": ["top_k"],
                     "flag": "--top-k"}


@pytest.mark.parametrize("strategy", ["edt:theta=0.6", {"name": "target-entropy", "target": 1.5}])
def test_completion_gives_the_library_text(server, model2048, strategy):
    prompt = "The history of the sea is"
    reply = server.client().completions.create(model=MODEL, prompt=prompt, max_tokens=40, seed=11,
                                               extra_body={"strategy": strategy, "top_k": 20})
    expected = Sampler(strategy, seed=11, top_k=20).generate(model2048, prompt, max_tokens=40)
    choice = reply.choices[0]
    assert choice.text == expected.text and len(expected.text) > 20
    assert choice.finish_reason == {"eos": "stop", "stop": "stop", "length": "length"}[expected.finish_reason]
    assert reply.usage.completion_tokens == len(expected.tokens)
    assert reply.usage.prompt_tokens == len(model2048.tokenize(prompt.encode(), special=True))
    assert reply.object == "text_completion" and reply.id.startswith("cmpl-")


def test_chat_gives_the_library_text(server, model2048):
    reply = server.client().chat.completions.create(model=MODEL, messages=SEA, max_tokens=60, seed=4,
                                                    temperature=0.9, stop=["\n\n"])
    expected = Sampler(0.9, seed=4).chat(model2048, SEA, max_tokens=60, stop=["\n\n"])
    assert reply.choices[0].message.content == expected.text and expected.text
    assert reply.choices[0].message.role == "assistant"
    assert reply.object == "chat.completion"


def test_a_stream_is_the_whole_text_in_pieces_then_usage(server):
    client = server.client()
    whole = client.chat.completions.create(model=MODEL, messages=SEA, max_tokens=40, seed=2)
    chunks = list(client.chat.completions.create(model=MODEL, messages=SEA, max_tokens=40, seed=2, stream=True,
                                                 stream_options={"include_usage": True}))
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert "".join(pieces) == whole.choices[0].message.content
    assert len([p for p in pieces if p]) > 5  # it streamed, not one block
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == whole.choices[0].finish_reason and set(finishes[:-1]) == {None}
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_raw_stream_is_server_sent_events_ending_done(server):
    with httpx.stream("POST", f"{server.url}/v1/completions", timeout=60,
                      json={"prompt": "Once upon a time", "max_tokens": 12, "seed": 1, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert all(line.startswith("data: {") for line in lines[:-1])
    assert json.loads(lines[-2][6:])["choices"][0]["finish_reason"] in ("stop", "length")


def test_a_sentence_schedule_shows_token_by_token_in_the_streamed_trace(server):
    temps = [0.2, 0.9, 1.4]
    stream = server.client().chat.completions.create(
        model=MODEL, messages=SEA, max_tokens=120, seed=8, stream=True,
        extra_body={"sentence_temps": temps, "return_trace": True})
    records = [r for chunk in stream for r in chunk.choices[0].model_extra["trace"]]
    assert len({r["sentence_index"] for r in records}) >= 3
    for r in records:
        assert r["temperature"] == temps[min(r["sentence_index"], len(temps) - 1)]
        assert set(r) >= {"token", "temperature", "entropy", "probability", "sentence_index", "rule"}


def test_llama_server_dynatemp_fields_give_the_dynatemp_strategy(server, model2048):
    body = {"prompt": "The sea", "max_tokens": 30, "seed": 3, "temperature": 1.0, "dynatemp_range": 0.5,
            "dynatemp_exponent": 1.0, "return_trace": True}
    reply = httpx.post(f"{server.url}/v1/completions", json=body, timeout=60).json()
    expected = Sampler({"name": "dynatemp", "temperature": 1.0, "delta": 0.5}, seed=3).generate(
        model2048, "The sea", max_tokens=30)
    assert reply["choices"][0]["text"] == expected.text
    temperatures = [r["temperature"] for r in reply["choices"][0]["trace"]]
    assert all(0.5 <= t <= 1.5 for t in temperatures) and len(set(temperatures)) > 3


def test_rules_object_sets_temperatures(server):
    rules = {"base": 1.0, "rule": [{"name": "opening", "before_sentence": 1, "temperature": 0.0}]}
    reply = httpx.post(f"{server.url}/v1/chat/completions", timeout=60, json={
        "messages": SEA, "max_tokens": 60, "seed": 5, "rules": rules, "return_trace": True}).json()
    trace = reply["choices"][0]["trace"]
    assert any(r["sentence_index"] == 0 for r in trace) and any(r["sentence_index"] > 0 for r in trace)
    for r in trace:
        assert (r["temperature"], r["rule"]) == ((0.0, "opening") if r["sentence_index"] == 0 else (1.0, None))


def test_n_choices_take_consecutive_seeds(server, model2048):
    reply = server.client().completions.create(model=MODEL, prompt="A list of colours:", max_tokens=16, n=2,
                                               seed=20, temperature=1.0)
    texts = [Sampler(1.0, seed=s).generate(model2048, "A list of colours:", max_tokens=16).text for s in (20, 21)]
    assert [c.index for c in reply.choices] == [0, 1]
    assert [c.text for c in reply.choices] == texts and texts[0] != texts[1]


def test_completion_logprobs(server):
    reply = server.client().completions.create(model=MODEL, prompt="The capital of France is", max_tokens=6,
                                               temperature=0, logprobs=3)
    lp = reply.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == reply.usage.completion_tokens
    assert "".join(lp.tokens) == reply.choices[0].text
    assert lp.text_offset[0] == 0 and lp.text_offset[1] == len(lp.tokens[0])
    for token, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        assert len(top) == 3 and logprob <= 0
        assert max(top.values()) == pytest.approx(logprob)  # greedy: the chosen token is the most likely
        assert sum(math.exp(v) for v in top.values()) <= 1 + 1e-6


def test_chat_logprobs(server):
    reply = server.client().chat.completions.create(model=MODEL, messages=SEA, max_tokens=8, seed=1,
                                                    logprobs=True, top_logprobs=2)
    content = reply.choices[0].logprobs.content
    assert len(content) == reply.usage.completion_tokens
    for item in content:
        assert bytes(item.bytes).decode("utf-8", "replace") == item.token
        assert len(item.top_logprobs) == 2 and item.top_logprobs[0].logprob >= item.top_logprobs[1].logprob
        assert item.logprob <= item.top_logprobs[0].logprob + 1e-6


def test_json_schema_response_format_gives_json_at_high_temperature(server):
    schema = {"type": "object", "properties": {"answer": {"type": "boolean"}}, "required": ["answer"]}
    for seed in range(3):
        reply = server.client().chat.completions.create(
            model=MODEL, seed=seed, temperature=1.8, max_tokens=40,
            messages=[{"role": "user", "content": "Is the sea salty? Answer in JSON."}],
            response_format={"type": "json_schema", "json_schema": {"name": "yes_no", "schema": schema}})
        assert isinstance(json.loads(reply.choices[0].message.content)["answer"], bool)


def test_ignore_eos_runs_to_max_tokens(server):
    reply = server.client().completions.create(model=MODEL, prompt="Hi", max_tokens=50, seed=0,
                                               extra_body={"ignore_eos": True})
    assert reply.usage.completion_tokens == 50 and reply.choices[0].finish_reason == "length"


def test_generation_past_the_context_ends_with_length(server):
    prompt = list(range(1000, 1000 + 2040))  # token ids: 2,040 of the 2,048 the context holds
    reply = httpx.post(f"{server.url}/v1/completions", timeout=120,
                       json={"prompt": prompt, "max_tokens": 100, "ignore_eos": True}).json()
    assert reply["choices"][0]["finish_reason"] == "length"
    assert reply["usage"]["prompt_tokens"] == 2040 and reply["usage"]["completion_tokens"] <= 8


def test_metrics_are_prometheus_text(server):
    server.client().completions.create(model=MODEL, prompt="Hi", max_tokens=3)
    text = httpx.get(f"{server.url}/metrics").text
    for name in ("dyntemp_requests_total", "dyntemp_completion_tokens_total", "dyntemp_queue_length",
                 "dyntemp_busy_slots", "dyntemp_seconds_per_token_bucket"):
        assert name in text
    assert 'dyntemp_requests_total{route="/v1/completions",status="200"}' in text


def test_metrics_count_every_request_s_tokens(server):
    before = server.metric("dyntemp_completion_tokens_total")
    for i in range(6):
        body = {"prompt": "Hi", "max_tokens": 5, "ignore_eos": True, "stream": bool(i % 2)}
        httpx.post(f"{server.url}/v1/completions", json=body, timeout=60).raise_for_status()
    assert server.metric("dyntemp_completion_tokens_total") - before == 30
