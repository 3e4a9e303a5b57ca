"""Generation on a llama.cpp model with a ``Sampler`` deciding every token: generate, stream, chat.

The loop evaluates the prompt, then per token reads llama.cpp's logits, lets the sampler draw, and
feeds the token back. It stops at an end-of-generation token (``finish_reason="eos"``), at a stop
string (``"stop"``; the stop string is not part of the text) or after ``max_tokens`` (``"length"``).
Streamed text holds back anything that could still become a stop string.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generator, Iterator, Sequence

from .. import _validate
from ..core.results import GenerationResult, StreamPiece
from .logits import LogitsReader, piece_decoder

if TYPE_CHECKING:
    from ..core.sampler import Sampler


def _check_stop(stop: "str | Sequence[str] | None") -> tuple[str, ...]:
    if stop is None:
        return ()
    stops = (stop,) if isinstance(stop, str) else tuple(stop)
    for s in stops:
        if not isinstance(s, str) or not s:
            raise ValueError(f"stop must be non-empty strings, got {s!r}")
    return stops


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many characters at the end of ``text`` could be the start of a stop string."""
    longest = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:n]):
                longest = n
                break
    return longest


def stream(sampler: "Sampler", llm, prompt: "str | Sequence[int]", *, max_tokens: int = 256,
           stop: "str | Sequence[str] | None" = None) -> Iterator[StreamPiece]:
    """Yield the generated text piece by piece (see ``Sampler.stream``)."""
    yield from _pieces(sampler, llm, prompt, max_tokens, stop)


def _pieces(sampler: "Sampler", llm, prompt: "str | Sequence[int]", max_tokens: int,
            stop: "str | Sequence[str] | None") -> Generator[StreamPiece, None, str]:
    """The pieces of ``stream``; the generator returns the finish reason."""
    max_tokens = _validate.integer("max_tokens", max_tokens, low=1)
    stops = _check_stop(stop)
    prompt_ids = llm.tokenize(prompt.encode("utf-8"), special=True) if isinstance(prompt, str) else list(prompt)
    if not prompt_ids:
        raise ValueError("prompt is empty: there is nothing to continue")
    import llama_cpp  # here, not at the top: importing the sampler must not load llama.cpp

    sampler.reset()
    sampler.use_detokenizer(piece_decoder(llm))
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    llm.reset()
    llm.eval(prompt_ids)
    history = list(prompt_ids)
    read_logits = LogitsReader(llm)
    emitted = 0
    reason = "length"
    for _ in range(max_tokens):
        token = sampler.sample(read_logits(), history, overwrite=True)
        record = sampler.trace[-1]
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            reason = "eos"
            break
        history.append(token)
        text = sampler.text
        hits = [i for i in (text.find(s, max(0, emitted - len(s))) for s in stops) if i >= 0]
        if hits:
            end = min(hits)
            if end > emitted:
                yield StreamPiece(text[emitted:end], record)
            reason = "stop"
            break
        safe = len(text) - _held_back(text, stops)
        if safe > emitted:
            yield StreamPiece(text[emitted:safe], record)
            emitted = safe
        llm.eval([token])
    if reason != "stop" and len(sampler.text) > emitted:
        yield StreamPiece(sampler.text[emitted:], sampler.trace[-1])
    return reason


def generate(sampler: "Sampler", llm, prompt: "str | Sequence[int]", *, max_tokens: int = 256,
             stop: "str | Sequence[str] | None" = None) -> GenerationResult:
    """Generate to the end (see ``Sampler.generate``)."""
    pieces, parts = _pieces(sampler, llm, prompt, max_tokens, stop), []
    while True:
        try:
            parts.append(next(pieces).text)
        except StopIteration as end:
            reason = end.value
            break
    tokens = [r.token for r in sampler.trace]
    if reason == "eos":
        tokens = tokens[:-1]
    return GenerationResult("".join(parts), tokens, sampler.trace, reason)


def chat_prompt(llm, messages: Sequence[dict]) -> str:
    """``messages`` formatted with the model's own chat template, ready for the assistant's turn."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if template is None:
        raise ValueError("this model has no chat template (tokenizer.chat_template) in its GGUF metadata")
    if not isinstance(messages, Sequence) or not all(isinstance(m, dict) and "role" in m for m in messages):
        raise ValueError("messages must be a list of {'role': ..., 'content': ...} dicts")

    def text_of(token: int) -> str:
        return llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    formatter = Jinja2ChatFormatter(template=template, eos_token=text_of(llm.token_eos()),
                                    bos_token=text_of(llm.token_bos()))
    return formatter(messages=list(messages)).prompt
