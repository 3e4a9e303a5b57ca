"""The llama-cpp-python hook: a logits processor that makes every draw the sampler's own.

llama-cpp-python calls ``processor(input_ids, scores)`` once per generated token, before its own
chain, with ``input_ids`` holding the prompt and the tokens so far. The processor samples the
token with the dyntemp ``Sampler`` and hands back ``scores`` itself with that token's logit raised
to ``CHOSEN_LOGIT``, far above any other: llama-cpp-python's greedy draw (temperature 0, see
``llama_kwargs``) picks it, and so would its default filters and temperature, which leave it alone
with probability 1. Both ways of generating give the same tokens for the same seed and prompt.

Handing back ``scores`` itself costs nothing: llama-cpp-python copies the returned array into its
token array, and numpy skips a copy onto itself; a fresh vocabulary-sized array would be copied
every token (0.02 ms at 49,152 tokens, 0.08 ms at 262,144, more with cold caches).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .dry import use_model_breakers
from .logits import LogitsReader, piece_decoder

if TYPE_CHECKING:
    from ..core.sampler import Sampler

# llama-cpp-python's own stages (its create_completion's keyword arguments), turned neutral: dyntemp
# applies each of them once. Its names and neutral values, not dyntemp's stages.
NEUTRAL_LLAMA_KWARGS = {"temperature": 0.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0, "typical_p": 1.0,
                        "repeat_penalty": 1.0, "frequency_penalty": 0.0, "presence_penalty": 0.0}
# Far above any logit, and still finite after any temperature a chain could divide it by.
CHOSEN_LOGIT = np.float32(1e30)


class LogitsHook:
    """A logits processor for ``llama_cpp.Llama.create_completion`` / ``create_chat_completion``.

    It knows where the prompt ends from its first call, resets the sampler when a new generation
    starts (the ids are not the previous ones plus the token it drew), and, when given ``llm``,
    decodes the tokens it draws and leaves an end-of-generation token out of the trace.

    Grammars, when given ``llm``: the sampler's own (``Sampler(grammar=...)``), and one given to
    ``create_completion`` itself (``grammar=``, ``response_format``), which the hook finds in
    llama-cpp-python's sampler chain; both restrict the candidates before dyntemp's filters and
    strategy, so the token drawn is one the grammar allows, and llama-cpp-python keeps it.
    """

    def __init__(self, sampler: "Sampler", llm=None) -> None:
        self.sampler = sampler
        self.prompt_length: int | None = None
        self._expected: tuple[int, int] | None = None  # (length, last token) of the next call's ids
        self._read = None
        self._vocab = None
        self._llm = llm
        self._grammar = None
        if llm is not None:
            import llama_cpp

            from .grammar import GrammarConstraint

            if sampler.settings.grammar is not None:
                self._grammar = GrammarConstraint(llm, sampler.settings.grammar)
            self._read = LogitsReader(llm)
            self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
            self._is_eog = llama_cpp.llama_vocab_is_eog
            self._eog: dict[int, bool] = {}  # a ctypes call costs microseconds a token; a dict lookup does not
            sampler.use_detokenizer(piece_decoder(llm))
            use_model_breakers(sampler, llm)

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        n = len(input_ids)
        if self._expected is None or n != self._expected[0] or int(input_ids[-1]) != self._expected[1]:
            if self._llm is not None:
                from .grammar import ChainGrammar

                chain = ChainGrammar.of(self._llm)
                self.sampler.use_constraint(*(c for c in (self._grammar, chain) if c is not None))
            self.sampler.reset()
            self.prompt_length = n
        token = self.sampler.sample(self._logits(scores), input_ids, overwrite=True)
        if self._vocab is not None and self._ends(token):
            self.sampler.trace.pop()  # it ends the generation, and is not part of it (as in Sampler.generate)
        scores[token] = CHOSEN_LOGIT
        self._expected = (n + 1, token)
        return scores

    def _ends(self, token: int) -> bool:
        """Whether ``token`` ends a generation (llama.cpp's end-of-generation tokens), remembered."""
        ends = self._eog.get(token)
        if ends is None:
            ends = self._eog[token] = bool(self._is_eog(self._vocab, token))
        return ends

    def _logits(self, scores: np.ndarray) -> np.ndarray:
        """Contiguous logits the sampler may overwrite: llama-cpp-python hands over a strided view
        of llama.cpp's token array, filled from the context's last logits; read those directly when
        they are the same (the next decode overwrites them), else a contiguous copy."""
        if self._read is not None:
            logits = self._read()
            middle = len(scores) // 2
            if (logits.size == len(scores) and logits[0] == scores[0] and logits[-1] == scores[-1]
                    and logits[middle] == scores[middle]):
                return logits
        return np.ascontiguousarray(scores)


def logits_processor(sampler: "Sampler", llm=None):
    """``sampler``'s hook in a ``llama_cpp.LogitsProcessorList`` (see ``Sampler.logits_processor``)."""
    import llama_cpp

    return llama_cpp.LogitsProcessorList([LogitsHook(sampler, llm)])
