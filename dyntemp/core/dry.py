"""DRY ("Don't Repeat Yourself"), as llama.cpp and KoboldCpp apply it.

A token that would extend a sequence already seen in the last ``last_n`` tokens of the history
(``-1``: all of it) by ``n >= allowed_length`` tokens loses ``multiplier · base^(n - allowed_length)``
from its logit. Sequence breakers stop the look-back: the most recent breaker in the history limits
how long a repeat can be, and a token that is a breaker on its own is never penalized. Breakers are
token sequences here, ``{head token: (tail, ...)}`` (a single-token breaker has the empty tail), as
llama.cpp's ``llama_sampler_init_dry_testing`` takes them; ``dyntemp.llama.dry_breakers`` turns
llama.cpp's text breakers into them for a model's vocabulary. ``multiplier = 0`` (or ``last_n = 0``)
turns DRY off.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .. import _validate
from .numerics import as_logits
from .penalties import window

Breakers = Mapping[int, "tuple[tuple[int, ...], ...]"]

#: llama.cpp's default sequence breakers.
DEFAULT_SEQUENCE_BREAKERS = ("\n", ":", "\"", "*")
#: llama.cpp's limits on a text breaker (bytes) and on its tokenized tail.
MAX_BREAKER_BYTES = 40
MAX_TAIL_TOKENS = 20
# ln(FLT_MAX), as llama.cpp bounds the exponent so that base^exponent stays a float.
_FLOAT_MAX_LOG = np.float32(88.7228391)


def dry_is_off(multiplier: float, last_n: int) -> bool:
    """True when DRY changes nothing: ``multiplier = 0`` or an empty window."""
    return multiplier == 0.0 or last_n == 0


def dry_penalties(history: object, n_vocab: int, multiplier: float, base: float, allowed_length: int,
                  last_n: int, breakers: Breakers) -> tuple[np.ndarray, np.ndarray]:
    """``(token ids, float32 penalties)``: what DRY subtracts from each token's logit after ``history``.

    >>> ids, penalty = dry_penalties([1, 2, 3, 1, 2], 8, 0.8, 1.75, 2, -1, {})
    >>> ids.tolist(), penalty.tolist()  # "1 2" was followed by 3: a third token of the repeat costs
    ([3], [0.800000011920929])
    """
    none = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    w = window(history, last_n, n_vocab, "input_ids").astype(np.int64, copy=False)
    size = w.size
    if size <= allowed_length:
        return none
    limit = _repeat_limit(w, breakers)
    if limit < allowed_length:
        return none
    # counts[e]: how many tokens before and at e repeat the end of the window (at most `limit`);
    # the token after e would make that repeat one longer.
    counts = np.zeros(size - 1, dtype=np.int64)
    alive = np.flatnonzero(w[:-1] == w[-1])
    length = 0
    while alive.size and length < limit:
        counts[alive] += 1
        length += 1
        alive = alive[alive >= length]
        alive = alive[w[alive - length] == w[size - 1 - length]]
    extends = counts >= allowed_length
    if not extends.any():
        return none
    tokens, where = np.unique(w[1:][extends], return_inverse=True)
    longest = np.zeros(tokens.size, dtype=np.int64)
    np.maximum.at(longest, where, counts[extends])
    lone = [t for t, tails in breakers.items() if () in tails]
    if lone:
        keep = ~np.isin(tokens, lone)
        tokens, longest = tokens[keep], longest[keep]
    exponent = longest - allowed_length
    base32 = np.float32(base)
    if base32 > np.float32(1.000001):
        exponent = np.minimum(exponent, int(_FLOAT_MAX_LOG / np.log(base32)))
    # llama.cpp: multiplier * std::pow(float base, int exponent), in double, stored as a float.
    penalty = (float(np.float32(multiplier)) * np.power(float(base32), exponent.astype(np.float64))).astype(np.float32)
    return tokens, penalty


def _repeat_limit(w: np.ndarray, breakers: Breakers) -> int:
    """How long a repeat may be: the distance back to the most recent complete breaker."""
    size = w.size
    if not breakers:
        return size
    heads = np.flatnonzero(np.isin(w, np.fromiter(breakers, dtype=np.int64, count=len(breakers))))
    for at in heads[::-1]:
        back = size - 1 - int(at)  # tokens after the head
        longest = -1
        for tail in breakers[int(w[at])]:
            n = len(tail)
            if longest < n <= back and tuple(w[at + 1:at + 1 + n].tolist()) == tuple(tail):
                longest = n
        if longest >= 0:
            return back - longest
    return size


def check_breakers(breakers: object) -> dict[int, tuple[tuple[int, ...], ...]]:
    """``breakers`` as ``{head: (tail, ...)}`` of ints, from a mapping or a list of token sequences.

    >>> check_breakers([[7], [3, 4, 5]])
    {7: ((),), 3: ((4, 5),)}
    """
    if isinstance(breakers, Mapping):
        pairs = [(head, tail) for head, tails in breakers.items() for tail in tails]
    elif isinstance(breakers, Sequence) and not isinstance(breakers, (str, bytes)):
        pairs = []
        for seq in breakers:
            if not isinstance(seq, Sequence) or isinstance(seq, (str, bytes)) or len(seq) == 0:
                raise TypeError(f"a DRY sequence breaker as tokens is a non-empty list of token ids, got {seq!r}")
            pairs.append((seq[0], seq[1:]))
    else:
        raise TypeError(f"DRY sequence breakers as tokens are a list of token id lists, got {breakers!r}")
    out: dict[int, tuple[tuple[int, ...], ...]] = {}
    for head, tail in pairs:
        head = _validate.integer("DRY sequence breaker token", head, low=0)
        tail = tuple(_validate.integer("DRY sequence breaker token", t, low=0) for t in tail)
        if tail not in out.get(head, ()):
            out[head] = out.get(head, ()) + (tail,)
    return out


def dry(logits: object, history: Sequence[int], multiplier: float, base: float = 1.75, allowed_length: int = 2,
        last_n: int = -1, breakers: "Breakers | Sequence[Sequence[int]]" = ()) -> np.ndarray:
    """DRY on ``logits`` after ``history`` (token ids): a new float32 array.

    >>> dry(np.zeros(4, dtype=np.float32), [1, 2, 3, 1, 2], 1.0, allowed_length=2)
    array([ 0.,  0.,  0., -1.], dtype=float32)
    >>> dry(np.zeros(4, dtype=np.float32), [1, 2, 0, 3, 1, 2], 1.0, breakers=[[0]])  # 0 breaks the repeat
    array([0., 0., 0., 0.], dtype=float32)
    """
    x, _ = as_logits(logits)
    multiplier = _validate.number("dry_multiplier", multiplier, low=0.0)
    base = _validate.number("dry_base", base, low=1.0)
    allowed_length = _validate.integer("dry_allowed_length", allowed_length, low=0)
    last_n = _validate.integer("dry_penalty_last_n", last_n, low=-1)
    out = x.copy()
    if not dry_is_off(multiplier, last_n):
        ids, penalty = dry_penalties(history, x.size, multiplier, base, allowed_length, last_n,
                                     check_breakers(breakers))
        out[ids] -= penalty
    return out
