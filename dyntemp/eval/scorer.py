"""An independent scorer: the mean NLL of a generated text under another GGUF model.

The generating model's own NLL needs no second pass: every trace record carries the token's log
probability (``TraceRecord.logprob``). A scorer model judges the text from outside: it reads the user
prompt, a blank line and the reply as plain text (no chat template, so a base model works) and
reports the mean negative log probability of the reply's tokens, in nats per token of its own
tokenizer. Values are comparable across strategies scored by the same scorer, not across scorers.
"""

from __future__ import annotations

import os

import numpy as np
from scipy.special import logsumexp

from .. import _validate


class Scorer:
    """Mean NLL of replies under the GGUF model at ``path`` (e.g. Gemma 3 270M, see the README).

    ``n_ctx`` bounds prompt + reply; the model keeps the logits of every position, so memory grows
    with ``n_ctx × vocabulary``. ``n_threads`` and ``n_gpu_layers`` as in ``load_model``.

    >>> from dyntemp.llama.model import default_model_path
    >>> scorer = Scorer(default_model_path(), n_ctx=128)
    >>> fluent = scorer.nll("Name a colour.", "My favourite colour is blue.")
    >>> fluent < scorer.nll("Name a colour.", "Purple monkey dishwasher gravel.")
    True
    """

    def __init__(self, path: str | os.PathLike, *, n_ctx: int = 1024, n_threads: int | None = None,
                 n_gpu_layers: int = 0) -> None:
        self.n_ctx = _validate.integer("n_ctx", n_ctx, low=16)
        self.path = os.fspath(path)
        from ..llama.model import load_model  # here: reading a finished run needs no llama.cpp

        self._llm = load_model(self.path, n_ctx=self.n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers,
                               logits_all=True)

    def nll(self, prompt: str, reply: str) -> float:
        """Mean negative log probability (nats per token) of ``reply`` after ``prompt`` and a blank
        line; ``nan`` for an empty reply."""
        context = self._llm.tokenize(f"{prompt}\n\n".encode("utf-8"), add_bos=True)
        tokens = self._llm.tokenize(reply.encode("utf-8"), add_bos=False)
        if not tokens:
            return float("nan")
        if len(context) + len(tokens) > self.n_ctx:
            raise ValueError(f"prompt and reply take {len(context) + len(tokens)} tokens, more than the "
                             f"scorer's n_ctx={self.n_ctx}; make n_ctx larger")
        self._llm.reset()
        self._llm.eval(context + tokens)
        rows = np.asarray(self._llm.scores[len(context) - 1:len(context) + len(tokens) - 1], dtype=np.float64)
        logprobs = rows[np.arange(len(tokens)), tokens] - logsumexp(rows, axis=1)
        return float(-logprobs.mean())
