"""Generation on a llama.cpp model with a ``Sampler`` deciding every token: generate, stream, chat.

The loop evaluates the prompt, then per token reads llama.cpp's logits, lets the sampler draw, and
feeds the token back; when it stops, and why, is ``dyntemp.llama.sequence``'s (shared with the
batched engine, ``dyntemp.llama.batched``).
"""

from __future__ import annotations

from numbers import Integral
from typing import TYPE_CHECKING, Generator, Iterator, Mapping, Sequence

from .. import _validate
from ..core.results import GenerationResult, StreamPiece
from ..core.stops import check_stop
from .locks import using
from .logits import LogitsReader
from .sequence import SequenceProgress, prepare

if TYPE_CHECKING:
    from ..core.sampler import Sampler


def stream(sampler: "Sampler", llm, prompt: "str | Sequence[int]", *, max_tokens: int = 256,
           stop: "str | Sequence[str] | None" = None, deadline: float | None = None) -> Iterator[StreamPiece]:
    """Yield the generated text piece by piece (see ``Sampler.stream``). ``deadline``, a
    ``time.monotonic()`` time: no token is drawn after it, and the generation ends with
    ``sampler.finish_reason == "timeout"``."""
    yield from _pieces(sampler, llm, prompt, max_tokens, stop, deadline)


def _pieces(sampler: "Sampler", llm, prompt: "str | Sequence[int]", max_tokens: int,
            stop: "str | Sequence[str] | None", deadline: float | None = None) -> Generator[StreamPiece, None, str]:
    """The pieces of ``stream``; the generator returns the finish reason."""
    max_tokens = _validate.integer("max_tokens", max_tokens, low=1)
    stops = check_stop(stop)
    prompt_ids = fitting_prompt(llm, prompt, llm.n_ctx())
    with using(sampler, llm):
        return (yield from _loop(sampler, llm, prompt_ids, max_tokens, stops, deadline))


def _loop(sampler: "Sampler", llm, prompt_ids: list[int], max_tokens: int, stops: tuple[str, ...],
          deadline: float | None = None) -> Generator[StreamPiece, None, str]:
    import llama_cpp

    prepare(sampler, llm)
    progress = SequenceProgress(sampler, llama_cpp.llama_model_get_vocab(llm.model), prompt_ids, max_tokens,
                                stops, llm.n_ctx(), deadline)
    llm.reset()
    llm.eval(prompt_ids)
    read_logits = LogitsReader(llm)
    while True:
        piece = progress.advance(read_logits())
        if piece is not None:
            yield piece
        if progress.reason is not None:
            break
        try:
            llm.eval([progress.last])
        except RuntimeError as exc:
            if "llama_decode returned 1" not in str(exc):  # 1: no room left in the KV cache, as at n_ctx
                raise
            break
    piece = progress.end()
    if piece is not None:
        yield piece
    return progress.reason


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
    return GenerationResult.of(text="".join(parts), trace=sampler.trace, finish_reason=reason)


def fitting_prompt(llm, prompt: "str | bytes | Sequence[int]", n_ctx: int, holder: str = "the context") -> list[int]:
    """``prompt_tokens`` of ``prompt``, refused (``ValueError``) unless ``holder``, a context of
    ``n_ctx`` tokens, has room for them and one more."""
    ids = prompt_tokens(llm, prompt)
    if len(ids) >= n_ctx:
        raise ValueError(f"the prompt is {len(ids)} tokens and {holder} holds {n_ctx} (n_ctx; --ctx-size on the "
                         f"command line): give a larger context or a shorter prompt")
    return ids


def prompt_tokens(llm, prompt: "str | bytes | Sequence[int]") -> list[int]:
    """The token ids of ``prompt``: text (UTF-8 ``bytes`` too) tokenized with special tokens parsed
    and the model's BOS added, or token ids as they are.

    >>> from dyntemp.llama import load_model
    >>> llm = load_model(n_ctx=128)
    >>> prompt_tokens(llm, b"Hello") == prompt_tokens(llm, "Hello") == llm.tokenize(b"Hello", special=True)
    True
    """
    if isinstance(prompt, bytes):
        try:
            prompt = prompt.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"a bytes prompt must be UTF-8 text (token ids are a list of ints): {exc}") from None
    if isinstance(prompt, str):
        ids = llm.tokenize(prompt.encode("utf-8"), special=True)
    else:
        try:  # a list, tuple or numpy array of token ids
            ids = [int(t) for t in prompt if isinstance(t, Integral) and not isinstance(t, bool)]
        except TypeError:
            ids = None
        if ids is None or len(ids) != len(prompt):
            raise TypeError(f"prompt must be text or a list of token ids, got {prompt!r:.80}")
    if not ids:
        raise ValueError("prompt is empty: there is nothing to continue")
    return ids


def chat_prompt(llm, messages: Sequence[Mapping], template: str | None = None) -> str:
    """``messages`` formatted with a chat template (by default the model's own), ready for the
    assistant's turn.

    A message is ``{"role": ..., "content": text}``; content may also be OpenAI's list of text parts
    (``[{"type": "text", "text": ...}]``). ``template`` is a Jinja chat template, as in a GGUF's
    ``tokenizer.chat_template``: for a model that has none.
    """
    template = template if template is not None else llm.metadata.get("tokenizer.chat_template")
    if template is None:
        raise ValueError("this model has no chat template (tokenizer.chat_template) in its GGUF metadata: "
                         "give one (chat_template= in Python, --chat-template FILE to every command), or send a "
                         "plain prompt")
    messages = _checked_messages(messages)
    return chat_formatter(llm, template)(messages=messages).prompt


def chat_formatter(llm, template: str):
    """llama-cpp-python's ``Jinja2ChatFormatter`` of ``template`` on ``llm``'s BOS and EOS texts, as
    ``Llama`` makes one from a GGUF's template."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def text_of(token: int) -> str:
        return llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    return Jinja2ChatFormatter(template=template, eos_token=text_of(llm.token_eos()),
                               bos_token=text_of(llm.token_bos()), stop_token_ids=[llm.token_eos()])


def chat_tokens(llm, messages: Sequence[Mapping], template: str | None = None) -> list[int]:
    """The token ids of ``chat_prompt``, tokenized as llama-cpp-python's ``create_chat_completion``
    does: the template writes any BOS itself, so none is added (a second BOS would change the prompt)."""
    return llm.tokenize(chat_prompt(llm, messages, template).encode("utf-8"), add_bos=False, special=True)


def _checked_messages(messages: Sequence[Mapping]) -> list[dict]:
    shape = "a non-empty list of {'role': ..., 'content': ...} dicts"
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Sequence) or not messages:
        raise ValueError(f"messages must be {shape}, got {messages!r:.80}")
    checked = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            raise ValueError(f"messages[{i}] must be a dict with a 'role' string, got {message!r:.80}")
        content = message.get("content")
        if isinstance(content, list) and all(isinstance(p, Mapping) and p.get("type") == "text"
                                             and isinstance(p.get("text"), str) for p in content):
            content = "".join(p["text"] for p in content)
        if not isinstance(content, str):
            raise ValueError(f"messages[{i}]['content'] must be text or a list of text parts "
                             f"[{{'type': 'text', 'text': ...}}], got {content!r:.80}")
        checked.append({**message, "content": content})
    return checked
