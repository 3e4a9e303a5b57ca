"""A batch's input: JSON lines, each ``{"id"?, "prompt"}`` or ``{"id"?, "messages"}`` with any field
of a generation (the server's names: ``strategy``, ``sentence_temps``, ``max_tokens``, ``seed``,
``stop``, ``top_k``, ...). The whole file is read and checked before any work; an error names the
file and the line.

Ids: a line's own ``id``, else a hash of its content (so an edited or moved line keeps no stale
answer); the same id twice is an error. Seeds: a line's own ``seed``, else one from the batch's
base seed and the line's id.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import zlib
from dataclasses import dataclass
from typing import IO, Iterator

from pydantic import ValidationError

from ..api.errors import APIError, validation_error
from ..api.jobs import Defaults, check_limits, grammar_source, max_tokens_of, request_settings, seed_of, \
    stop_strings
from ..api.limits import Limits
from ..api.prompts import chat_ids, check_messages, check_prompt, prompt_ids
from ..api.schema import BatchLine, request_models
from ..core.settings import SamplerSettings

SEED_RANGE = 2 ** 32  # llama.cpp's seeds are 32-bit
#: A line's fields that are not its settings (the seed is applied to the settings of the rest).
_NOT_SETTINGS = ("id", "prompt", "messages", "seed", "max_tokens", "max_completion_tokens", "n_predict", "stop")


class BatchError(ValueError):
    """The batch cannot run as given; the message says where (file and line) and what to do."""


@dataclass(frozen=True)
class BatchJob:
    """One line's generation: its id, its place in the input, its settings (seed included), the
    prompt's token ids, the token budget and the stop strings."""

    id: str
    index: int
    settings: SamplerSettings
    prompt: tuple[int, ...]
    max_tokens: int
    stop: tuple[str, ...]
    own_seed: bool  # the line gives its seed (else it comes from the batch's base seed and the id)
    made_of: str  # a hash of the line and what else makes its record (--chat, the token budget, the model)


def read_jobs(stream: IO[str], name: str, model, defaults: Defaults, *, chat: bool, max_tokens: int,
              seed: int, limits: Limits | None = None) -> list[BatchJob]:
    """The jobs of the input ``stream``'s lines (``name``: the file, for messages), checked on ``model``
    (a ``dyntemp.llama.vocabulary.Vocabulary``, with its ``path``) against the ``limits`` of a server
    request (a line of more than ``body_bytes`` is refused unread). ``seed`` is the base seed
    (``reseeded`` gives the jobs another)."""
    limits = limits or Limits()
    line_model = request_models().batch_line  # with the fields of the stages registered now
    settings: dict[str, SamplerSettings] = {}  # lines that differ only in prompt, id and seed share them
    jobs: list[BatchJob] = []
    where: dict[str, int] = {}
    index = 0
    for number, text in enumerate(_lines(stream, name, limits), 1):
        if not text.strip():
            continue
        at = f"{name}:{number}"
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise BatchError(f"{at}: not JSON ({exc}); each line is one JSON object") from None
        if not isinstance(data, dict):
            raise BatchError(f"{at}: a line must be a JSON object, got {text.strip()[:60]}")
        try:
            line = line_model.model_validate(data)
        except ValidationError as exc:
            raise BatchError(f"{at}: {validation_error(exc.errors(), list(line_model.model_fields)).message}") from None
        try:
            job = _job(line, data, model, defaults, chat, max_tokens, seed, index, limits, settings)
        except APIError as exc:
            raise BatchError(f"{at}: {exc.message}") from None
        if job.id in where:
            raise BatchError(f"{at}: id {job.id!r} is also the id of line {where[job.id]}; ids must differ")
        where[job.id] = number
        jobs.append(job)
        index += 1
    if not jobs:
        raise BatchError(f"{name}: no lines to generate from")
    return jobs


def _lines(stream: IO[str], name: str, limits: Limits) -> Iterator[str]:
    """The lines of ``stream``; one of more than ``limits.body_bytes`` is a ``BatchError`` before the
    rest of it is read."""
    most = limits.body_bytes
    for number in itertools.count(1):
        text = stream.readline(most + 1)  # characters: at least as many bytes
        if not text:
            return
        size = len(text.rstrip("\n").encode("utf-8"))
        if size > most:
            raise BatchError(f"{name}:{number}: the line has more than {most} bytes; a line may have at most "
                             f"{most} ({limits.flag('body_bytes')})")
        yield text


