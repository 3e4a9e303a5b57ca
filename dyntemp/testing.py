"""Logit vectors to test and benchmark samplers with: LLM-like synthetic ones and a real model's.

>>> rng = np.random.default_rng(0)
>>> x = zipf_logits(1000, rng)
>>> x.shape, x.dtype
((1000,), dtype('float32'))
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

KINDS = ("zipf", "peaked", "flat", "holes")


def zipf_logits(n_vocab: int, rng: np.random.Generator, *, exponent: float = 1.2, noise: float = 0.5,
                offset: float = 12.0) -> np.ndarray:
    """LLM-like logits: Zipf-shaped probabilities (``p ∝ rank^-exponent``) over a random order of
    the vocabulary, with Gaussian noise and a constant offset like real models' raw logits."""
    ranks = rng.permutation(n_vocab) + 1
    logits = offset - exponent * np.log(ranks) + rng.normal(0.0, noise, n_vocab)
    return logits.astype(np.float32)


def synthetic_logits(n_vocab: int, rng: np.random.Generator, kind: str) -> np.ndarray:
    """One synthetic vector of ``kind``: ``zipf`` (a random exponent), ``peaked`` (one token far
    ahead), ``flat`` (high entropy) or ``holes`` (Zipf with a fifth of the tokens ``-inf``)."""
    if kind == "zipf":
        return zipf_logits(n_vocab, rng, exponent=float(rng.uniform(0.6, 2.5)))
    if kind == "peaked":
        x = zipf_logits(n_vocab, rng, exponent=float(rng.uniform(1.0, 2.0)))
        x[rng.integers(n_vocab)] = x.max() + float(rng.uniform(2.0, 12.0))
        return x
    if kind == "flat":
        return zipf_logits(n_vocab, rng, exponent=float(rng.uniform(0.05, 0.4)), noise=0.2)
    if kind == "holes":
        x = zipf_logits(n_vocab, rng, exponent=float(rng.uniform(0.8, 2.0)))
        x[rng.random(n_vocab) < 0.2] = -np.inf
        return x
    raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")


def synthetic_set(n_vocab: int, count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` synthetic vectors cycling through every kind.

    >>> [bool(np.isinf(x).any()) for x in synthetic_set(100, 4)]
    [False, False, False, True]
    """
    rng = np.random.default_rng(seed)
    return [synthetic_logits(n_vocab, rng, KINDS[i % len(KINDS)]) for i in range(count)]


def model_logits(llm, prompts: Sequence[str], steps: int, seed: int = 0) -> np.ndarray:
    """Real next-token logits of ``llm`` (a ``llama_cpp.Llama``): for each prompt, ``steps`` tokens
    drawn at temperature 1 from the model itself, recording the logits before each draw. Returns
    an array of shape ``(len(prompts) * steps, n_vocab)``.

    >>> from dyntemp.llama.model import load_model
    >>> model_logits(load_model(n_ctx=128), ["Hello"], steps=2).shape
    (2, 49152)
    """
    from .llama.logits import last_logits

    rng = np.random.default_rng(seed)
    n_vocab = llm.n_vocab()
    rows = []
    for prompt in prompts:
        llm.reset()
        llm.eval(llm.tokenize(prompt.encode("utf-8")))
        for _ in range(steps):
            logits = last_logits(llm).astype(np.float32)
            rows.append(logits)
            p = np.exp(logits.astype(np.float64) - logits.max())
            llm.eval([int(rng.choice(n_vocab, p=p / p.sum()))])
    return np.stack(rows)


def on_each_path(fn, *args, **kwargs) -> list:
    """``[fn(*args, **kwargs) on the compiled kernel, the same on numpy]``: for tests that hold
    both sampling paths to one reference (the kernel must have loaded).

    >>> from dyntemp.core import top_k
    >>> [ours.tolist() for ours in on_each_path(top_k, np.array([1.0, 3.0, 2.0], dtype=np.float32), 1)]
    [[-inf, 3.0, -inf], [-inf, 3.0, -inf]]
    """
    from .core import kernel

    results = []
    for compiled in (True, False):
        with kernel.running(compiled):
            results.append(fn(*args, **kwargs))
    return results
