"""Hostile clients with a valid key: requests built to crash the server, hold a slot for ever, freeze
every other client or fill the log. Each is checked from outside: the server's exit status, how fast
``/health`` answers meanwhile, the slots ``/health`` reports busy, the log's size."""

from __future__ import annotations

import json
import socket
import textwrap
import threading
import time

import httpx
import pytest

from conftest import Server

KEY = "hostile-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
COMPLETIONS = "/v1/completions"

# A strategy that never returns from one token's call, as a catastrophic regex on a long line did: from
# the fourth token on (stall-test) or at once (stall-now-test).
STALL = '''
import dyntemp

@dyntemp.register_strategy("stall-test")
class Stall(dyntemp.Strategy):
    def temperature(self, step):
        while step.index >= 3:
            pass
        return 0.0

@dyntemp.register_strategy("stall-now-test")
class StallNow(dyntemp.Strategy):
    def temperature(self, step):
        while True:
            pass
'''


@pytest.fixture(scope="module")
def stall_module(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stall")
    (folder / "stall_test.py").write_text(textwrap.dedent(STALL))
    return {"PYTHONPATH": str(folder)}


@pytest.fixture(scope="module")
def hostile(stall_module):
    running = Server("--parallel", "2", "--threads", "2", "--ctx-size", "2048", "--api-key", KEY, "--import",
                     "stall_test", "--header-timeout", "1", "--grace", "2", env=stall_module)
    yield running
    assert running.stop() == 0, running.logs()


class HealthWatch:
    """Asks ``/health`` every 50 ms on its own thread while the block runs; ``slowest`` is the
    longest it took to answer, in seconds."""

    def __init__(self, server: Server) -> None:
        self.server, self.slowest, self.answers = server, 0.0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                start = time.monotonic()
                assert client.get(f"{self.server.url}/health").status_code == 200
                self.slowest = max(self.slowest, time.monotonic() - start)
                self.answers += 1
                self._stop.wait(0.05)

    def __enter__(self) -> "HealthWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def post(server: Server, body, *, path: str = COMPLETIONS, timeout: float = 60, **kwargs) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, headers=AUTH, timeout=timeout, **kwargs)


def assert_refused(response: httpx.Response, status: int, param: str | None, *words: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["param"] == param, error
    for word in words:
        assert word in error["message"], error


def assert_idle(server: Server, within: float = 10.0) -> None:
    """Both slots come free (a killed slot is started again) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while server.health()["slots_idle"] != 2:
        assert time.monotonic() < deadline, server.health()
        time.sleep(0.1)


def test_a_deep_grammar_is_refused_and_the_server_lives(hostile):
    deep = "root ::= " + "(" * 50_000 + '"a"' + ")" * 50_000  # SIGSEGV in llama.cpp's parser, unchecked
    with HealthWatch(hostile) as watch:
        response = post(hostile, {"prompt": "x", "grammar": deep})
    assert_refused(response, 400, "grammar", "50000 levels of nested parentheses", "--max-grammar-depth 128")
    assert watch.slowest < 1.0 and hostile.process.poll() is None
    # Nesting within the limit is parsed (by a slot) and holds.
    nested = "root ::= " + "(" * 100 + '"yes" | "no"' + ")" * 100
    answer = post(hostile, {"prompt": "Is the sea salty?", "grammar": nested, "max_tokens": 4}).json()
    assert answer["choices"][0]["text"] in ("yes", "no")


def test_a_large_grammar_is_refused_before_it_is_parsed(hostile):
    alternatives = "root ::= " + " | ".join(f'"w{i}"' for i in range(100_000))  # 1 MB: 17 s of parsing
    with HealthWatch(hostile) as watch:
        response = post(hostile, {"prompt": "x", "grammar": alternatives})
    assert_refused(response, 400, "grammar", "--max-grammar-bytes 262144")
    assert watch.slowest < 1.0


def test_a_grammar_llama_cpp_cannot_parse_is_not_echoed_to_the_log(hostile):
    before = len(hostile.logs())
    marker = "ECHO-MARKER-" + "x" * 2000
    response = post(hostile, {"prompt": "x", "grammar": f'root ::= "{marker}" (((('})
    assert_refused(response, 400, "grammar", "GBNF")
    assert_refused(post(hostile, {"prompt": "x", "grammar": "@/etc/passwd"}), 400, "grammar", "GBNF")
    log = hostile.logs()[before:]
    assert "ECHO-MARKER" not in log and "root:" not in log and len(log) < 1000, log


def test_a_huge_body_is_refused_unread_and_nobody_waits(hostile):
    prompt = "hello " * 1_750_000  # 10.5 MB: 22 s of tokenizing on the event loop, unchecked
    with HealthWatch(hostile) as watch:
        response = post(hostile, {"prompt": prompt})
    assert_refused(response, 413, None, "--max-body-bytes 8388608")
    assert response.json()["error"]["code"] == "request_too_large"
    assert watch.slowest < 1.0


def test_a_prompt_longer_than_any_that_fits_is_refused_before_tokenizing(hostile):
    prompt = "hello " * 800_000  # 4.8 MB, under the body limit
    with HealthWatch(hostile) as watch:
        start = time.monotonic()
        response = post(hostile, {"prompt": prompt})
        took = time.monotonic() - start
    assert_refused(response, 400, "prompt", "4800000 characters", "2048 tokens")
    assert response.json()["error"]["code"] == "context_length_exceeded"
    assert watch.slowest < 1.0 and took < 10


@pytest.mark.parametrize("strategy", [
    json.loads('{"name": "clamp", "strategy": ' * 400 + '0.5' + "}" * 400),
    "clamp:strategy=" + '{"name":"clamp","strategy":' * 300 + "0.5" + "}" * 300,
], ids=["table", "text"])
def test_a_deep_strategy_is_a_400(hostile, strategy):
    response = post(hostile, {"prompt": "x", "strategy": strategy})
    assert_refused(response, 400, "strategy", "levels of nesting", "--max-spec-depth 8")
    assert "RecursionError" not in hostile.logs()


def test_a_backtracking_regex_runs_in_linear_time(hostile):
    # Python's re needs 2^n steps for this pattern on a line of n characters without a NUL: the slot hung.
    rules = {"rule": [{"line_regex": "^(.|.)*\u0000", "temperature": 0.1}], "base": 0.0}
    response = post(hostile, {"prompt": "Write a long sentence:", "rules": rules, "max_tokens": 48,
                              "ignore_eos": True, "grammar": "root ::= [^\\n]*", "t_max_predict_ms": 60_000})
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    assert "timed_out" not in choice and response.json()["usage"]["completion_tokens"] == 48
    assert "\n" not in choice["text"] and len(choice["text"]) > 48


def test_a_regex_re2_cannot_run_is_a_400(hostile):
    response = post(hostile, {"prompt": "x", "rules": {"rule": [{"line_regex": "(a)\\1", "temperature": 1}]}})
    assert_refused(response, 400, "rules", "RE2")


def test_a_slot_that_does_not_stop_at_its_deadline_is_killed_and_started_again(hostile):
    with HealthWatch(hostile) as watch:
        stalled = {}
        thread = threading.Thread(target=lambda: stalled.update(response=post(
            hostile, {"prompt": "x", "strategy": "stall-now-test", "t_max_predict_ms": 1500})))
        thread.start()
        time.sleep(0.5)
        # The other slot serves meanwhile.
        other = post(hostile, {"prompt": "The sea is", "max_tokens": 4})
        assert other.status_code == 200
        thread.join(30)
    assert_refused(stalled["response"], 504, None, "1.5 s", "slot was stopped")
    assert stalled["response"].json()["error"]["code"] == "timeout"
    assert watch.slowest < 1.0
    assert_idle(hostile)
    assert post(hostile, {"prompt": "The sea is", "max_tokens": 4}).status_code == 200


def test_what_a_killed_slot_made_is_kept_and_says_it_timed_out(hostile):
    body = {"prompt": "The sea is", "strategy": "stall-test", "max_tokens": 50, "t_max_predict_ms": 1500}
    whole = post(hostile, body).json()
    choice = whole["choices"][0]
    assert choice["finish_reason"] == "length" and choice["timed_out"] is True
    assert choice["text"] and whole["usage"]["completion_tokens"] >= 1
    assert_idle(hostile)
    with httpx.stream("POST", f"{hostile.url}{COMPLETIONS}", json={**body, "stream": True}, headers=AUTH,
                      timeout=60) as response:
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks)
    last = chunks[-1]["choices"][0]
    assert last["finish_reason"] == "length" and last["timed_out"] is True
    assert_idle(hostile)


def test_a_generation_past_its_deadline_ends_with_what_it_has(hostile):
    body = {"prompt": "The sea is", "max_tokens": 2000, "ignore_eos": True, "t_max_predict_ms": 1000}
    start = time.monotonic()
    whole = post(hostile, body).json()
    assert time.monotonic() - start < 10
    choice = whole["choices"][0]
    assert choice["finish_reason"] == "length" and choice["timed_out"] is True
    assert 0 < whole["usage"]["completion_tokens"] < 2000
    response = post(hostile, {**body, "t_max_predict_ms": 0, "max_tokens": 3})  # <= 0: the server's --timeout
    assert "timed_out" not in response.json()["choices"][0]


def test_a_client_that_leaves_a_stalled_slot_frees_it(hostile):
    with httpx.stream("POST", f"{hostile.url}{COMPLETIONS}", headers=AUTH, timeout=60,
                      json={"prompt": "The sea is", "strategy": "stall-test", "max_tokens": 50, "stream": True}) as r:
        lines = r.iter_lines()  # kept: a dropped iterator closes the stream
        first = next(lines)  # the first tokens came; then the strategy never returns
        assert hostile.health()["slots_processing"] == 1, first
    assert_idle(hostile, within=5.0)  # a second after it left, the slot was killed; then it loaded again


CHAT = {"messages": [{"role": "user", "content": "x"}]}


@pytest.mark.parametrize(("body", "param", "words"), [
    ({"prompt": "x", "stop": ["x"] * 10_000}, "stop", ["10000 strings", "--max-stop 16"]),
    ({"prompt": "x", "stop": ["x" * 2048]}, "stop", ["2048 characters", "--max-stop-chars 512"]),
    ({"prompt": "x", "sentence_temps": [0.5] * 100_000}, "sentence_temps",
     ["100000 values", "--max-sentence-temps 256"]),
    ({"prompt": "x", "logit_bias": {str(i): 1 for i in range(5000)}}, "logit_bias",
     ["5000 entries", "--max-logit-bias 4096"]),
    ({"prompt": "x", "rules": {"rule": [{"temperature": 1}] * 100}}, "rules", ["100 rules", "--max-rules 64"]),
    ({"prompt": "x", "n": 100, "max_tokens": 1000}, "max_tokens", ["100000 tokens", "--max-request-tokens 65536"]),
    ({**CHAT, "n": 64}, "n", ["the context", "--max-request-tokens 65536"]),
], ids=["stop", "stop-chars", "sentence-temps", "logit-bias", "rules", "request-tokens", "request-context"])
def test_a_field_over_its_limit_is_a_400_naming_the_flag(hostile, body, param, words):
    response = post(hostile, body, path=COMPLETIONS if "prompt" in body else "/v1/chat/completions")
    assert_refused(response, 400, param, *words)
    assert response.json()["error"]["code"] == "limit_exceeded"


def test_too_many_messages_is_a_400(hostile):
    messages = [{"role": "user", "content": "x"}] * 2000
    assert_refused(post(hostile, {"messages": messages}, path="/v1/chat/completions"), 400, "messages",
                   "2000 messages", "--max-messages 1024")


def test_slow_clients_are_cut_off_and_do_not_starve_the_others(hostile):
    slow = []
    for _ in range(200):
        sock = socket.create_connection(("127.0.0.1", hostile.port))
        sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")  # and the rest of its headers never
        slow.append(sock)
    try:
        assert post(hostile, {"prompt": "The sea is", "max_tokens": 2}).status_code == 200
        time.sleep(2.5)  # --header-timeout 1
        for sock in slow:
            sock.settimeout(5)
            assert sock.recv(100) == b""  # closed by the server
    finally:
        for sock in slow:
            sock.close()


def test_the_key_is_checked_before_the_body_and_guards_the_schema(hostile):
    response = httpx.post(f"{hostile.url}{COMPLETIONS}", content=b"{not json", timeout=10,
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(f"{hostile.url}/openapi.json", timeout=10).status_code == 401
    schema = httpx.get(f"{hostile.url}/openapi.json", headers=AUTH, timeout=10).json()
    assert COMPLETIONS in schema["paths"]
    assert httpx.get(f"{hostile.url}/docs", headers=AUTH, timeout=10).status_code == 404


def test_sigterm_with_a_stalled_slot_exits_within_the_grace(stall_module):
    running = Server("--parallel", "1", "--threads", "1", "--import", "stall_test", "--grace", "2",
                     env=stall_module)
    thread = threading.Thread(target=lambda: httpx.post(f"{running.url}{COMPLETIONS}", timeout=60,
                                                        json={"prompt": "x", "strategy": "stall-now-test"}))
    thread.start()
    time.sleep(1.0)
    start = time.monotonic()
    assert running.stop(timeout=30) == 0, running.logs()
    assert time.monotonic() - start < 2 + 6  # the grace, the kill a second after, the exit
    thread.join(30)
