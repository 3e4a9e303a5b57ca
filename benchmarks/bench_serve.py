"""Serving: ``dyntemp serve`` against llama-cpp-python's own server, in one run.

Both serve the default model on 127.0.0.1 with the same cores (``--threads``), the same context and
the same sampler settings (temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, no repeat penalty;
llama-cpp-python samples with llama.cpp's native chain, dyntemp with its own). dyntemp runs
``--parallel 4``: the requests are decoded together, one token of each per llama.cpp batch, with
every thread; llama-cpp-python runs one request at a time behind its lock, each with every thread.

At 1, 2 and 4 concurrent clients, each client streams the same completions (same prompts, seeds,
``max_tokens``) to one server, then to the other, the order alternating between rounds. Tokens are
counted by tokenizing each reply's text with the model (llama-cpp-python's stream has no usage), the
same count for both sides. Each measurement starts both servers afresh (llama-cpp-python's slows
once several of its worker threads have decoded). Printed: tokens/s and time to first token and latency (p50, p95) of each
side (medians over rounds), and the median of the paired tokens/s ratios. The goals: at least 1.0x
the peer's throughput with 1 client, 1.6x with 4.

    python benchmarks/bench_serve.py [--rounds N] [--requests N] [--max-tokens N] [--threads N]
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

CONCURRENCY = (1, 2, 4)
GOALS = {1: 1.0, 4: 1.6}
PROMPTS = ("Chapter 1\n\nThe storm had", "The history of the sea is", "Once upon a time, in a city of glass,",
           "Dear diary, today I")
SETTINGS = {"temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.0}


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], port: int, log) -> subprocess.Popen:
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            sys.exit(f"bench_serve: {command[2]} exited: {log.read()[-2000:]}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    sys.exit(f"bench_serve: {command[2]} did not start")


def one(url: str, prompt: str, seed: int, max_tokens: int) -> tuple[float, float, str]:
    """(time to first token, latency, text) of one streamed completion."""
    body = {"prompt": prompt, "max_tokens": max_tokens, "seed": seed, "stream": True, **SETTINGS}
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


def load(url: str, clients: int, requests: int, max_tokens: int, count) -> dict:
    """``clients`` at once, each streaming ``requests`` completions: tokens/s, TTFT and latencies."""
    def client(c: int) -> list:
        return [one(url, PROMPTS[(c + r) % len(PROMPTS)], 1000 * c + r, max_tokens) for r in range(requests)]

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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3, help="requests per client per measurement")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    model = default_model_path()
    vocab = load_model(model, vocab_only=True)

    def count(text: str) -> int:
        return len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False)) if text else 0

    ports = {"dyntemp": _port(), "llama-cpp-python": _port()}
    commands = {
        "dyntemp": [sys.executable, "-m", "dyntemp", "serve", "--port", str(ports["dyntemp"]),
                    "--parallel", str(max(CONCURRENCY)), "--threads", str(args.threads), "--ctx-size", "2048"],
        "llama-cpp-python": [sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1",
                             "--port", str(ports["llama-cpp-python"]), "--n_threads", str(args.threads),
                             "--n_threads_batch", str(args.threads), "--n_ctx", "2048", "--verbose", "False",
                             # By default a new request aborts the running one; queued, every client is served.
                             "--interrupt_requests", "False"],
    }
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    runs = {(name, c): [] for name in commands for c in CONCURRENCY}
    for round_ in range(args.rounds):
        for c in CONCURRENCY:
            order = list(commands) if round_ % 2 == 0 else list(commands)[::-1]
            for name in order:
                # A fresh server for each measurement: llama-cpp-python's slows once several of its worker
                # threads have decoded (each gets its own OpenMP team); fresh, it runs at its best.
                with tempfile.TemporaryFile(mode="w+") as log:
                    server = start(commands[name], ports[name], log)
                    try:
                        load(urls[name], 1, 1, 8, count)  # warm up: the first decodes
                        runs[name, c].append(load(urls[name], c, args.requests, args.max_tokens, count))
                    finally:
                        server.terminate()
                        server.wait(60)
            print(f"round {round_ + 1}, {c} client(s): " + ", ".join(
                f"{name} {runs[name, c][-1]['tps']:.1f} tokens/s" for name in commands), file=sys.stderr)
    print(f"model {os.path.basename(model)}, {args.threads} threads, max_tokens {args.max_tokens}, "
          f"{args.requests} requests per client, {args.rounds} rounds (medians)")
    print(f"{'clients':>7}  {'server':<17} {'tokens/s':>8}  {'TTFT p50':>8} {'p95':>6}  {'latency p50':>11} {'p95':>6}"
          f"  {'ratio':>5}")
    for c in CONCURRENCY:
        ratio = statistics.median([d["tps"] / p["tps"] for d, p in zip(runs["dyntemp", c], runs["llama-cpp-python", c])])
        for name in commands:
            rows = runs[name, c]
            ttft = [v for r in rows for v in r["ttft"]]
            latency = [v for r in rows for v in r["latency"]]
            mark = f"{ratio:5.2f}" if name == "dyntemp" else ""
            print(f"{c:>7}  {name:<17} {statistics.median([r['tps'] for r in rows]):8.1f}  {_p(ttft, .5):8.3f} "
                  f"{_p(ttft, .95):6.3f}  {_p(latency, .5):11.2f} {_p(latency, .95):6.2f}  {mark}")
        if c in GOALS:
            print(f"{'':>7}  goal: dyntemp / llama-cpp-python >= {GOALS[c]}: {'met' if ratio >= GOALS[c] else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
