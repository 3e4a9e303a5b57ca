"""The ``Step``: the read-only view of one sampling step that a strategy reads."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from . import kernel
from .text import TextTracker


class Step:
    """What a strategy sees when it picks the temperature of one token.

    Costly values are computed once, on first read: the full-vocabulary ``entropy`` (one ``exp``
    pass over the vocabulary; the sampler computes it for every step, since the trace records it
    and it doubles as the check of the logits) and the candidates' ``candidate_entropy``.

    - ``index``: index of the token being generated (0 for the first);
    - ``logits``: the full-vocabulary float32 logits after logit bias (removed tokens are ``-inf``),
      read-only and valid during this step only (copy what you keep: the buffer is reused);
    - ``entropy``, ``logsumexp``, ``logprob(token)``: of the full distribution ``softmax(logits)``;
    - ``candidate_ids``, ``candidate_logits``, ``n_candidates``, ``candidate_entropy``: the tokens that
      survive the stages before temperature, with their (penalized) logits;
    - ``text``, ``sentence``, ``line``, ``sentence_index``, ``sentence_position``,
      ``at_sentence_start``, ``at_line_start``, ``in_code_block``: where the generated text stands;
    - ``generated_ids``: the ids sampled so far in this generation;
    - ``token_text(token)``: the text of one token, as the generated text would show it.

    A strategy may set ``rule`` to a short label; the trace records it for this token.

    >>> step = Step.from_text("First one. Second", logits=np.log([0.5, 0.25, 0.25]))
    >>> step.sentence_index, step.sentence, round(step.entropy, 4)
    (1, 'Second', 1.0397)
    """

    __slots__ = (
        "index", "_logits", "rule", "_tracker", "_generated", "_lse", "_entropy", "_cand_ids", "_cand_logits",
        "_cand_entropy",
    )

    def __init__(self, index: int, logits: np.ndarray, tracker: TextTracker, generated: Sequence[int],
                 logsumexp: float | None = None, entropy: float | None = None) -> None:
        self.index = index
        self._logits = logits
        self.rule: str | None = None
        self._tracker = tracker
        self._generated = generated
        self._lse = logsumexp
        self._entropy = entropy
        self._cand_ids: np.ndarray | None = None
        self._cand_logits = logits
        self._cand_entropy: float | None = None

    @classmethod
    def from_text(cls, text: str, logits: object = None, index: int | None = None) -> "Step":
        """A step after ``text`` was generated: for trying and testing strategies by hand.

        ``logits`` defaults to a uniform distribution over 8 tokens; ``index`` to the length of the
        text in characters (one token per character).

        >>> Step.from_text("```\\nx = 1\\n").in_code_block
        True
        """
        tracker = TextTracker(lambda ids: chr(ids[0]).encode("utf-8"))
        for ch in text:
            tracker.feed(ord(ch))
        x = np.asarray(np.zeros(8) if logits is None else logits, dtype=np.float32)
        generated = [ord(ch) for ch in text]
        return cls(len(text) if index is None else index, x, tracker, generated)

    def _set_candidates(self, ids: np.ndarray | None, logits: np.ndarray, entropy: float | None = None) -> None:
        self._cand_ids = ids
        self._cand_logits = logits
        self._cand_entropy = entropy  # None: computed when read

    def _full_stats(self) -> None:
        self._lse, self._entropy, _, _ = kernel.scan(self._logits)

    @property
    def entropy(self) -> float:
        """Entropy (nats) of the full next-token distribution."""
        if self._entropy is None:
            self._full_stats()
        return self._entropy

    @property
    def logsumexp(self) -> float:
        """``log Σ exp(logits)`` over the full vocabulary."""
        if self._lse is None:
            self._full_stats()
        return self._lse

    def logprob(self, token: int) -> float:
        """Log-probability (nats) of ``token`` under the full distribution."""
        return float(self._logits[token]) - self.logsumexp

    def top_logprobs(self, n: int) -> list[tuple[int, float]]:
        """The ``n`` most likely tokens under the full distribution, most likely first, as
        ``(token, log-probability)`` (what OpenAI's ``top_logprobs`` reports).

        >>> [(token, round(lp, 4)) for token, lp in Step.from_text("", logits=[0.0, 2.0, 1.0]).top_logprobs(2)]
        [(1, -0.4076), (2, -1.4076)]
        """
        if n <= 0:
            return []
        ids, values = kernel.top_k(self._logits, n)
        lse = self.logsumexp
        return [(token, value - lse) for token, value in zip(ids.tolist(), values.tolist())]

    @property
    def candidate_ids(self) -> np.ndarray:
        """Token ids of the candidates that reach the temperature stage."""
        if self._cand_ids is None:
            return np.arange(self._cand_logits.size)
        return _read_only(self._cand_ids)

    @property
    def logits(self) -> np.ndarray:
        """The full-vocabulary logits after logit bias, read-only. They are llama.cpp's own buffer, which
        the next token overwrites: copy what you keep (``np.array(step.logits)``)."""
        return _read_only(self._logits)

    @property
    def candidate_logits(self) -> np.ndarray:
        """Float32 logits of the candidates that reach the temperature stage."""
        return _read_only(self._cand_logits)

    @property
    def n_candidates(self) -> int:
        """Number of candidates that reach the temperature stage."""
        return int(self._cand_logits.size)

    @property
    def candidate_entropy(self) -> float:
        """Entropy (nats) of the softmax over the candidates, before temperature."""
        if self._cand_entropy is None:
            if self._cand_ids is None and self._cand_logits is self._logits:
                self._cand_entropy = self.entropy
            else:
                self._cand_entropy = kernel.entropy(self._cand_logits)
        return self._cand_entropy

    @property
    def text(self) -> str:
        """All text generated so far."""
        return self._tracker.text

    @property
    def sentence(self) -> str:
        """The current sentence so far."""
        return self._tracker.sentence

    @property
    def line(self) -> str:
        """The current line so far."""
        return self._tracker.line

    @property
    def sentence_index(self) -> int:
        """Index of the sentence this token belongs to (0 for the first)."""
        return self._tracker.sentence_index

    @property
    def sentence_position(self) -> int:
        """Position of this token inside its sentence (0 for the first token of a sentence)."""
        return self._tracker.sentence_position

    @property
    def at_sentence_start(self) -> bool:
        """True for the first token of a sentence."""
        return self._tracker.sentence_position == 0

    @property
    def at_line_start(self) -> bool:
        """True when the current line holds only whitespace so far."""
        return self._tracker.at_line_start

    @property
    def in_code_block(self) -> bool:
        """True inside a fenced (```) code block."""
        return self._tracker.in_code_block

    @property
    def generated_ids(self) -> Sequence[int]:
        """Token ids sampled so far in this generation."""
        return self._generated

    def token_text(self, token: int) -> str:
        """The text of ``token`` alone (undecodable bytes replaced; ``""`` for a control token or
        without a detokenizer): what a strategy reads to ask what a candidate would write.

        >>> Step.from_text("").token_text(ord("x"))
        'x'
        """
        return self._tracker.bytes_of(int(token)).decode("utf-8", errors="replace")


def _read_only(array: np.ndarray) -> np.ndarray:
    """A view of ``array`` that cannot be written: a strategy must not change what the sampler draws from."""
    view = array.view()
    view.flags.writeable = False
    return view
