"""The one seam between the core and a model: ``Sampler.generate``, ``stream``, ``chat``,
``logits_processor`` and ``llama_kwargs``, and a JSON schema's grammar, are conveniences that hand
the sampler to a backend implementing ``Backend``. The backend is ``dyntemp.llama`` (its module
``dyntemp.llama.backend``), imported the first time one is used, so that the core imports no
llama.cpp and runs where llama.cpp's package cannot be imported."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Protocol, Sequence

if TYPE_CHECKING:
    from .results import GenerationResult, StreamPiece

#: The module whose ``BACKEND`` implements ``Backend``.
BACKEND_MODULE = "dyntemp.llama.backend"


class Backend(Protocol):
    """What the core asks of a model's package."""

    def generate(self, sampler, llm, prompt: "str | Sequence[int]", *, max_tokens: int,
                 stop: "str | Sequence[str] | None") -> "GenerationResult": ...

    def stream(self, sampler, llm, prompt: "str | Sequence[int]", *, max_tokens: int,
               stop: "str | Sequence[str] | None") -> "Iterator[StreamPiece]": ...

    def chat_tokens(self, llm, messages: Sequence[Mapping], template: str | None) -> list[int]: ...

    def logits_processor(self, sampler, llm) -> Any: ...

    def neutral_kwargs(self) -> dict: ...

    def json_schema_grammar(self, schema: "str | Mapping[str, Any]") -> str: ...


def backend() -> Backend:
    """The backend (importing it the first time)."""
    return importlib.import_module(BACKEND_MODULE).BACKEND
