"""Shared fixtures: the real default model and the logit vectors the agreement tests run on."""

from __future__ import annotations

import numpy as np
import pytest

from dyntemp.llama.model import load_model
from dyntemp.testing import model_logits, synthetic_set

PROMPTS = (
    "The history of the sea is",
    "Write a short story about a lighthouse keeper.",
    "def quicksort(items):",
    "Q: What is the capital of Japan?\nA:",
    "List three facts about the moon:\n1.",
)
SMALL_VOCAB = 49_152
LARGE_VOCAB = 262_144


@pytest.fixture(scope="session")
def llm():
    """The default model, SmolLM2-135M-Instruct, loaded once."""
    return load_model(n_ctx=512)


@pytest.fixture(scope="session")
def real_logits(llm) -> np.ndarray:
    """500 real next-token logit vectors from the default model."""
    return model_logits(llm, PROMPTS, steps=100, seed=3)


@pytest.fixture(scope="session")
def logit_vectors(real_logits) -> list[np.ndarray]:
    """1,000 vectors: 500 real (49,152), 300 synthetic at 49,152 and 200 synthetic at 262,144."""
    return (list(real_logits) + synthetic_set(SMALL_VOCAB, 300, seed=11)
            + synthetic_set(LARGE_VOCAB, 200, seed=12))


class Server:
    """``dyntemp serve`` as a subprocess on a free 127.0.0.1 port, ready when ``/health`` answers."""

    def __init__(self, *args: str, env: dict | None = None, timeout: float = 120.0) -> None:
        import os
        import socket
        import subprocess
        import sys
        import tempfile
        import time

        import httpx

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen([sys.executable, "-m", "dyntemp", "serve", "--port", str(self.port), *args],
                                        stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dyntemp serve exited with {self.process.returncode}: {self.logs()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"dyntemp serve did not answer within {timeout} s: {self.logs()}")

    def client(self, key: str = "none"):
        """The official ``openai`` client on this server, without retries (a 503 is seen as it is)."""
        import openai

        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=key, max_retries=0, timeout=120)

    def health(self) -> dict:
        import httpx

        return httpx.get(f"{self.url}/health", timeout=10).json()

    def metric(self, name: str) -> float:
        """The value of the first line of ``/metrics`` that starts with ``name``."""
        import httpx

        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        return float(next(line.split()[-1] for line in text.splitlines() if line.startswith(name)))

    def logs(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read()

    def wait_for_log(self, text: str, timeout: float = 10.0) -> str:
        """The logs once they hold ``text`` (or after ``timeout``): the server may write a request's
        log line after the client has read its answer."""
        import time

        deadline = time.monotonic() + timeout
        while text not in (logs := self.logs()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return logs

    def stop(self, sig: int | None = None, timeout: float = 60.0) -> int:
        """Stop the server by its PID (SIGTERM unless ``sig``); its exit status."""
        import signal

        if self.process.poll() is None:
            self.process.send_signal(sig or signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except Exception:
                self.process.kill()
                self.process.wait()
                raise
        return self.process.returncode


@pytest.fixture(scope="session")
def server():
    """The default model served with two slots, one thread each."""
    running = Server("--parallel", "2", "--threads", "2")
    yield running
    assert running.stop() == 0, running.logs()


@pytest.fixture(scope="session")
def model2048():
    """The default model as the library loads it, with the server's context, to compare texts."""
    return load_model(n_ctx=2048)
