"""Bad input to ``dyntemp serve``: every invalid request is a 400 in OpenAI's error schema naming the
field, before any decoding; bad command lines exit 2 with one line, before any model loads."""

from __future__ import annotations

import subprocess
import sys

import httpx
import openai
import pytest

COMPLETIONS = "/v1/completions"
CHAT = "/v1/chat/completions"
USER = [{"role": "user", "content": "Hi"}]

# (route, body, the param named, words the message has)
BAD = [
    (COMPLETIONS, {"prompt": "x", "temperature": "hot"}, "temperature", ["valid number", '"hot"']),
    (COMPLETIONS, {"prompt": "x", "max_tokens": 1.5}, "max_tokens", ["valid integer"]),
    (COMPLETIONS, {"prompt": "x", "top_p": 1.5}, "top_p", ["<= 1.0", "1.5"]),
    (COMPLETIONS, {"prompt": "x", "repeat_last_n": -5}, "repeat_last_n", [">= -1", "-5"]),
    (COMPLETIONS, {"prompt": "x", "mirostat": 3}, "mirostat", ["0 (off), 1 or 2"]),
    (COMPLETIONS, {"prompt": "x", "strategy": "edtt"}, "strategy", ["Did you mean 'edt'"]),
    (COMPLETIONS, {"prompt": "x", "strategy": {"name": "edt", "thta": 1}}, "strategy", ["Did you mean 'theta'"]),
    (COMPLETIONS, {"prompt": "x", "strategy": "edt", "temperature": 0.5}, "temperature", ["theta"]),
    (COMPLETIONS, {"prompt": "x", "strategy": "edt", "sentence_temps": [0.1]}, "sentence_temps", ["give one"]),
    (COMPLETIONS, {"prompt": "x", "temprature": 0.5}, "temprature", ["Did you mean 'temperature'"]),
    (COMPLETIONS, {"prompt": "x", "tools": []}, "tools", ["not supported"]),
    (COMPLETIONS, {"prompt": "x", "echo": True}, "echo", ["not supported"]),
    (COMPLETIONS, {"prompt": "x", "model": "gpt-4"}, "model", ["unknown model 'gpt-4'", "SmolLM2"]),
    (COMPLETIONS, {"prompt": "x", "rules": {"rule": [{"in_code_blok": True, "temperature": 0.1}]}}, "rules",
     ["Did you mean 'in_code_block'"]),
    (COMPLETIONS, {"prompt": "x", "rules": {"rules": []}}, "rules", ["unknown key 'rules'"]),
    (COMPLETIONS, {"prompt": "x", "strategy": {"name": "rules", "file": "/etc/passwd"}}, "strategy",
     ["file on the server"]),
    (COMPLETIONS, {"prompt": "x", "logit_bias": {"999999": 1}}, "logit_bias", ["not a token id"]),
    (COMPLETIONS, {"prompt": "x", "logit_bias": {"5": 1e39}, "ignore_eos": True}, "logit_bias", ["<="]),
    (COMPLETIONS, {"prompt": "x", "stream_options": {"include_usage": True}}, "stream_options", ["stream: true"]),
    (COMPLETIONS, {"prompt": "x", "n": 0}, "n", ["from 1 to 128"]),
    (COMPLETIONS, {"prompt": "x", "seed": -3}, "seed", [">= 0"]),
    (COMPLETIONS, {"prompt": "x", "stop": [""]}, "stop", ["cannot be empty"]),
    (COMPLETIONS, {"prompt": "x", "max_tokens": 0}, "max_tokens", [">= 1"]),
    (COMPLETIONS, {"prompt": "x", "max_tokens": 5, "n_predict": 6}, "n_predict", ["disagree"]),
    (COMPLETIONS, {"prompt": "x", "dynatemp_range": -1}, "dynatemp_range", [">= 0"]),
    (COMPLETIONS, {"prompt": "x", "dynatemp_exponent": 2}, "dynatemp_exponent", ["dynatemp_range"]),
    (COMPLETIONS, {"prompt": "x", "grammar": "root ::= foo"}, "grammar", ["GBNF"]),
    (COMPLETIONS, {"prompt": "x", "grammar": 'root ::= "a"', "json_schema": {}}, "json_schema", ["give one"]),
    (COMPLETIONS, {"prompt": "x", "response_format": {"type": "xml"}}, "response_format.type", ["json_object"]),
    (COMPLETIONS, {"prompt": "x", "logprobs": 30}, "logprobs", ["from 0 to 20"]),
    (COMPLETIONS, {"prompt": ""}, "prompt", ["empty"]),
    (COMPLETIONS, {"prompt": [1, 99999999]}, "prompt", ["token ids"]),
    (COMPLETIONS, {"prompt": "hello " * 2100}, "prompt", ["2048", "context"]),
    (COMPLETIONS, {}, "prompt", ["required"]),
    (CHAT, {"messages": [{"role": "user"}]}, "messages", ["content"]),
    (CHAT, {"messages": "Hi"}, "messages", ["valid list"]),
    (CHAT, {"messages": [{"role": "usr", "content": "Hi"}]}, "messages.0.role", ["'user'"]),
    (CHAT, {"messages": USER, "top_logprobs": 2}, "top_logprobs", ["logprobs: true"]),
    (CHAT, {"messages": USER, "response_format": {"type": "json_schema"}}, "response_format", ["json_schema"]),
]


