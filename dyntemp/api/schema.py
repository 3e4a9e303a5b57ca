"""The request bodies the server takes: OpenAI's fields, llama-server's extensions (same names and
meaning) and dyntemp's own, as typed pydantic models.

Types are strict (``"0.7"`` is not a number, ``1.0`` is not a count) and unknown fields are refused,
so that a misspelt option is an error rather than silently not applied. Ranges and the meaning of
each field are checked where the request becomes settings (``dyntemp.api.jobs``), by the same
checks the library makes.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any, ClassVar, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator
from pydantic_core import PydanticCustomError

from ..core import stages
from ..core.stages import Setting
from .compat import CompatError, Typo, normalized

_STRICT = ConfigDict(extra="forbid", strict=True)


class StreamOptions(BaseModel):
    model_config = _STRICT
    include_usage: bool = False


class JsonSchemaFormat(BaseModel):
    model_config = _STRICT
    name: str | None = None
    description: str | None = None
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    """``{"type": "text"}``, ``{"type": "json_object"}`` (any JSON; llama-cpp-python's ``schema`` key
    too) or ``{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}``."""

    model_config = _STRICT
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")


class _Generation(BaseModel):
    """What one generation is made with besides the sampler's settings: its length, stop strings,
    the strategy, the grammar. Other spellings and forms of the fields (KoboldCpp's, SillyTavern's,
    text-generation-webui's) are read as these (``dyntemp.api.compat``)."""

    model_config = _STRICT

    @model_validator(mode="before")
    @classmethod
    def _read_as_ours(cls, data: Any) -> Any:
        try:
            return normalized(data, cls.model_fields, UNSUPPORTED)
        except CompatError as exc:
            raise PydanticCustomError("compat", "{message}", {"message": str(exc), "field": exc.field,
                                                               "typo": isinstance(exc, Typo)}) from None

    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    n_predict: int | None = None  # llama-server's max_tokens (-1: until the context is full)
    stop: Union[str, list[str], None] = None
    response_format: ResponseFormat | None = None
    # The strategy: one of these (temperature with llama-server's dynatemp_range/exponent, or dyntemp's own).
    temperature: float | None = None
    dynatemp_range: float | None = None
    dynatemp_exponent: float | None = None
    strategy: Union[str, dict[str, Any], float, None] = None  # a number is a constant temperature
    sentence_temps: list[float] | None = None
    rules: dict[str, Any] | None = None
    grammar: str | None = None
    json_schema: dict[str, Any] | None = None
    ignore_eos: bool = False
    t_max_predict_ms: int | None = None  # llama-server's time limit (<= 0: the server's --timeout)


def sampler_fields(declared: "tuple[Setting, ...]") -> dict[str, tuple]:
    """The request fields of ``declared`` settings (llama-server's names), each optional, typed and
    described by its declaration: ``{field: (type, Field)}`` for ``pydantic.create_model``."""
    return {name: (Optional[setting.schema], Field(default=None, description=setting.help))
            for setting in declared for name in setting.fields}


_BUILT_IN = tuple(stages.settings())  # the built-in stages' settings and a plugin's (entry points)

#: What one generation is made with: its length, stop strings, seed, the strategy and the sampler's
#: settings. ``None`` means not given: the default of the server (or of the batch command) applies.
#: A batch line has these fields.
GenerationFields = create_model("GenerationFields", __base__=_Generation, __module__=__name__,
                                **sampler_fields(_BUILT_IN))


class SamplingFields(GenerationFields):
    """What completions and chat completions share: the fields of a generation, and the model,
    the number of choices, streaming and the trace."""

    #: The token budget of a request that gives none (``None``: until the context is full).
    DEFAULT_MAX_TOKENS: ClassVar[int | None] = None

    model: str | None = None
    n: int = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    return_trace: bool = False


class CompletionRequest(SamplingFields):
    """``POST /v1/completions``: a prompt (text, token ids, or a list of either) to continue."""

    DEFAULT_MAX_TOKENS: ClassVar[int | None] = 16  # OpenAI's

    prompt: Union[str, list[int], list[str], list[list[int]]]
    logprobs: int | None = None
    echo: bool = False


class NativeCompletionRequest(SamplingFields):
    """llama-server's ``POST /completion``: a prompt to continue, until the context is full unless
    ``n_predict`` says; ``n_probs`` (read as ``logprobs``) gives each token's probabilities."""

    prompt: Union[str, list[int], list[str], list[list[int]]]
    logprobs: int | None = None


class KoboldGenerateRequest(SamplingFields):
    """KoboldCpp's ``POST /api/v1/generate``: a prompt and KoboldCpp's fields (``max_length``,
    ``rep_pen``, ``sampler_order``, ``stop_sequence``, ``sampler_seed``, ...; ``dyntemp.api.compat``)."""

    DEFAULT_MAX_TOKENS: ClassVar[int | None] = 180  # KoboldCpp's max_length

    prompt: str
    logprobs: int | None = None


class TextPart(BaseModel):
    model_config = _STRICT
    type: Literal["text"]
    text: str


class Message(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)  # the template may read more (name, ...)
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]  # OpenAI's
    content: Union[str, list[TextPart], None] = None


