"""The frontends people use, unchanged: SillyTavern's llama.cpp type (its body to llama-server's
``/completion``, ``/tokenize``, ``/props``), KoboldCpp's clients (KoboldAI Lite, SillyTavern's
KoboldCpp type), Open WebUI's extra parameters. The bodies are fixtures built as their request
builders build them (``tests/data/frontends``); the responses are parsed the way they parse them."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import Server

FIXTURES = Path(__file__).parent / "data" / "frontends"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def events(response: httpx.Response) -> list[dict]:
    """The ``data:`` payloads of a server-sent event stream, as SillyTavern's reader splits them."""
    out = []
    for block in response.text.split("\n\n"):
        data = [line[len("data:"):].strip() for line in block.splitlines() if line.startswith("data:")]
        if data and data[0] != "[DONE]":
            out.append(json.loads(data[0]))
    return out


def sillytavern_text(data: dict) -> str:
    """How SillyTavern reads a completion: ``choices[0].text``, else ``content``."""
    choices = data.get("choices")
    return choices[0]["text"] if choices else data.get("content", "")


@pytest.fixture(scope="module")
def served():
    running = Server("--parallel", "2", "--threads", "2")
    yield running
    assert running.stop() == 0, running.logs()


def test_sillytavern_llama_cpp_type_with_dynamic_temperature(served):
    body = fixture("sillytavern_llamacpp.json")
    response = httpx.post(f"{served.url}/completion", json=body, timeout=120)
    assert response.status_code == 200, response.text
    data = response.json()
    assert sillytavern_text(data) and data["stop"] is True and data["tokens_predicted"] > 0
    assert data["generation_settings"]["strategy"] == {"name": "dynatemp", "temperature": 1.0, "delta": 0.5,
                                                       "exponent": 1.0}
    # Penalties are off: the body's samplers leave them out, as llama-server reads them.
    assert data["generation_settings"]["order"] == ["top_k", "typical_p", "top_p", "min_p", "temperature"]
    ignored = response.headers["x-dyntemp-ignored"]
    assert "api_type" in ignored and "cache_prompt" in ignored and "samplers:tfs_z" in ignored
    logs = served.wait_for_log("api_server")
    assert "ignored: " in logs and "api_server" in logs
    probabilities = data["completion_probabilities"]
    assert len(probabilities) == data["tokens_predicted"] and len(probabilities[0]["top_logprobs"]) == 3
    assert 0 < probabilities[0]["probs"][0]["prob"] <= 1  # the form older SillyTavern reads

    # The same request as OpenAI's /v1/completions gives the same text.
    same = {"prompt": body["prompt"], "max_tokens": 24, "temperature": 1.0, "dynatemp_range": 0.5,
            "dynatemp_exponent": 1.0, "top_k": 40, "top_p": 0.95, "min_p": 0.05, "seed": 7, "stop": ["\n###"],
            "samplers": ["top_k", "typical_p", "top_p", "min_p", "temperature"]}
    openai = httpx.post(f"{served.url}/v1/completions", json=same, timeout=120).json()
    assert openai["choices"][0]["text"] == data["content"]

    streamed = httpx.post(f"{served.url}/completion", json={**body, "stream": True}, timeout=120)
    assert streamed.status_code == 200 and "[DONE]" not in streamed.text
    chunks = events(streamed)
    assert "".join(sillytavern_text(c) for c in chunks) == data["content"]  # appended, as SillyTavern does
    assert chunks[-1]["stop"] is True and chunks[-1]["content"] == "" and all(not c["stop"] for c in chunks[:-1])