@pytest.mark.parametrize(("route", "body", "param", "words"), BAD, ids=[f"{p}-{i}" for i, (_, _, p, _) in
                                                                          enumerate(BAD)])
def test_bad_request_is_400_naming_the_field(server, route, body, param, words):
    response = httpx.post(f"{server.url}{route}", json=body, timeout=60)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == param
    for word in words:
        assert word in error["message"]
    assert "Traceback" not in response.text


def test_bad_requests_decode_nothing(server):
    before = server.metric("dyntemp_completion_tokens_total")
    for route, body, _, _ in BAD:
        httpx.post(f"{server.url}{route}", json=body, timeout=60)
    assert server.metric("dyntemp_completion_tokens_total") == before


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b'{"prompt": "x",}', b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object(server, content):
    response = httpx.post(f"{server.url}{COMPLETIONS}", content=content, timeout=10,
                          headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_a_form_body_is_told_to_be_json(server):
    response = httpx.post(f"{server.url}{COMPLETIONS}", content=b'{"prompt": "Hi"}', timeout=10,
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400 and "Content-Type: application/json" in response.json()["error"]["message"]


def test_unknown_route_and_method_in_openai_schema(server):
    response = httpx.get(f"{server.url}/v2/nothing")
    assert response.status_code == 404 and "/v1/models" in response.json()["error"]["message"]
    response = httpx.get(f"{server.url}{COMPLETIONS}")
    assert response.status_code == 405 and response.json()["error"]["type"] == "invalid_request_error"


def test_the_openai_client_sees_a_bad_request_error(server):
    with pytest.raises(openai.BadRequestError) as caught:
        server.client().completions.create(model="SmolLM2-135M-Instruct.Q4_1", prompt="x",
                                           extra_body={"strategy": "edtt"})
    assert caught.value.status_code == 400 and caught.value.body["param"] == "strategy"


def _serve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dyntemp", "serve", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(("args", "message"), [
    (["--port", "0"], "--port must be from 1 to 65535"),
    (["--parallel", "0"], "--parallel must be >= 1"),
    (["--model", "no/such.gguf"], "--model no/such.gguf: no such file"),
    (["--top-p", "2"], "--top-p: top_p must be <= 1.0"),
    (["--strategy", "edtt"], "Did you mean 'edt'"),
    (["--api-keys", "no/such.toml"], "--api-keys no/such.toml: no such file"),
    (["--chat-template", "no/such.jinja"], "--chat-template no/such.jinja: no such file"),
])
def test_bad_command_line_exits_2_with_one_line(args, message):
    result = _serve(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_bad_keys_file_exits_2(tmp_path):
    keys = tmp_path / "keys.toml"
    keys.write_text('[keys.alice]\nkey = "a"\nmodels = ["gpt-4"]\n')
    result = _serve("--api-keys", str(keys))
    assert result.returncode == 2 and "unknown model 'gpt-4'" in result.stderr and "[keys.alice]" in result.stderr
    keys.write_text('[keys.alice]\nkey = "a"\nmax_concurent = 2\n')
    result = _serve("--api-keys", str(keys))
    assert result.returncode == 2 and "Did you mean 'max_concurrent'" in result.stderr


def test_a_port_in_use_exits_2(server):
    result = _serve("--port", str(server.port))
    assert result.returncode == 2 and "address already in use" in result.stderr


def test_no_keys_off_loopback_warns_loudly():
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: the bind fails after the warning, so the
    # test listens nowhere.
    result = _serve("--host", "192.0.2.1")
    assert "WARNING: listening on 192.0.2.1 without API keys" in result.stderr
    assert result.returncode == 2 and "--host 192.0.2.1" in result.stderr
    import socket

    with socket.socket() as taken:  # a loopback address, its port taken: no warning, then the bind fails
        taken.bind(("127.0.0.2", 0))
        taken.listen()
        quiet = _serve("--host", "127.0.0.2", "--port", str(taken.getsockname()[1]))
    assert quiet.returncode == 2 and "address already in use" in quiet.stderr and "WARNING" not in quiet.stderr