class ChatCompletionRequest(SamplingFields):
    """``POST /v1/chat/completions``: messages formatted with the model's chat template."""

    messages: list[Message]
    logprobs: bool = False
    top_logprobs: int | None = None


class BatchLine(GenerationFields):
    """One line of a ``dyntemp batch`` input: a ``prompt`` (text or token ids) or ``messages``, an
    optional ``id``, and any field of a generation."""

    id: Union[str, int, None] = None
    prompt: Union[str, list[int], None] = None
    messages: list[Message] | None = None


_LENIENT = ConfigDict(extra="ignore", strict=True)


class TokenizeRequest(BaseModel):
    """llama-server's ``POST /tokenize``."""

    model_config = _LENIENT
    content: str
    add_special: bool = False
    with_pieces: bool = False
    model: str | None = None


class DetokenizeRequest(BaseModel):
    """llama-server's ``POST /detokenize``."""

    model_config = _LENIENT
    tokens: list[int]
    model: str | None = None


class ApplyTemplateRequest(BaseModel):
    """llama-server's ``POST /apply-template``: chat messages through the model's template."""

    model_config = _LENIENT
    messages: list[Message]
    model: str | None = None


class TokenCountRequest(BaseModel):
    """KoboldCpp's ``POST /api/extra/tokencount``."""

    model_config = _LENIENT
    prompt: str
    model: str | None = None


def request_models() -> SimpleNamespace:
    """The request models with the fields of every stage registered now: ``completion``, ``chat``
    and ``batch_line``. Without stages registered since this module was imported they are
    ``CompletionRequest``, ``ChatCompletionRequest`` and ``BatchLine``; with them, subclasses that add
    their fields (so that a user's stage, imported with ``--import``, is a request field too)."""
    return _models(tuple(s for s in stages.settings() if s not in _BUILT_IN))


@functools.cache
def _models(extra: "tuple[Setting, ...]") -> SimpleNamespace:
    bases = {"completion": CompletionRequest, "chat": ChatCompletionRequest, "batch_line": BatchLine,
             "native": NativeCompletionRequest, "kobold": KoboldGenerateRequest}
    if not extra:
        return SimpleNamespace(**bases)
    fields = sampler_fields(extra)
    return SimpleNamespace(**{key: create_model(base.__name__, __base__=base, __module__=__name__, **fields)
                              for key, base in bases.items()})


#: OpenAI fields this server knows but does not implement: refused by name rather than as unknown.
UNSUPPORTED = {"tools": "tool calls", "tool_choice": "tool calls", "parallel_tool_calls": "tool calls",
               "functions": "function calls", "function_call": "function calls", "suffix": "insertion (suffix)",
               "best_of": "best_of", "audio": "audio", "modalities": "audio", "prediction": "predicted outputs",
               "store": "stored completions", "metadata": "stored completions", "service_tier": "service tiers",
               "reasoning_effort": "reasoning models", "web_search_options": "web search"}
