"""``dyntemp serve`` under concurrent clients: streams at once, each the text the library gives for
its own settings, and a bounded load test (200 requests, 8 at a time, streaming and not, some
invalid): no 5xx, no lost or mixed-up response, every slot free at the end."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from dyntemp import Sampler
from dyntemp.llama.logits import eog_tokens

MODEL = "SmolLM2-135M-Instruct.Q4_1"
STRATEGIES = ["edt:theta=0.6", {"name": "sentence", "temperatures": [0.3, 1.2]}, 0.9, "target-entropy"]


def test_concurrent_streams_are_each_the_library_text(server, model2048):
    def stream(i: int) -> str:
        chunks = server.client().completions.create(
            model=MODEL, prompt=f"Story number {i}:", max_tokens=30, seed=100 + i, stream=True,
            extra_body={"strategy": STRATEGIES[i]})
        return "".join(chunk.choices[0].text for chunk in chunks)

    with ThreadPoolExecutor(4) as pool:
        texts = list(pool.map(stream, range(4)))
    for i, text in enumerate(texts):
        expected = Sampler(STRATEGIES[i], seed=100 + i).generate(model2048, f"Story number {i}:", max_tokens=30)
        assert text == expected.text, i
    assert len(set(texts)) == 4


def _request(url: str, i: int) -> tuple[int, str, dict]:
    """Request ``i`` of the load: every 10th invalid, every 3rd streamed; its prompt has ``i % 23 + 1``
    words, so its prompt token count says whose response it is."""
    body = {"prompt": "word " * (i % 23 + 1), "max_tokens": 6, "seed": i}
    if i % 10 == 7:
        body["top_p"] = 7.0
    if i % 3 == 0:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        with httpx.stream("POST", f"{url}/v1/completions", json=body, timeout=120) as response:
            if response.status_code != 200:
                response.read()
                return response.status_code, "", response.json()
            events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        text = "".join(c["choices"][0]["text"] for c in chunks if c["choices"])
        return 200, text, chunks[-1]
    response = httpx.post(f"{url}/v1/completions", json=body, timeout=120)
    data = response.json()
    return response.status_code, data["choices"][0]["text"] if response.status_code == 200 else "", data


def test_load_of_200_requests_8_at_a_time(server, model2048):
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: _request(server.url, i), range(200)))
    ids = set()
    for i, (status, text, data) in enumerate(results):
        if i % 10 == 7:
            assert status == 400 and data["error"]["param"] == "top_p", (i, data)
            continue
        assert status == 200, (i, data)
        words = i % 23 + 1
        assert data["usage"]["prompt_tokens"] == len(model2048.tokenize(("word " * words).encode(), special=True))
        assert data["usage"]["completion_tokens"] <= 6
        ids.add(data["id"])
    assert len(ids) == 180
    for i in (0, 1, 2, 50, 199):  # whole texts, streamed and not, against the library
        expected = Sampler(0.8, seed=i).generate(model2048, "word " * (i % 23 + 1), max_tokens=6)
        assert results[i][1] == expected.text, i
    assert server.health() == {"status": "ok", "slots_idle": 2, "slots_processing": 0}
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'dyntemp_queue_length{model="SmolLM2-135M-Instruct.Q4_1"} 0.0' in metrics
    assert not any(line.startswith("dyntemp_requests_total") and 'status="5' in line for line in metrics.splitlines())


def test_the_slots_of_a_model_are_decoded_together_in_one_process(server, model2048):
    from test_serve_access import _slot_pids

    assert len(_slot_pids(server)) == 1  # two slots (--parallel 2), one engine process
    times: dict[int, list[float]] = {}

    def stream(i: int) -> str:
        chunks = server.client().completions.create(model=MODEL, prompt=f"Story number {i}:", max_tokens=40,
                                                    seed=7, stream=True, extra_body={"ignore_eos": True})
        parts = []
        for chunk in chunks:
            times.setdefault(i, []).append(time.monotonic())
            parts.append(chunk.choices[0].text)
        return "".join(parts)

    with ThreadPoolExecutor(2) as pool:
        texts = list(pool.map(stream, range(2)))
    # Each stream's text came while the other's was coming: neither waited for the other to end.
    assert max(t[0] for t in times.values()) < min(t[-1] for t in times.values())
    for i, text in enumerate(texts):
        eog = {token: float("-inf") for token in eog_tokens(model2048)}
        assert text == Sampler(0.8, seed=7, logit_bias=eog).generate(model2048, f"Story number {i}:", max_tokens=40).text
