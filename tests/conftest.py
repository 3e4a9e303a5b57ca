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