def test_sillytavern_helpers_tokenize_props_models(served):
    tokens = httpx.post(f"{served.url}/tokenize", json={"content": "Hello world"}, timeout=30).json()["tokens"]
    assert tokens and all(isinstance(t, int) for t in tokens)
    text = httpx.post(f"{served.url}/detokenize", json={"tokens": tokens}, timeout=30).json()["content"]
    assert text == "Hello world"
    pieces = httpx.post(f"{served.url}/tokenize", json={"content": "Hi", "with_pieces": True}, timeout=30).json()
    assert pieces["tokens"][0]["piece"] == "Hi"
    props = httpx.get(f"{served.url}/props", timeout=30).json()
    assert isinstance(props["chat_template"], str) and props["chat_template"]
    assert props["default_generation_settings"]["n_ctx"] == 2048 and props["total_slots"] == 2
    assert "/" not in props["model_path"]  # the model's name, not the server's file system
    models = httpx.get(f"{served.url}/v1/models", timeout=30).json()
    assert models["data"][0]["id"]
    prompt = httpx.post(f"{served.url}/apply-template", json={"messages": [{"role": "user", "content": "Hi"}]},
                        timeout=30).json()["prompt"]
    assert "Hi" in prompt and prompt.rstrip().endswith("assistant")
    slots = httpx.get(f"{served.url}/slots", timeout=30).json()
    assert [slot["id"] for slot in slots] == [0, 1]
    too_long = httpx.post(f"{served.url}/tokenize", json={"content": "x" * 10_000_000}, timeout=60)
    assert too_long.status_code == 413  # over the body limit, unread


def test_koboldcpp_api(served):
    body = fixture("kobold_generate.json")
    data = httpx.post(f"{served.url}/api/v1/generate", json=body, timeout=120).json()
    result = data["results"][0]
    assert result["text"] and result["finish_reason"] in ("stop", "length")
    # The same request in OpenAI's fields: KoboldCpp's names and sampler numbers read as llama-server's.
    same = {"prompt": body["prompt"], "max_tokens": 16, "temperature": 0.7, "dynatemp_range": 0.3,
            "dynatemp_exponent": 1.0, "repeat_penalty": 1.1, "repeat_last_n": 320, "top_k": 40, "top_p": 0.92,
            "min_p": 0.0, "seed": 11, "stop": ["\n\n"],
            "samplers": ["penalties", "top_k", "typical_p", "top_p", "min_p", "temperature"]}
    openai = httpx.post(f"{served.url}/v1/completions", json=same, timeout=120).json()
    assert openai["choices"][0]["text"] == result["text"]
    stream = httpx.post(f"{served.url}/api/extra/generate/stream", json=body, timeout=120)
    assert "event: message" in stream.text
    chunks = events(stream)
    assert "".join(c["token"] for c in chunks) == result["text"]
    assert all(c["finish_reason"] == "null" for c in chunks[:-1]) and chunks[-1]["finish_reason"] != "null"
    assert httpx.get(f"{served.url}/api/extra/version", timeout=30).json()["result"] == "KoboldCpp"
    assert httpx.get(f"{served.url}/api/v1/model", timeout=30).json()["result"]
    assert httpx.get(f"{served.url}/api/extra/true_max_context_length", timeout=30).json() == {"value": 2048}
    count = httpx.post(f"{served.url}/api/extra/tokencount", json={"prompt": "Hello world"}, timeout=30).json()
    assert count["value"] == len(count["ids"]) == 2


