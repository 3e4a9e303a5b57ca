"""The limits a request must keep, so that no single request can take the server down: each declared
once here (its default, its flag of ``dyntemp serve`` and ``dyntemp batch``, what it bounds), and
checked on the request's fields before anything is tokenized, parsed by llama.cpp or decoded. A
request over a limit is a 400 naming the field and the flag (a body over ``--max-body-bytes``: 413).

>>> Limits().stop, Limits(stop=4).stop
(16, 4)
>>> nesting_depth('{"name": "clamp", "strategy": {"name": "edt"}}')
2
>>> grammar_depth('root ::= ("a" ("b" | "(")) [()]')
2
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Iterator

from .errors import APIError


def _limit(default, flag: str, help: str):
    return field(default=default, metadata={"flag": flag, "help": help})


@dataclass(frozen=True)
class Limits:
    """The limits of one server (or batch). Every field is a flag (``flags()``) with this default."""

    body_bytes: int = _limit(8 * 2 ** 20, "--max-body-bytes",
                             "bytes of a request body (a batch line); more is refused before it is read (413)")
    grammar_bytes: int = _limit(256 * 2 ** 10, "--max-grammar-bytes", "bytes of a grammar (GBNF), after a JSON "
                                                                       "schema is converted")
    grammar_depth: int = _limit(128, "--max-grammar-depth", "nesting of parentheses in a grammar (llama.cpp's "
                                                            "parser recurses on it)")
    stop: int = _limit(16, "--max-stop", "stop strings of a request (OpenAI allows 4)")
    stop_chars: int = _limit(512, "--max-stop-chars", "characters of one stop string")
    sentence_temps: int = _limit(256, "--max-sentence-temps", "values of sentence_temps")
    logit_bias: int = _limit(4096, "--max-logit-bias", "entries of logit_bias")
    bias_text_chars: int = _limit(256, "--max-bias-text-chars", "characters of a text key of logit_bias (tokenized "
                                                               "where the request arrives)")
    messages: int = _limit(1024, "--max-messages", "messages of a chat")
    rules: int = _limit(64, "--max-rules", "rules of a rules strategy")
    spec_depth: int = _limit(8, "--max-spec-depth", "nesting of a strategy (a strategy inside a strategy, a rules "
                                                    "object's tables)")
    request_tokens: int = _limit(65536, "--max-request-tokens", "tokens one request may generate: its choices "
                                                                "(n x prompts) x max_tokens, the context size "
                                                                "when max_tokens is not given")
    timeout: float = _limit(600.0, "--timeout", "seconds a request may hold a slot; then it ends with what it has "
                                                "(finish_reason length, timed_out), or 504 if nothing came")

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{f.metadata['flag']} must be > 0, got {value!r}")

    @staticmethod
    def flags() -> Iterator[tuple[str, str, Any, str]]:
        """``(field, flag, default, help)`` of every limit, for the command lines that take them."""
        for f in fields(Limits):
            yield f.name, f.metadata["flag"], f.default, f.metadata["help"]

    def flag(self, name: str) -> str:
        """The flag of limit ``name`` with its value, as errors name it: ``--max-stop 16``."""
        return f"{Limits.__dataclass_fields__[name].metadata['flag']} {_shown(getattr(self, name))}"

    def refuse(self, name: str, param: str, what: str, count: int, **kwargs) -> APIError:
        """The 400 of field ``param`` over limit ``name``: it has ``count`` ``what``."""
        return APIError(f"{param} has {count} {what}; at most {_shown(getattr(self, name))} are allowed "
                        f"({self.flag(name)})", param=param, code="limit_exceeded", **kwargs)

    def at_most(self, name: str, param: str, what: str, count: int) -> None:
        if count > getattr(self, name):
            raise self.refuse(name, param, what, count)


def _shown(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def nesting_depth(value: Any) -> int:
    """How deep lists and objects nest in ``value`` (parsed JSON, or the text of a strategy spec,
    where brackets count outside strings), without recursing: a hostile depth cannot overflow."""
    if isinstance(value, str):
        return _bracket_depth(value, "[{", "]}", quotes='"')
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        todo.extend((child, depth + 1) for child in children)
    return deepest


def grammar_depth(gbnf: str) -> int:
    """How deep parentheses nest in GBNF text, outside its strings, character classes and comments."""
    return _bracket_depth(gbnf, "(", ")", quotes='"', classes=True, comments=True)


def _bracket_depth(text: str, opening: str, closing: str, *, quotes: str = "", classes: bool = False,
                   comments: bool = False) -> int:
    depth = deepest = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in quotes or (classes and c == "["):
            end = '"' if c in quotes else "]"
            i += 1
            while i < n and text[i] != end:
                i += 2 if text[i] == "\\" else 1
        elif comments and c == "#":
            newline = text.find("\n", i)
            i = n if newline < 0 else newline
        elif c in opening:
            depth += 1
            deepest = max(deepest, depth)
        elif c in closing:
            depth = max(0, depth - 1)
        i += 1
    return deepest
