"""Grammars (GBNF) and JSON schemas: llama.cpp's grammar sampler as a constraint on the candidates.

A constraint removes the tokens a grammar does not allow *before* the filters and the strategy see
the logits (``Sampler`` applies it right after the logit bias), and advances with each accepted
token. llama.cpp's grammar sampler decides: the same GBNF, the same tokens allowed. A JSON schema
becomes GBNF as llama-cpp-python converts it (``LlamaGrammar.from_json_schema``).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import llama_cpp
import numpy as np

from .model import llama_stderr_quiet
from .native import TokenArray

ROOT = b"root"


def json_schema_grammar(schema: "str | Mapping[str, Any]") -> str:
    """The GBNF of a JSON schema (a dict or its JSON text), as llama-cpp-python converts it.

    >>> "root ::=" in json_schema_grammar({"type": "boolean"})
    True
    """
    from llama_cpp.llama_grammar import LlamaGrammar

    text = schema if isinstance(schema, str) else json.dumps(schema)
    try:
        json.loads(text)
    except ValueError as exc:
        raise ValueError(f"json_schema is not valid JSON: {exc}") from None
    try:
        return LlamaGrammar.from_json_schema(text, verbose=False)._grammar
    except Exception as exc:  # the converter raises what it meets: a schema it cannot express
        raise ValueError(f"json_schema cannot be turned into a grammar: {exc}") from None


def _masked(tokens: TokenArray, sampler, logits: np.ndarray) -> np.ndarray:
    """``logits`` with the tokens ``sampler`` rejects at ``-inf`` (a new array). The grammar sampler
    rejects in place and in token order; a sampler that sorted or dropped tokens would not keep it."""
    return np.ascontiguousarray(tokens.apply(sampler, logits)["logit"])


class GrammarConstraint:
    """Only the tokens a GBNF grammar allows next; advanced by ``accept``, restarted by ``reset``.

    >>> from dyntemp.llama import load_model
    >>> llm = load_model(n_ctx=128)
    >>> yes_no = GrammarConstraint(llm, 'root ::= "yes" | "no"')
    >>> allowed = np.isfinite(yes_no.restrict(np.zeros(llm.n_vocab(), dtype=np.float32)))
    >>> sorted(llm.detokenize([int(t)]).decode() for t in np.flatnonzero(allowed))[:4]
    ['n', 'no', 'y', 'ye']
    """

    def __init__(self, llm, grammar: str) -> None:
        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        with llama_stderr_quiet():  # llama.cpp's parser prints a grammar it cannot parse, whole, to stderr
            self._sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), ROOT)
        if not self._sampler:
            raise ValueError("grammar: llama.cpp could not parse it as GBNF with a 'root' rule (run with "
                             "verbose=True, --verbose on the command line, to see where)")
        self._tokens = TokenArray(llm.n_vocab())

    def restrict(self, logits: np.ndarray) -> np.ndarray:
        """``logits`` with every token the grammar does not allow next at ``-inf``."""
        return _masked(self._tokens, self._sampler, logits)

    def accept(self, token: int) -> None:
        llama_cpp.llama_sampler_accept(self._sampler, int(token))

    def reset(self) -> None:
        llama_cpp.llama_sampler_reset(self._sampler)

    def __del__(self) -> None:
        sampler = getattr(self, "_sampler", None)
        if sampler:
            llama_cpp.llama_sampler_free(sampler)
            self._sampler = None


class ChainGrammar:
    """The grammar in llama-cpp-python's own sampler chain (``create_completion(grammar=...)``,
    ``response_format``), applied to the candidates as dyntemp's own: so the hook draws what that
    grammar allows. llama-cpp-python's chain accepts each token into it, so ``accept`` does nothing."""

    def __init__(self, sampler, n_vocab: int) -> None:
        self._sampler = sampler
        self._tokens = TokenArray(n_vocab)

    @classmethod
    def of(cls, llm) -> "ChainGrammar | None":
        """The grammar of the chain ``llm`` is sampling with now, if it has one."""
        own = getattr(llm, "_sampler", None)  # llama-cpp-python's LlamaSampler, while it samples
        chain = getattr(own, "sampler", None)
        if not chain:
            return None
        # Its Python samplers (the logits processors) have no name function: asking would crash.
        python_samplers = {index for index, _ in getattr(own, "custom_samplers", ())}
        for i in range(llama_cpp.llama_sampler_chain_n(chain)):
            if i in python_samplers:
                continue
            sampler = llama_cpp.llama_sampler_chain_get(chain, i)
            if llama_cpp.llama_sampler_name(sampler) == b"grammar":
                return cls(sampler, llm.n_vocab())
        return None

    def restrict(self, logits: np.ndarray) -> np.ndarray:
        return _masked(self._tokens, self._sampler, logits)

    def accept(self, token: int) -> None:
        """llama-cpp-python's chain accepts the token itself."""

    def reset(self) -> None:
        """llama-cpp-python makes a new chain for each completion."""
