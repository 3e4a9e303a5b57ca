"""``dyntemp serve``'s keys (401, 403, 429), its bounded queue (503), a client leaving mid-stream,
and shutting down on SIGTERM: on real servers, with the official ``openai`` client and httpx."""

from __future__ import annotations

import json
import signal
import threading
import time

import httpx
import openai
import pytest
from conftest import Server

from dyntemp.llama.model import default_model_path

ALICE, BOB = "sk-alice-0123456789", "sk-bob-9876543210"
LONG = {"prompt": "Once upon a time", "max_tokens": 2000, "ignore_eos": True, "stream": True}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    """Two names for the default model, one slot each, no queue; alice may use both, one request at
    a time; bob only ``b``."""
    keys = tmp_path_factory.mktemp("keys") / "keys.toml"
    keys.write_text(f'[keys.alice]\nkey = "{ALICE}"\nmax_concurrent = 1\n\n'
                    f'[keys.bob]\nkey = "{BOB}"\nmodels = ["b"]\n')
    path = default_model_path()
    running = Server("--model", f"a={path}", "--model", f"b={path}", "--threads", "2", "--max-queue", "0",
                     "--api-keys", str(keys))
    yield running
    assert running.stop() == 0, running.logs()


def _wait_idle(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while server.health()["slots_processing"]:
        assert time.monotonic() < deadline, "a slot stayed busy"
        time.sleep(0.05)


def _start_stream(server: Server, key: str, model: str) -> httpx.Response:
    """A long stream, its first chunk read: it holds its slot until closed."""
    client = httpx.Client(timeout=60, headers={"Authorization": f"Bearer {key}"})
    response = client.send(client.build_request("POST", f"{server.url}/v1/completions", json={**LONG, "model": model}),
                           stream=True)
    assert response.status_code == 200
    # The iterator is kept: dropping it would close the connection, which is how a client leaves.
    response.lines = response.iter_lines()
    next(response.lines)
    response.client = client
    return response


def _close(response: httpx.Response) -> None:
    response.close()
    response.client.close()


@pytest.mark.parametrize("route", ["/v1/models", "/v1/strategies", "/metrics"])
def test_routes_need_a_key(keyed, route):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {ALICE}"}):
        response = httpx.get(f"{keyed.url}{route}", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(f"{keyed.url}{route}", headers={"Authorization": f"Bearer {ALICE}"}).status_code == 200


def test_health_stays_open(keyed):
    assert keyed.health()["status"] == "ok"


def test_the_openai_client_with_and_without_a_key(keyed):
    with pytest.raises(openai.AuthenticationError):
        keyed.client("wrong").completions.create(model="a", prompt="Hi", max_tokens=2)
    reply = keyed.client(ALICE).completions.create(model="a", prompt="Hi", max_tokens=2)
    assert reply.usage.completion_tokens == 2


def test_a_key_uses_only_its_models(keyed):
    with pytest.raises(openai.PermissionDeniedError) as caught:
        keyed.client(BOB).completions.create(model="a", prompt="Hi", max_tokens=2)
    assert caught.value.status_code == 403 and caught.value.body["param"] == "model"
    assert keyed.client(BOB).completions.create(model="b", prompt="Hi", max_tokens=2).choices
    assert [m.id for m in keyed.client(BOB).models.list().data] == ["b"]


def test_a_key_beyond_its_concurrent_requests_gets_429(keyed):
    stream = _start_stream(keyed, ALICE, "a")
    try:
        with pytest.raises(openai.RateLimitError) as caught:
            keyed.client(ALICE).completions.create(model="b", prompt="Hi", max_tokens=2)
        assert caught.value.status_code == 429 and caught.value.response.headers["Retry-After"]
        assert keyed.client(BOB).completions.create(model="b", prompt="Hi", max_tokens=2).choices  # others go on
    finally:
        _close(stream)
    _wait_idle(keyed)
    assert keyed.client(ALICE).completions.create(model="b", prompt="Hi", max_tokens=2).choices


def test_a_full_queue_answers_503_at_once(keyed):
    stream = _start_stream(keyed, BOB, "b")
    try:
        start = time.monotonic()
        with pytest.raises(openai.InternalServerError) as caught:
            keyed.client(ALICE).completions.create(model="b", prompt="Hi", max_tokens=2)
        assert time.monotonic() - start < 5
        assert caught.value.status_code == 503 and caught.value.response.headers["Retry-After"] == "1"
        assert caught.value.body["code"] == "queue_full"
    finally:
        _close(stream)
    _wait_idle(keyed)


def test_keys_and_prompts_never_reach_the_log(keyed):
    keyed.client(ALICE).completions.create(model="a", prompt="a secret prompt", max_tokens=2)
    logs = keyed.logs()
    assert "POST /v1/completions 200 2 tokens" in logs
    assert ALICE not in logs and BOB not in logs and "secret" not in logs


def test_a_client_leaving_mid_stream_frees_its_slot(server):
    before = server.metric("dyntemp_completion_tokens_total")
    streams = [_start_stream(server, "none", "SmolLM2-135M-Instruct.Q4_1") for _ in range(2)]
    assert server.health()["slots_processing"] == 2
    for stream in streams:
        _close(stream)
    _wait_idle(server, timeout=10)
    assert server.metric("dyntemp_completion_tokens_total") - before < 2 * 400  # stopped, far from 2 x 2000 tokens


def test_sigterm_lets_a_running_stream_finish_then_exits_0():
    running = Server("--grace", "30")
    chunks: list[str] = []

    def read() -> None:
        with httpx.stream("POST", f"{running.url}/v1/completions", timeout=60,
                          json={"prompt": "Hi", "max_tokens": 60, "ignore_eos": True, "stream": True}) as response:
            chunks.extend(line for line in response.iter_lines() if line)

    reader = threading.Thread(target=read)
    reader.start()
    while not running.health()["slots_processing"]:
        time.sleep(0.02)
    assert running.stop(signal.SIGTERM) == 0, running.logs()
    reader.join(30)
    assert chunks[-1] == "data: [DONE]" and len(chunks) > 10


def test_sigint_past_the_grace_period_cancels_and_exits_0():
    running = Server("--grace", "1")
    stream = _start_stream(running, "none", "SmolLM2-135M-Instruct.Q4_1")
    start = time.monotonic()
    assert running.stop(signal.SIGINT) == 0, running.logs()
    assert time.monotonic() - start < 20
    _close(stream)


def test_a_client_that_leaves_while_queued_frees_its_place():
    import socket

    running = Server("--threads", "2", "--max-queue", "1")
    try:
        holder = _start_stream(running, "none", "SmolLM2-135M-Instruct.Q4_1")
        body = json.dumps({"prompt": "Hi", "max_tokens": 2}).encode()
        queued = socket.create_connection(("127.0.0.1", running.port))
        queued.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                       b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        deadline = time.monotonic() + 10
        while running.metric("dyntemp_queue_length{") != 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        queued.close()  # its client leaves before it gets a slot
        while running.metric("dyntemp_queue_length{") != 0:
            assert time.monotonic() < deadline, "the queued client that left kept its place"
            time.sleep(0.05)
        assert running.health()["slots_processing"] == 1  # the holder still generates
        _close(holder)
    finally:
        assert running.stop() == 0, running.logs()


def _slot_pids(server: Server) -> list[int]:
    """The server's slot processes (not multiprocessing's resource tracker)."""
    import glob

    children = []
    for task in glob.glob(f"/proc/{server.process.pid}/task/*/children"):  # a thread's children are listed there
        with open(task) as f:
            children += [int(p) for p in f.read().split()]
    slots = []
    for child in children:
        with open(f"/proc/{child}/cmdline", "rb") as f:
            if b"spawn_main" in f.read():
                slots.append(child)
    return slots


def test_a_slot_process_that_dies_is_a_500_then_started_again():
    import os

    running = Server("--threads", "2")
    try:
        (first,) = _slot_pids(running)
        stream = _start_stream(running, "none", "SmolLM2-135M-Instruct.Q4_1")
        os.kill(first, signal.SIGKILL)
        lines = [line for line in stream.lines if line]
        _close(stream)
        error = json.loads(lines[-1][6:])["error"]
        assert error["type"] == "server_error" and "died" in error["message"] and "Traceback" not in lines[-1]
        _wait_idle(running)
        reply = running.client().completions.create(model="SmolLM2-135M-Instruct.Q4_1", prompt="Hi", max_tokens=3)
        assert reply.usage.completion_tokens == 3
        (second,) = _slot_pids(running)
        assert second != first
        replies = []
        whole = threading.Thread(target=lambda: replies.append(httpx.post(
            f"{running.url}/v1/completions", json={**LONG, "stream": False}, timeout=60)))
        whole.start()
        while not running.health()["slots_processing"]:
            time.sleep(0.02)
        os.kill(second, signal.SIGKILL)
        whole.join(60)
        assert replies[0].status_code == 500 and replies[0].json()["error"]["code"] == "slot_died"
    finally:
        assert running.stop() == 0, running.logs()
