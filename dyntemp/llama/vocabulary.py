"""A model's vocabulary without its weights: what a driver needs to check requests before any
worker decodes them — tokenizing, chat templates, grammars, end-of-generation tokens, the context."""

from __future__ import annotations

import functools
import os

from .model import _CTX_PAD, default_model_path, load_model


class Vocabulary:
    """The vocabulary of the GGUF at ``path`` (``None``: the default model), for a context of
    ``n_ctx`` tokens as workers will load it (0: the model's own), with ``chat_template`` in place of
    the GGUF's when given (see ``load_model``). ``llm`` is a vocabulary-only ``llama_cpp.Llama``: it
    tokenizes, it does not decode.

    >>> vocabulary = Vocabulary(None, 2000)
    >>> vocabulary.n_ctx, vocabulary.n_vocab, vocabulary.llm.token_eos() in vocabulary.eog
    (2048, 49152, True)
    >>> vocabulary.max_prompt_chars == 2048 * vocabulary.longest_token
    True
    """

    def __init__(self, path: "str | os.PathLike | None", n_ctx: int, chat_template: str | None = None) -> None:
        self.path = os.fspath(path) if path is not None else default_model_path()
        self.chat_template = chat_template
        self.llm = load_model(self.path, vocab_only=True, n_ctx=_CTX_PAD, chat_template=chat_template)
        if n_ctx:
            self.n_ctx = -(-n_ctx // _CTX_PAD) * _CTX_PAD  # as load_model rounds it
        else:
            arch = self.llm.metadata.get("general.architecture", "")
            self.n_ctx = int(self.llm.metadata.get(f"{arch}.context_length", 0)) or _CTX_PAD
        self.n_vocab = self.llm.n_vocab()

    @functools.cached_property
    def eog(self) -> list[int]:
        """The end-of-generation tokens (what ``ignore_eos`` bans), found when first asked: a pass over
        the whole vocabulary (about 30 ms at 49,152 tokens)."""
        from .logits import eog_tokens

        return eog_tokens(self.llm)

    @functools.cached_property
    def longest_token(self) -> int:
        """The most bytes one token's text has (special tokens' too): a text of more characters than
        ``n_ctx`` times this cannot fit the context, whatever it is."""
        detokenize = self.llm.detokenize
        return max(len(detokenize([token], special=True)) for token in range(self.n_vocab))

    @property
    def max_prompt_chars(self) -> int:
        """The most characters a prompt that fits the context can have."""
        return self.n_ctx * self.longest_token
