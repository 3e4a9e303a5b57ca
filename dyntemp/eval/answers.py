"""Matching a short reply against a question's answers: number words read as digits, a negated or
hedged clause does not count (``check_answer``)."""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable, Iterator

# Number words read as digits, so "four", "4" and "Four." all match an answer of 4 or "four".
_UNITS = {word: value for value, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
_TENS = {word: 10 * value for value, word in enumerate(
    "twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_ARTICLES = {"the", "a", "an"}


def answer_words(text: str) -> tuple[str, ...]:
    """``text`` as normalised words: lowercase, accents and punctuation dropped, number words as
    digits, thousands separators removed, decimals kept whole."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    return _digits(re.findall(r"\d+(?:\.\d+)+|[^\W_]+", text))


def _digits(words: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    i = 0
    while i < len(words):
        value, end = _below_million(words, i)
        if value is None:
            out.append(words[i])
            i += 1
        else:
            out.append(str(value))
            i = end
    return tuple(out)


def _below_hundred(words: list[str], i: int) -> tuple[int | None, int]:
    word = words[i] if i < len(words) else ""
    if word in _TENS:
        unit = words[i + 1] if i + 1 < len(words) else ""
        if 1 <= _UNITS.get(unit, 0) <= 9:
            return _TENS[word] + _UNITS[unit], i + 2
        return _TENS[word], i + 1
    if word in _UNITS:
        return _UNITS[word], i + 1
    return None, i


def _below_thousand(words: list[str], i: int) -> tuple[int | None, int]:
    value, end = _below_hundred(words, i)
    if value is not None and 1 <= value <= 9 and end < len(words) and words[end] == "hundred":
        value, end = value * 100, end + 1
        rest, after = _below_hundred(words, end + (end < len(words) and words[end] == "and"))
        if rest is not None:
            value, end = value + rest, after
    return value, end


def _below_million(words: list[str], i: int) -> tuple[int | None, int]:
    value, end = _below_thousand(words, i)
    if value is not None and value >= 1 and end < len(words) and words[end] == "thousand":
        value, end = value * 1000, end + 1
        rest, after = _below_thousand(words, end + (end < len(words) and words[end] == "and"))
        if rest is not None:
            value, end = value + rest, after
    return value, end


def check_answer(reply: str, answers: str | Iterable[str]) -> bool:
    """Whether the answer ``reply`` commits to is one of ``answers``.

    The committed answer is the reply's first clause: up to the first sentence end, semicolon or
    line break (initials such as "J. K." and decimals do not end a sentence). It must name an
    accepted answer as a whole word or phrase, not after a negation ("not", "no", "never", "n't"
    ...), and without hedging between candidates ("or", "either", "maybe", "perhaps", "possibly"):
    "Not Canberra.", "Sydney, Canberra or Perth" and "Spiders have 6 legs; 8 eyes" (for 8) are wrong.

    Both sides are normalised the same way: lowercase, accents dropped, punctuation read as a
    space, number words read as digits up to the thousands (``"twenty-one"`` is ``"21"``, ``"one
    hundred and five"`` is ``"105"``), thousands separators dropped (``"1,000"`` is ``"1000"``) and
    decimals kept whole, so ``"14"`` and ``"4.5"`` do not contain ``"4"``. A leading "the", "a" or
    "an" of a multi-word answer is optional.

    >>> check_answer("The capital is Paris.", ["Paris"]), check_answer("Parisian food", "Paris")
    (True, False)
    >>> check_answer("It has four legs", ["4"]), check_answer("14", ["4", "four"])
    (True, False)
    >>> check_answer("Not Canberra.", "Canberra"), check_answer("Canberra. Not Sydney.", "Canberra")
    (False, True)
    """
    answers = [answers] if isinstance(answers, str) else list(answers)
    if not answers or not all(isinstance(a, str) for a in answers):
        raise ValueError(f"answers must be a string or a non-empty list of strings, got {answers!r}")
    needles = []
    for answer in answers:
        words = answer_words(answer)
        if not words:
            raise ValueError(f"answer {answer!r} has no letters or digits to match")
        needles.append(words[1:] if len(words) > 1 and words[0] in _ARTICLES else words)
    clause = answer_words(_first_clause(reply))
    for needle in needles:
        for start in _occurrences(clause, needle):
            before, rest = clause[:start], clause[:start] + clause[start + len(needle):]
            if not _NEGATIONS & set(before) and not _HEDGES & set(rest):
                return True
    return False


# Words that deny what follows them ("isn't" reads as "isn", "t"), and words that spread a reply
# over several candidates.
_NEGATIONS = frozenset({"not", "no", "never", "neither", "nor", "t", "nothing", "none"})
_HEDGES = frozenset({"or", "either", "maybe", "perhaps", "possibly"})
# The end of the first clause: a line break, a semicolon, or a sentence end after a word of two or
# more letters (not an initial) or a digit not followed by more digits.
_CLAUSE_END = re.compile(r"\n|;|(?<=[^\W\d_]{2})[.!?](?=\s|$)|(?<=\d)[.!?](?!\d)|(?<=[)\"'])[.!?](?=\s|$)")


def _first_clause(reply: str) -> str:
    text = reply.strip()
    end = _CLAUSE_END.search(text)
    return text[:end.start()] if end else text


def _occurrences(words: tuple[str, ...], needle: tuple[str, ...]) -> Iterator[int]:
    for i in range(len(words) - len(needle) + 1):
        if words[i:i + len(needle)] == needle:
            yield i
