"""What frontends send, made into this server's fields before a request is validated.

SillyTavern forwards a body of sixty fields for many backends, KoboldCpp's clients use its own
names, Open WebUI copies every parameter a user set (Ollama's too). As llama-server does, a field
this server does not know is ignored — named once in the log and in the ``X-Dyntemp-Ignored``
response header — unless it looks like a typo of one it knows (a 400 with did-you-mean), or the
server runs with ``--strict`` (a 400 for any unknown field). Other spellings of a field are read as
it (``rep_pen`` as ``repeat_penalty``, ``max_length`` as ``max_tokens``); when several spellings
come they must agree. Other forms are read too: ``logit_bias`` as ``[[id or text, bias or
false], ...]``, ``samplers`` as llama-server's string of letters (names it does not know dropped,
as llama.cpp drops them), ``dry_sequence_breakers`` as a JSON string, KoboldCpp's
``sampler_order`` numbers, and dynamic temperature as text-generation-webui's
``dynamic_temperature`` with ``dynatemp_low``/``dynatemp_high`` or TabbyAPI's
``min_temp``/``max_temp``/``temp_exponent``.

A batch line has no frontend: it is read strictly (``strict`` is the default outside a request).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from .. import _validate

#: Other spellings of a field, and the field.
ALIASES = {
    "max_new_tokens": "max_tokens", "num_predict": "max_tokens", "max_length": "max_tokens",
    "rep_pen": "repeat_penalty", "repetition_penalty": "repeat_penalty",
    "rep_pen_range": "repeat_last_n", "repetition_penalty_range": "repeat_last_n",
    "typical": "typical_p", "nsigma": "top_n_sigma", "mirostat_mode": "mirostat", "sampler_seed": "seed",
    "stop_sequence": "stop", "stopping_strings": "stop", "ban_eos_token": "ignore_eos",
    "temp_exponent": "dynatemp_exponent",
}
#: Fields frontends send for other backends that this server leaves alone without a word of warning
#: beyond the header: never taken for typos of its own.
FOREIGN = frozenset({
    "api_type", "api_server", "cache_prompt", "top_a", "tfs", "tfs_z", "rep_pen_slope", "min_tokens", "min_length",
    "add_bos_token", "skip_special_tokens", "include_reasoning", "truncation_length", "num_ctx", "custom_token_bans",
    "banned_strings", "banned_tokens", "grammar_string", "legacy_api", "skew", "max_tokens_second",
    "negative_prompt", "guidance_scale", "epsilon_cutoff", "eta_cutoff", "trim_stop", "render_special",
    "bypass_eos", "grammar_retain_state", "memory", "genkey", "images", "max_context_length", "use_default_badwordsids",
    "keep_alive", "format", "think", "num_batch", "num_keep", "num_thread", "num_gpu", "use_mmap", "use_mlock",
    "n_keep", "n_discard", "n_indent", "n_cmpl", "id_slot", "return_tokens", "return_progress", "timings_per_token",
    "post_sampling_probs", "response_fields", "lora", "n_cache_reuse", "grammar_lazy", "dynamic_temperature",
    "dynatemp_low", "dynatemp_high", "min_temp", "max_temp", "sampler_order", "n_probs", "use_story", "use_memory",
    "use_authors_note", "use_world_info", "singleline", "quiet", "smoothing_curve", "reasoning_effort",
})
#: llama-server's letters for its samplers (``--sampling-seq``), and the stage each is here.
SAMPLER_LETTERS = {"e": "penalties", "d": "dry", "s": "top_n_sigma", "k": "top_k", "y": "typical_p", "p": "top_p",
                   "m": "min_p", "x": "xtc", "t": "temperature"}
#: KoboldCpp's ``sampler_order`` numbers; its top-a and tail-free sampling are not stages here.
KOBOLD_SAMPLERS = {0: "top_k", 1: None, 2: "top_p", 3: None, 4: "typical_p", 5: "temperature", 6: "penalties"}
_TYPO = 0.85  # how alike a field must be to one of ours to be taken for a typo of it


@dataclass
class Reading:
    """How one request's fields are read: strictly or not, and what was left out."""

    strict: bool = True
    ignored: list[str] = field(default_factory=list)

    def note(self, what: str) -> None:
        if what not in self.ignored:
            self.ignored.append(what)


_reading: contextvars.ContextVar[Reading] = contextvars.ContextVar("reading", default=Reading())


@contextlib.contextmanager
def reading(strict: bool) -> Iterator[Reading]:
    """Read the requests in this block (one request) leniently unless ``strict``; the ``Reading``
    collects what was ignored."""
    current = Reading(strict)
    token = _reading.set(current)
    try:
        yield current
    finally:
        _reading.reset(token)


def strictly_read() -> bool:
    """Whether the request being read now is read strictly (a batch line, ``--strict``)."""
    return _reading.get().strict


