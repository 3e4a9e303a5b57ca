"""A request's prompts and grammar: checked for size where the request arrives (no llama.cpp call,
linear time), then turned into token ids and a parsed grammar on the model that runs it — in the
server, a slot's process, where a crash or a long tokenization costs that request alone.

A prompt cannot fit a context of ``n_ctx`` tokens if it has more characters than ``n_ctx`` times
the longest token of the vocabulary: such a prompt is refused before it is tokenized.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from .errors import APIError
from .limits import Limits, grammar_depth


def check_prompt(prompt: "str | Sequence[int]", param: str, n_ctx: int, n_vocab: int, max_chars: int) -> None:
    """A 400 for a prompt that cannot fit the context (``max_chars``: the most characters one that
    fits may have) or names a token the vocabulary does not have; nothing is tokenized."""
    if isinstance(prompt, str):
        check_chars(len(prompt), max_chars, n_ctx, f"{param} has", "text", param)
        return
    if any(not 0 <= t < n_vocab for t in prompt):
        raise APIError(f"{param}: token ids must be from 0 to {n_vocab - 1}", param="prompt")
    _fitting(prompt, n_ctx, "prompt")


def check_messages(messages: Sequence[dict], n_ctx: int, max_chars: int, limits: Limits) -> None:
    """A 400 for a chat with more messages than the limit, or more characters than can fit."""
    limits.at_most("messages", "messages", "messages", len(messages))
    chars = sum(len(_content(m.get("content"))) for m in messages)
    check_chars(chars, max_chars, n_ctx, "messages have", "chat", "messages")


def check_chars(chars: int, max_chars: int, n_ctx: int, subject: str, kind: str, param: str) -> None:
    """A 400 for text of ``chars`` characters, more than any ``kind`` that fits the context has
    (``max_chars``); ``subject`` begins the message ("prompt has")."""
    if chars > max_chars:
        raise APIError(f"{subject} {chars} characters: no {kind} of more than {max_chars} fits the context of "
                       f"{n_ctx} tokens (--ctx-size)", param=param.partition("[")[0], code="context_length_exceeded")


def _content(content: Any) -> str:
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def prompt_ids(llm, prompt: "str | Sequence[int]", n_ctx: int, where: str = "prompt") -> list[int]:
    """The token ids of a prompt (text, or token ids) on ``llm``'s vocabulary, refused if it does
    not fit a context of ``n_ctx`` tokens."""
    from ..llama.generation import prompt_tokens

    try:
        return _fitting(prompt_tokens(llm, prompt), n_ctx, "prompt")
    except (TypeError, ValueError) as exc:
        raise APIError.about(where, str(exc)) from None


def chat_ids(llm, messages: Sequence[dict], n_ctx: int) -> list[int]:
    """The token ids of chat ``messages`` (dicts) through ``llm``'s template, fitting a context of ``n_ctx``."""
    import jinja2

    from ..llama.generation import chat_tokens

    try:
        ids = chat_tokens(llm, list(messages))
    except (ValueError, jinja2.TemplateError) as exc:  # the template's own raise_exception, or a bad message
        raise APIError.about("messages", str(exc)) from None
    return _fitting(ids, n_ctx, "messages")


def _fitting(ids: "Sequence[int]", n_ctx: int, param: str) -> "Sequence[int]":
    if len(ids) >= n_ctx:
        raise APIError(f"the prompt is {len(ids)} tokens and the context holds {n_ctx} (--ctx-size): send a "
                       f"shorter prompt", param=param, code="context_length_exceeded")
    return ids


@dataclass(frozen=True)
class GrammarSource:
    """Where a request's grammar comes from: GBNF text (``grammar``) or a JSON schema (``json_schema``,
    ``response_format``), named by its field ``param``. ``check`` bounds the text where the request
    arrives; ``compile`` converts and parses it on the model that runs it."""

    param: str
    gbnf: str | None = None
    schema: Any = None

    def check(self, limits: Limits) -> None:
        if self.gbnf is not None:
            _check_gbnf(self.gbnf, self.param, limits)

    def compile(self, llm, limits: Limits) -> str:
        """The GBNF, parsed by llama.cpp on ``llm``'s vocabulary; an ``APIError`` when it is not valid."""
        from ..llama.grammar import GrammarConstraint, json_schema_grammar

        try:
            gbnf = self.gbnf if self.gbnf is not None else json_schema_grammar(self.schema)
        except ValueError as exc:
            raise APIError.about(self.param, str(exc)) from None
        _check_gbnf(gbnf, self.param, limits)  # a schema's grammar too, before llama.cpp parses it
        try:
            GrammarConstraint(llm, gbnf)
        except ValueError as exc:
            raise APIError.about(self.param, str(exc)) from None
        return gbnf


def _check_gbnf(gbnf: str, param: str, limits: Limits) -> None:
    size = len(gbnf.encode("utf-8"))
    if size > limits.grammar_bytes:
        raise limits.refuse("grammar_bytes", param, "bytes of grammar", size)
    depth = grammar_depth(gbnf)
    if depth > limits.grammar_depth:
        raise limits.refuse("grammar_depth", param, "levels of nested parentheses", depth)