def _job(line: BatchLine, data: dict, model, defaults: Defaults, chat: bool, max_tokens: int, base: int,
         index: int, limits: Limits, made: dict[str, SamplerSettings]) -> BatchJob:
    if (line.prompt is None) == (line.messages is None):
        raise APIError('a line has "prompt" or "messages" (one of them)', param="prompt")
    check_limits(line, limits)
    key = json.dumps({k: v for k, v in data.items() if k not in _NOT_SETTINGS}, sort_keys=True)
    if key not in made:
        settings = request_settings(line, model, defaults, limits)
        grammar = grammar_source(line, limits)
        if grammar is not None:
            settings = settings.replace(grammar=grammar.compile(model.llm, limits))
        made[key] = settings.replace(seed=None)
    settings = made[key]
    if seed_of(line) is not None:
        settings = settings.replace(seed=seed_of(line))
    line_id = str(line.id) if line.id is not None else content_id(data)
    own_seed = settings.seed is not None
    if settings.seed is None:  # none, or -1 (llama-server's "pick one")
        settings = settings.replace(seed=line_seed(base, line_id))
    ids_from_chat = line.messages is not None or chat
    if ids_from_chat:
        messages = ([m.model_dump(exclude_none=True) for m in line.messages] if line.messages is not None
                    else [{"role": "user", "content": line.prompt}])
        check_messages(messages, model.n_ctx, model.max_prompt_chars, limits)
        ids = chat_ids(model.llm, messages, model.n_ctx)
    else:
        check_prompt(line.prompt, "prompt", model.n_ctx, model.n_vocab, model.max_prompt_chars)
        ids = prompt_ids(model.llm, line.prompt, model.n_ctx)
    budget = max_tokens_of(line, max_tokens) or model.n_ctx
    # What else makes the record: an edited line (same id), or another --chat, token budget, model or
    # --chat-template (named only when given, so that outputs made before it resume).
    template = {"chat_template": model.chat_template} if model.chat_template is not None and ids_from_chat else {}
    made_of = content_id({"line": data, "chat": chat, "max_tokens": budget, "model": model.path, **template})
    return BatchJob(line_id, index, settings, tuple(ids), budget, stop_strings(line, limits), own_seed, made_of)


def reseeded(jobs: list[BatchJob], base: int) -> list[BatchJob]:
    """``jobs`` with the lines that give no seed seeded from ``base``."""
    return [job if job.own_seed else dataclasses.replace(job, settings=job.settings.replace(
        seed=line_seed(base, job.id))) for job in jobs]


def base_seed(job: BatchJob, seed: int) -> int:
    """The base seed that gave ``job``'s line (one without its own) the seed ``seed``: the inverse
    of ``line_seed``, so that a rerun goes on with the base the output was made with.

    >>> base_seed(BatchJob("a", 0, None, (), 1, (), False, ""), line_seed(77, "a"))
    77
    """
    return (seed - zlib.crc32(job.id.encode("utf-8"))) % SEED_RANGE


def line_seed(base: int, line_id: str) -> int:
    """The seed of a line without its own: from the batch's base seed and the line's id, so that
    inserting a line leaves the others' seeds as they were.

    >>> line_seed(5, "a") == line_seed(5, "a") != line_seed(5, "b")
    True
    """
    return (base + zlib.crc32(line_id.encode("utf-8"))) % SEED_RANGE


def content_id(data: dict) -> str:
    """The id of a line without one: a hash of its content.

    >>> content_id({"prompt": "Hi"}) == content_id({"prompt": "Hi"}) != content_id({"prompt": "Hello"})
    True
    """
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "h" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def open_input(path: str) -> tuple[IO[str], str]:
    """The input's lines and its name for messages (``-``: standard input)."""
    import sys

    if path == "-":
        return sys.stdin, "standard input"
    return open(path, encoding="utf-8"), path