class CompatError(ValueError):
    """A request's field in a form that cannot be read; ``field`` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class Typo(CompatError):
    """An unknown field that looks like a typo of a known one."""

    def __init__(self, field: str, known: Iterable[str]) -> None:
        super().__init__(_validate.unknown("field", field, known), field)


def normalized(data: Any, known: Iterable[str], refused: Iterable[str] = ()) -> Any:
    """``data`` (a request body) with other spellings and forms made into the fields ``known``.
    Unknown fields are dropped (noted), or refused when strict or alike to a known one; those in
    ``refused`` (OpenAI's that this server does not implement) are always left to be refused."""
    if not isinstance(data, Mapping):
        return data
    current = _reading.get()
    known = set(known)
    out = dict(data)
    _aliases(out, known)
    _dynatemp(out)
    if "sampler_order" in out and "samplers" not in out:
        out["samplers"] = _kobold_order(out["sampler_order"])
    if "n_probs" in out and "logprobs" in known and "logprobs" not in out and "messages" not in out:
        out["logprobs"] = out["n_probs"]
    for name in ("logit_bias", "samplers", "dry_sequence_breakers"):
        if name in out:
            out[name] = _FORMS[name](out[name], current)
    if out.get("grammar") == "":  # SillyTavern sends an empty grammar when it has none
        del out["grammar"]
    refused = set(refused)
    for name in [name for name in out if name not in known]:
        if current.strict or name in refused:
            continue  # left for the model's own check: an unknown field is refused there
        if name not in FOREIGN and _validate.closest(name, known, _TYPO) is not None:
            raise Typo(name, sorted(known))
        current.note(name)
        del out[name]
    return out


def _aliases(out: dict, known: set[str]) -> None:
    for alias, name in ALIASES.items():
        if alias not in out or alias in known:
            continue
        value = out.pop(alias)
        if name in out and out[name] != value:
            raise CompatError(f"{alias} and {name} disagree ({value!r} and {out[name]!r}): give one", alias)
        out[name] = value


def _dynatemp(out: dict) -> None:
    """text-generation-webui's and TabbyAPI's dynamic temperature as llama-server's
    ``temperature`` and ``dynatemp_range``; when both forms come they must agree."""
    if out.pop("dynamic_temperature", False) is True and ("dynatemp_low" in out or "dynatemp_high" in out):
        low, high = out.get("dynatemp_low"), out.get("dynatemp_high")
        names = ("dynatemp_low", "dynatemp_high")
    elif "min_temp" in out and "max_temp" in out and _number(out["max_temp"]) > _number(out["min_temp"]):
        low, high = out["min_temp"], out["max_temp"]
        names = ("min_temp", "max_temp")
    else:
        for name in ("dynatemp_low", "dynatemp_high", "min_temp", "max_temp"):
            out.pop(name, None)  # dynamic temperature off in that form: its bounds say nothing
        return
    for name in ("dynatemp_low", "dynatemp_high", "min_temp", "max_temp"):
        out.pop(name, None)
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in (low, high)):
        raise CompatError(f"{names[0]} and {names[1]} must be numbers, got {low!r} and {high!r}", names[0])
    if high < low:
        raise CompatError(f"{names[1]} must be >= {names[0]}, got {high!r} < {low!r}", names[1])
    temperature, spread = (low + high) / 2, (high - low) / 2
    for name, value in (("temperature", temperature), ("dynatemp_range", spread)):
        given = out.get(name)
        if given is not None and not (isinstance(given, (int, float)) and abs(given - value) <= 1e-6 * max(1, value)):
            raise CompatError(f"{names[0]}={low}, {names[1]}={high} and {name}={given!r} disagree: "
                              f"{names[0]}..{names[1]} is temperature {temperature:g} with dynatemp_range {spread:g}",
                              name)
        out[name] = value


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _kobold_order(order: Any) -> Any:
    if not isinstance(order, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in order):
        raise CompatError(f"sampler_order must be a list of KoboldCpp's sampler numbers (0 to 6), got {order!r}",
                          "sampler_order")
    stages = []
    for number in order:
        if number not in KOBOLD_SAMPLERS:
            raise CompatError(f"sampler_order: {number} is not one of KoboldCpp's samplers (0 to 6)", "sampler_order")
        if KOBOLD_SAMPLERS[number] is not None:
            stages.append(KOBOLD_SAMPLERS[number])
        else:
            _reading.get().note(f"sampler_order[{number}]")
    if "temperature" not in stages:
        stages.append("temperature")
    if "min_p" not in stages:  # KoboldCpp applies min-p outside its order, before the temperature as llama.cpp
        stages.insert(stages.index("temperature"), "min_p")
    return stages


def _logit_bias(value: Any, current: Reading) -> Any:
    """``{id: bias}`` from an object or llama-server's ``[[id or text, bias or false], ...]``; ``false`` bans."""
    pairs = value.items() if isinstance(value, Mapping) else value if isinstance(value, list) else None
    if pairs is None:
        return value
    out = {}
    for pair in pairs:
        if isinstance(value, list):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise CompatError(f"logit_bias: an entry is [token id or text, bias or false], got {pair!r}",
                                  "logit_bias")
        key, bias = pair
        out[str(key)] = "-inf" if bias is False else bias
    return out


def _samplers(value: Any, current: Reading) -> Any:
    """A list of stage names, or llama-server's letters; names no stage has are dropped (noted), as
    llama.cpp drops them, unless strict."""
    from ..core.stages import stage_name

    if isinstance(value, str) and value and all(c in SAMPLER_LETTERS for c in value):
        value = [SAMPLER_LETTERS[c] for c in value]
    if not isinstance(value, list) or current.strict:
        return value
    kept = []
    for name in value:
        try:
            stage_name(name)
            kept.append(name)
        except (ValueError, TypeError):
            current.note(f"samplers:{name!r}" if not isinstance(name, str) or not name.strip() else f"samplers:{name}")
    return kept


def _breakers(value: Any, current: Reading) -> Any:
    """A list of strings, or the JSON text of one (older SillyTavern)."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            raise CompatError("dry_sequence_breakers must be a list of strings or its JSON text, got "
                              f"{value!r:.60}", "dry_sequence_breakers") from None
        if isinstance(parsed, list):
            return parsed
    return value


_FORMS = {"logit_bias": _logit_bias, "samplers": _samplers, "dry_sequence_breakers": _breakers}
