"""The llama-cpp-python hook: a logits processor that makes every draw the sampler's own.

llama-cpp-python calls ``processor(input_ids, scores)`` once per generated token, before its own
chain, with ``input_ids`` holding the prompt and the tokens so far. The processor samples the
token with the dyntemp ``Sampler`` and returns logits in which only that token is finite; with
llama-cpp-python's temperature at 0 (see ``llama_kwargs``) its greedy draw then picks exactly it,
so both ways of generating give the same tokens for the same seed and prompt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .loop import last_logits, piece_decoder

if TYPE_CHECKING:
    from .pipeline import Sampler

# llama-cpp-python's own stages, turned neutral: dyntemp applies each of them once.
NEUTRAL_LLAMA_KWARGS = {
    "temperature": 0.0,
    "top_k": 0,
    "top_p": 1.0,
    "min_p": 0.0,
    "typical_p": 1.0,
    "repeat_penalty": 1.0,
    "frequency_penalty": 0.0,
    "presence_penalty": 0.0,
}


class LogitsHook:
    """A logits processor for ``llama_cpp.Llama.create_completion`` / ``create_chat_completion``.

    It knows where the prompt ends from its first call, resets the sampler when a new generation
    starts (the ids are not the previous ones plus the token it drew), and decodes the tokens it
    draws with ``llm.detokenize`` when given ``llm``.
    """

    def __init__(self, sampler: "Sampler", llm=None) -> None:
        self.sampler = sampler
        self.prompt_length: int | None = None
        self._expected: tuple[int, int] | None = None  # (length, last token) of the next call's ids
        self._out: np.ndarray | None = None
        self._llm = llm
        if llm is not None:
            sampler.use_detokenizer(piece_decoder(llm))

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        n = len(input_ids)
        if self._expected is None or n != self._expected[0] or int(input_ids[-1]) != self._expected[1]:
            self.sampler.reset()
            self.prompt_length = n
        token = self.sampler.sample(self._logits(scores), input_ids)
        if self._out is None or self._out.size != len(scores):
            self._out = np.full(len(scores), -np.inf, dtype=np.float32)
        elif self._expected is not None:
            self._out[self._expected[1]] = -np.inf
        self._out[token] = 0.0
        self._expected = (n + 1, token)
        return self._out

    def _logits(self, scores: np.ndarray) -> np.ndarray:
        """Contiguous logits: llama-cpp-python hands over a strided view of llama.cpp's token array,
        filled from the context's last logits; read those directly when they are the same."""
        if self._llm is not None:
            logits = last_logits(self._llm)
            middle = len(scores) // 2
            if (logits.size == len(scores) and logits[0] == scores[0] and logits[-1] == scores[-1]
                    and logits[middle] == scores[middle]):
                return logits
        return np.ascontiguousarray(scores)
