"""The sampler's own settings, which belong to no stage (the logit bias, ``min_keep``, the stage
``order``, the seed, the grammar), and the built-in stages installed in their default order::

    penalties → dry → top_n_sigma → top_k → typical_p → top_p → min_p → xtc → smoothing → temperature
    → mirostat | adaptive_p
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union

from ... import _validate
from ..numerics import FLOAT32_MAX
from . import registry
from .declare import Declared, Setting, integer
from .penalizing import DRY, Penalties
from .shaping import AdaptiveP, Mirostat, Smoothing, Temperature
from .truncating import XTC, MinP, TopK, TopNSigma, TopP, TypicalP

_ALIASES = {"typical": "typical_p", "typ_p": "typical_p", "temp": "temperature", "penalty": "penalties",
            "quadratic_sampling": "smoothing"}
_NOT_STAGES = {"mirostat_v2": "the mirostat stage is 'mirostat'; its version is the mirostat setting (1 or 2)",
               "infill": "llama.cpp's 'infill' sampler is not a dyntemp stage; leave it out of order",
               "grammar": "a grammar is not a stage: give Sampler(grammar=...), which applies it before every stage"}


def stage_name(name: str) -> str:
    """The canonical stage name for ``name`` (accepts llama.cpp's spellings such as ``typ_p``)."""
    key = str(name).strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    stages = registry.default_order()
    if key in _NOT_STAGES:
        raise ValueError(f"{_NOT_STAGES[key]} (stages are {', '.join(stages)})")
    if key not in stages:
        raise ValueError(f"unknown stage {name!r} in order; stages are {', '.join(stages)}")
    return key


class _DefaultOrder:
    """``order``'s default: every stage registered, in the default order (a user's stage too)."""

    def __repr__(self) -> str:
        return "the default order"


DEFAULT = _DefaultOrder()


def _check_order(name: str, order: "Sequence[str] | str") -> tuple[str, ...]:
    if order is DEFAULT:
        return registry.default_order()
    if not isinstance(order, (str, Sequence)):
        raise TypeError(f"order must be a list of stage names or a ';'-separated string, got {order!r}")
    if isinstance(order, str):
        order = [s for s in order.replace(",", ";").split(";") if s.strip()]
    for stage in order:
        if not isinstance(stage, str):
            raise TypeError(f"order must hold stage names, got {stage!r} in {list(order)!r}")
    names = tuple(stage_name(s) for s in order)
    for stage in set(names):
        if names.count(stage) > 1:
            raise ValueError(f"stage {stage!r} appears {names.count(stage)} times in order {list(order)}")
    if "temperature" not in names:
        raise ValueError(f"order {list(order)} has no 'temperature' stage: the strategy would never run")
    return names


def _check_bias(name: str, logit_bias: object) -> tuple[tuple[int, float], ...]:
    if logit_bias is None:
        return ()
    if isinstance(logit_bias, (list, tuple)):  # (token, bias) pairs, as settings keep them
        if not all(isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in logit_bias):
            raise TypeError(f"logit_bias must be a mapping of token id to bias or (token, bias) pairs, "
                            f"got {logit_bias!r}")
        logit_bias = dict(logit_bias)
    if not isinstance(logit_bias, Mapping):
        raise TypeError(f"logit_bias must be a mapping of token id to bias, got {logit_bias!r}")
    out = {}
    for token, bias in logit_bias.items():
        if isinstance(token, str) and token.isdigit():
            token = int(token)  # JSON object keys
        token = _validate.integer("logit_bias token id", token, low=0)
        if bias == -math.inf or bias == "-inf":
            out[token] = -math.inf
            continue
        try:
            out[token] = _validate.number(f"logit_bias[{token}]", bias, low=-FLOAT32_MAX, high=FLOAT32_MAX)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{exc} (a bias is a number; -inf, or \"-inf\" in JSON, bans the token)") from None
    return tuple(sorted(out.items()))


def _check_seed(name: str, seed: Any) -> int | None:
    return None if seed is None else _validate.integer(name, seed, low=0)


def _check_grammar(name: str, grammar: Any) -> str | None:
    if grammar is not None and (not isinstance(grammar, str) or not grammar.strip()):
        raise TypeError(f"grammar must be GBNF text, got {grammar!r:.80}")
    return grammar


GENERAL = Declared(None, (
    Setting("logit_bias", (), "added to the logits before every stage: {token id: bias}, -inf bans",
            _check_bias, schema=dict[str, Union[float, Literal["-inf"]]]),
    Setting("min_keep", 1, "the fewest tokens a filter keeps", integer(low=0)),
    Setting("order", DEFAULT, "stage order, ';'-separated, e.g. penalties;dry;top_k;min_p;temperature; the stages "
            "left out whose flags are not given are off, as in llama.cpp", _check_order, flag="--samplers",
            fields=("samplers",), metavar="STAGES", schema=Union[list[str], str]),
    Setting("seed", None, "the seed of the draws (none: fresh entropy)", _check_seed, schema=int),
    Setting("grammar", None, "GBNF text: only the tokens it allows reach the stages", _check_grammar, fields=(),
            schema=str),
))

# The settings' listing order (SamplerSettings' fields as they have always been), then the stages' order.
for _cls, _name in ((TopK, "top_k"), (TopP, "top_p"), (MinP, "min_p"), (TypicalP, "typical_p"),
                    (TopNSigma, "top_n_sigma"), (Penalties, "penalties")):
    registry._install(_name, _cls)
registry._install_general(GENERAL)
for _cls, _name in ((XTC, "xtc"), (DRY, "dry"), (Smoothing, "smoothing"), (Temperature, "temperature"),
                    (Mirostat, "mirostat"), (AdaptiveP, "adaptive_p")):
    registry._install(_name, _cls)
registry._set_built_in_order(("penalties", "dry", "top_n_sigma", "top_k", "typical_p", "top_p", "min_p", "xtc", "smoothing",
                     "temperature", "mirostat", "adaptive_p"))
