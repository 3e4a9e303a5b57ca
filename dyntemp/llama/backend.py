"""``dyntemp.llama`` as the core's backend (``dyntemp.core.backend.Backend``): generation, chat
tokens, the llama-cpp-python hook and JSON schemas, for ``Sampler``'s conveniences."""

from __future__ import annotations

from typing import Any, Mapping, Sequence


class LlamaBackend:
    """Hands the core's conveniences to this package's functions."""

    def generate(self, sampler, llm, prompt, *, max_tokens: int, stop):
        from .generation import generate

        return generate(sampler, llm, prompt, max_tokens=max_tokens, stop=stop)

    def stream(self, sampler, llm, prompt, *, max_tokens: int, stop):
        from .generation import stream

        return stream(sampler, llm, prompt, max_tokens=max_tokens, stop=stop)

    def chat_tokens(self, llm, messages: Sequence[Mapping], template: str | None) -> list[int]:
        from .generation import chat_tokens

        return chat_tokens(llm, messages, template)

    def logits_processor(self, sampler, llm) -> Any:
        from .hook import logits_processor

        return logits_processor(sampler, llm)

    def neutral_kwargs(self) -> dict:
        from .hook import NEUTRAL_LLAMA_KWARGS

        return dict(NEUTRAL_LLAMA_KWARGS)

    def json_schema_grammar(self, schema: "str | Mapping[str, Any]") -> str:
        from .grammar import json_schema_grammar

        return json_schema_grammar(schema)


BACKEND = LlamaBackend()