def test_koboldcpp_abort_stops_a_generation(served):
    body = {**fixture("kobold_generate.json"), "max_length": 2000, "ban_eos_token": True, "stop_sequence": []}
    done = {}
    thread = threading.Thread(target=lambda: done.update(response=httpx.post(
        f"{served.url}/api/v1/generate", json=body, timeout=120)))
    start = time.monotonic()
    thread.start()
    deadline = time.monotonic() + 30
    while httpx.get(f"{served.url}/health", timeout=10).json()["slots_processing"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    aborted = httpx.post(f"{served.url}/api/extra/abort", timeout=30).json()
    assert aborted == {"success": "true", "done": "true"}
    thread.join(60)
    assert time.monotonic() - start < 30 and done["response"].status_code == 499


def test_open_webui_extra_parameters_are_ignored_and_named(served):
    body = {"model": "SmolLM2-135M-Instruct.Q4_1", "messages": [{"role": "user", "content": "Say hi"}],
            "stream": False, "max_tokens": 8, "seed": 3, "temperature": 0.7, "top_k": 40, "num_ctx": 4096,
            "keep_alive": "5m", "format": "json", "num_thread": 2, "use_mmap": True, "repeat_penalty": 1.1,
            "strategy": "edt:theta=0.6"}
    body.pop("temperature")  # a strategy and temperature are one choice
    response = httpx.post(f"{served.url}/v1/chat/completions", json=body, timeout=120)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"]
    assert set(response.headers["x-dyntemp-ignored"].split(", ")) == {"num_ctx", "keep_alive", "format",
                                                                     "num_thread", "use_mmap"}


def test_a_typo_is_still_refused_and_other_forms_are_read(served):
    typo = httpx.post(f"{served.url}/v1/completions", json={"prompt": "x", "top_pp": 0.5}, timeout=30)
    assert typo.status_code == 400 and "Did you mean 'top_p'" in typo.json()["error"]["message"]
    disagree = httpx.post(f"{served.url}/v1/completions", json={"prompt": "x", "rep_pen": 1.2, "repeat_penalty": 1.1},
                          timeout=30)
    assert disagree.status_code == 400 and disagree.json()["error"]["param"] == "rep_pen"
    # llama-server's letters for samplers, logit_bias pairs with text and false, DRY breakers as JSON text.
    banned = {"prompt": "The capital of France is", "max_tokens": 3, "temperature": 0.0, "samplers": "kpmt",
              "logit_bias": [[" Paris", False]], "dry_multiplier": 0.8, "dry_sequence_breakers": '["\\n"]'}
    data = httpx.post(f"{served.url}/completion", json=banned, timeout=60).json()
    assert not data["content"].startswith(" Paris") and data["generation_settings"]["order"] == [
        "top_k", "top_p", "min_p", "temperature"]
    free = httpx.post(f"{served.url}/completion", json={**banned, "logit_bias": []}, timeout=60).json()
    assert free["content"].startswith(" Paris")


def test_ignored_names_cannot_break_the_response(served):
    # A field's name is the client's text: a newline or trailing space would make an illegal header.
    body = {"prompt": "x", "max_tokens": 1, "bad\nname": 1, "samplers": ["", "top_k", "temperature"], "é ": 2}
    response = httpx.post(f"{served.url}/v1/completions", json=body, timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["x-dyntemp-ignored"].isascii()


def test_strict_refuses_what_it_does_not_know():
    running = Server("--parallel", "1", "--threads", "2", "--strict")
    try:
        response = httpx.post(f"{running.url}/v1/completions", json={"prompt": "x", "cache_prompt": True}, timeout=30)
        assert response.status_code == 400 and response.json()["error"]["param"] == "cache_prompt"
        dropped = httpx.post(f"{running.url}/v1/completions", timeout=30,
                             json={"prompt": "x", "samplers": ["top_k", "tfs_z", "temperature"]})
        assert dropped.status_code == 400 and "unknown stage 'tfs_z'" in dropped.json()["error"]["message"]
    finally:
        assert running.stop() == 0, running.logs()


def test_a_chat_template_given_to_the_server_formats_every_chat_route(tmp_path):
    template = "{{ bos_token }}{% for m in messages %}Question: {{ m['content'] }}\nAnswer:{% endfor %}"
    (tmp_path / "qa.jinja").write_text(template)
    running = Server("--parallel", "1", "--threads", "2", "--chat-template", str(tmp_path / "qa.jinja"))
    try:
        messages = [{"role": "user", "content": "Name a sea."}]
        assert httpx.get(f"{running.url}/props", timeout=30).json()["chat_template"] == template
        prompt = httpx.post(f"{running.url}/apply-template", json={"messages": messages}, timeout=30).json()["prompt"]
        assert prompt.endswith("Question: Name a sea.\nAnswer:")
        reply = running.client().chat.completions.create(model="SmolLM2-135M-Instruct.Q4_1", messages=messages,
                                                         max_tokens=2)
        tokens = httpx.post(f"{running.url}/tokenize", json={"content": prompt, "add_special": False,
                                                             "parse_special": True}, timeout=30).json()["tokens"]
        assert reply.usage.prompt_tokens == len(tokens)
    finally:
        assert running.stop() == 0, running.logs()
