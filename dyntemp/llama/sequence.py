"""One generation's progress, token by token: what the single-sequence loop and the batched engine
share. It draws each token from the logits it is given and says what text that makes safe to show
and whether the generation has ended, and why:

- an end-of-generation token: ``"eos"`` (the token is not part of the output: not in the text, the
  tokens or the trace);
- a stop string: ``"stop"`` (the stop string is not part of the text);
- ``max_tokens`` tokens, or the context full: ``"length"``;
- the deadline passed before a token: ``"timeout"``.

Streamed text holds back anything that could still become a stop string.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Sequence

from ..core.results import GenerationResult, StreamPiece
from .dry import use_model_breakers
from .logits import piece_decoder

if TYPE_CHECKING:
    import numpy as np

    from ..core.sampler import Sampler


def held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many characters at the end of ``text`` could be the start of a stop string.

    >>> held_back("Hello wor", ("world",)), held_back("Hello", ("world",))
    (3, 0)
    """
    longest = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:n]):
                longest = n
                break
    return longest


def prepare(sampler: "Sampler", llm) -> None:
    """``sampler`` ready for a generation on ``llm``: its vocabulary's detokenizer, DRY breakers and
    grammar, and a fresh state."""
    sampler.use_detokenizer(piece_decoder(llm))
    use_model_breakers(sampler, llm)
    if sampler.settings.grammar is not None:
        from .grammar import GrammarConstraint

        sampler.use_constraint(GrammarConstraint(llm, sampler.settings.grammar))
    sampler.reset()


class SequenceProgress:
    """A generation after its prompt: ``advance(logits)`` per token until ``reason`` is set.

    ``history`` holds the prompt and the tokens kept so far (what the penalties read, and what the
    context holds once the last token is decoded); ``n_ctx``: the most tokens the sequence's context
    holds.
    """

    def __init__(self, sampler: "Sampler", vocab, prompt_ids: Sequence[int], max_tokens: int,
                 stops: tuple[str, ...], n_ctx: int, deadline: float | None = None) -> None:
        import llama_cpp

        self.sampler = sampler
        self.history = list(prompt_ids)
        self.reason: str | None = None
        self._is_eog = llama_cpp.llama_vocab_is_eog
        self._vocab = vocab
        self._left = max_tokens
        self._stops = stops
        self._n_ctx = n_ctx
        self._deadline = deadline
        self._emitted = 0

    @property
    def last(self) -> int:
        """The token to decode next: the last one drawn."""
        return self.history[-1]

    def expired(self) -> bool:
        """True once the deadline has passed: no token may be drawn."""
        return self._deadline is not None and time.monotonic() >= self._deadline

    def advance(self, logits: "np.ndarray") -> StreamPiece | None:
        """Draw a token from ``logits`` (the sampler may overwrite them): the text it makes safe to
        show, if any. Afterwards ``reason`` says whether the generation has ended."""
        if self.expired():
            self.reason = "timeout"
            return None
        sampler = self.sampler
        token = sampler.sample(logits, self.history, overwrite=True)
        record = sampler.trace[-1]
        if self._is_eog(self._vocab, token):
            sampler.trace.pop()
            del sampler.top_logprobs[len(sampler.trace):]
            self.reason = "eos"
            return None
        self.history.append(token)
        self._left -= 1
        text = sampler.text
        emitted = self._emitted
        hits = [i for i in (text.find(s, max(0, emitted - len(s))) for s in self._stops) if i >= 0]
        if hits:
            self.reason = "stop"
            end = min(hits)
            return StreamPiece(text[emitted:end], record) if end > emitted else None
        # Prompt and generated tokens share the context, as in llama-cpp-python: at its end, stop with
        # what was generated rather than fail to decode the next token.
        if self._left <= 0 or len(self.history) >= self._n_ctx:
            self.reason = "length"
        safe = len(text) - held_back(text, self._stops)
        if safe > emitted:
            self._emitted = safe
            return StreamPiece(text[emitted:safe], record)
        return None

    def end(self, reason: str | None = None) -> StreamPiece | None:
        """The generation ends (with ``reason`` if it has none yet: the context could take no more):
        the text held back for a stop string that never came, if any. Sets the sampler's
        ``finish_reason``."""
        if self.reason is None:
            self.reason = reason or "length"
        sampler = self.sampler
        sampler.finish_reason = self.reason
        text = sampler.text
        emitted = self._emitted
        if self.reason != "stop" and len(text) > emitted:
            self._emitted = len(text)
            return StreamPiece(text[emitted:], sampler.trace[-1])
        return None

    def result(self, text: str) -> GenerationResult:
        """The ``GenerationResult`` of an ended generation whose pieces joined make ``text``."""
        return GenerationResult.of(text=text, trace=self.sampler.trace, finish_reason=self.reason)
