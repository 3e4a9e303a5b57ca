"""A request becomes a ``Job``: the checked settings, prompts and limits of one request, made before
any decoding. Every invalid value is an ``APIError`` (400) naming the field, the value and what is
allowed; the checks are the library's own (``SamplerSettings``, the strategy registry, the rules).

Request fields override the server's defaults (``dyntemp serve``'s flags). As in llama-server, a
request with ``mirostat`` turns off the truncating filters it does not set, and ``samplers`` the
stages it leaves out (``as_llama_cpp``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..core import stages
from .compat import strictly_read
from ..core.options import as_llama_cpp, blame
from ..core.settings import SamplerSettings
from ..core.stops import check_stop
from ..strategies.constant import LLAMA_CPP_TEMPERATURE
from ..strategies.registry import UnknownStrategyError, strategy_parameters
from ..strategies.rules import FILE_KEYS
from ..strategies.spec import SpecError, StrategySpec, parse_spec, spec_of
from .errors import APIError
from .limits import Limits, nesting_depth
from .prompts import GrammarSource, chat_ids, check_messages, check_prompt, prompt_ids
from .schema import ChatCompletionRequest, CompletionRequest, GenerationFields, SamplingFields

MAX_CHOICES = 128  # as OpenAI's n
MAX_LOGPROBS = 20


def sampler_fields() -> dict[str, str]:
    """Request fields that are sampler settings (llama-server's names), and the setting each one is,
    from the stages' declarations (a registered stage's too)."""
    return {field: setting.name for setting in stages.settings() for field in setting.fields}


_STRATEGY_FIELDS = ("strategy", "sentence_temps", "rules")
_TEMPERATURE_FIELDS = ("temperature", "dynatemp_range", "dynatemp_exponent")


@dataclass(frozen=True)
class Defaults:
    """The server-wide defaults, from ``dyntemp serve``'s strategy and sampler flags."""

    strategy: StrategySpec = field(default_factory=lambda: StrategySpec("constant",
                                                                       {"temperature": LLAMA_CPP_TEMPERATURE}))
    sampler: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    """What one request asks for, checked where it arrived. ``prompts`` are text or token ids (a chat:
    one prompt, its messages), tokenized with the grammar compiled by ``prepared`` on the model that
    runs the job. Each prompt gets ``n`` choices, seeded ``seed``, ``seed + 1``, ... when a seed is
    given. ``max_tokens`` ``None``: until the context is full. ``logprobs`` ``None``: none; else how
    many alternatives each token lists. ``timeout``: the seconds it may run."""

    model: str
    chat: bool
    prompts: tuple
    settings: SamplerSettings
    grammar: GrammarSource | None
    n: int
    max_tokens: int | None
    stop: tuple[str, ...]
    logprobs: int | None
    stream: bool
    include_usage: bool
    return_trace: bool
    timeout: float
    limits: Limits

    def prepared(self, llm) -> tuple[list[list[int]], SamplerSettings]:
        """The token ids of every prompt and the settings with the grammar, on ``llm``: an
        ``APIError`` when a prompt does not fit or the grammar is not valid."""
        n_ctx = llm.n_ctx()
        if self.chat:
            ids = [chat_ids(llm, self.prompts[0], n_ctx)]
        else:
            many = len(self.prompts) > 1
            ids = [prompt_ids(llm, list(p) if isinstance(p, tuple) else p, n_ctx, f"prompt[{i}]" if many else "prompt")
                   for i, p in enumerate(self.prompts)]
        settings = self.settings
        if self.grammar is not None:
            settings = settings.replace(grammar=self.grammar.compile(llm, self.limits))
        return ids, settings

    def choices(self, ids: list[list[int]], settings: SamplerSettings) -> list[tuple[int, list[int], SamplerSettings]]:
        """``(choice index, prompt ids, settings)`` for every choice, in OpenAI's order."""
        out = []
        for p, prompt in enumerate(ids):
            for i in range(self.n):
                seed = None if settings.seed is None else settings.seed + i
                out.append((p * self.n + i, prompt, settings.replace(seed=seed) if i else settings))
        return out


def build_job(body: SamplingFields, model, defaults: Defaults, limits: Limits) -> Job:
    """The ``Job`` of ``body`` on ``model`` (a served model: ``name``, ``n_ctx``, ``n_vocab``, ``eog``
    and ``max_prompt_chars``), or an ``APIError``. Nothing here calls llama.cpp."""
    chat = isinstance(body, ChatCompletionRequest)
    if isinstance(body, CompletionRequest) and body.echo:
        raise APIError("echo is not supported by this server", param="echo", code="unsupported_parameter")
    if not 1 <= body.n <= MAX_CHOICES:
        raise APIError(f"n must be from 1 to {MAX_CHOICES}, got {body.n}", param="n")
    if body.stream_options is not None and not body.stream:
        raise APIError("stream_options applies to stream: true", param="stream_options")
    check_limits(body, limits)
    settings = request_settings(body, model, defaults, limits)
    grammar = grammar_source(body, limits)
    if chat:
        messages = tuple(m.model_dump(exclude_none=True) for m in body.messages)
        check_messages(messages, model.n_ctx, model.max_prompt_chars, limits)
        prompts: tuple = (messages,)
    else:
        prompts = _prompts(body, model)
    choices = len(prompts) * body.n
    if choices > MAX_CHOICES:
        raise APIError(f"{len(prompts)} prompts x n={body.n} is {choices} choices; at most {MAX_CHOICES}",
                       param="n")
    # OpenAI's defaults: a chat runs to its end, a completion 16 tokens.
    max_tokens = max_tokens_of(body, type(body).DEFAULT_MAX_TOKENS)
    budget = choices * (max_tokens or model.n_ctx)
    if budget > limits.request_tokens:
        raise APIError(f"{choices} choice{'s' if choices > 1 else ''} x {max_tokens or model.n_ctx} tokens "
                       f"({'max_tokens' if max_tokens else 'the context, as max_tokens is not given'}) is {budget} "
                       f"tokens; at most {limits.request_tokens} are allowed for a request "
                       f"({limits.flag('request_tokens')}): lower max_tokens or n",
                       param="max_tokens" if max_tokens else "n", code="limit_exceeded")
    return Job(model.name, chat, prompts, settings, grammar, body.n, max_tokens, stop_strings(body, limits),
               _logprobs(body), body.stream, bool(body.stream_options and body.stream_options.include_usage),
               body.return_trace, _timeout(body, limits), limits)


def _timeout(body: GenerationFields, limits: Limits) -> float:
    """The server's ``--timeout``, or llama-server's ``t_max_predict_ms`` when it is shorter (<= 0: not given)."""
    asked = body.t_max_predict_ms
    return min(limits.timeout, asked / 1000) if asked is not None and asked > 0 else limits.timeout


def check_limits(body: GenerationFields, limits: Limits) -> None:
    """A 400 for a field over its limit (``dyntemp.api.limits``), before anything is parsed or tokenized."""
    if body.sentence_temps is not None:
        limits.at_most("sentence_temps", "sentence_temps", "values", len(body.sentence_temps))
    if body.logit_bias is not None:
        limits.at_most("logit_bias", "logit_bias", "entries", len(body.logit_bias))
    for name in ("strategy", "rules"):
        value = getattr(body, name)
        if value is not None:
            limits.at_most("spec_depth", name, "levels of nesting", nesting_depth(value))
    if isinstance(body.rules, dict) and isinstance(body.rules.get("rule"), list):
        limits.at_most("rules", "rules", "rules", len(body.rules["rule"]))


def request_settings(body: GenerationFields, model, defaults: Defaults, limits: Limits) -> SamplerSettings:
    """The checked settings of ``body``'s fields over ``defaults``, on ``model`` (its ``n_vocab`` and
    ``eog``), without the grammar (``grammar_source``)."""
    fields = sampler_fields()
    given = {name: getattr(body, name) for name in fields if getattr(body, name, None) is not None}
    given.pop("seed", None)
    seed = seed_of(body)
    if seed is not None:
        given["seed"] = seed
    if "logit_bias" in given:
        given["logit_bias"] = _logit_bias(given["logit_bias"], model, limits)
    kwargs = {**defaults.sampler, **as_llama_cpp({fields[name]: value for name, value in given.items()},
                                                 order_wins=not strictly_read())}
    strategy = _strategy(body, defaults)
    try:
        if body.ignore_eos:
            bias = dict(SamplerSettings(1.0, logit_bias=kwargs.get("logit_bias")).logit_bias)
            kwargs["logit_bias"] = {**bias, **{token: "-inf" for token in model.eog}}
        settings = SamplerSettings(strategy, **kwargs)
    except (TypeError, ValueError) as exc:
        labels = {name: (fields[name], kwargs.get(fields[name])) for name in given}
        param = blame(labels, exc)
        raise (APIError.about(param, str(exc), labels[param][0]) if param else APIError(str(exc))) from None
    outside = settings.bias_outside(model.n_vocab)
    if outside is not None:
        raise APIError(f"logit_bias: '{outside}' is not a token id of this model (0 to {model.n_vocab - 1})",
                       param="logit_bias")
    return settings


def seed_of(body: GenerationFields) -> int | None:
    """The seed ``body`` gives: ``None`` when none or llama-server's -1 ("pick one")."""
    if body.seed is None or body.seed == -1:
        return None
    if body.seed < 0:
        raise APIError(f"seed must be >= 0 (-1: a random one), got {body.seed}", param="seed")
    return body.seed


def _logit_bias(bias: Mapping[str, Any], model, limits: Limits) -> dict:
    """Token ids and their biases; a key that is not a number is text, and its tokens get the bias
    (as llama-server reads it)."""
    out = {}
    for key, value in bias.items():
        if key.isascii() and key.isdigit():  # checked against the vocabulary with the settings
            out[key] = value
            continue
        limits.at_most("bias_text_chars", "logit_bias", f"characters in the text key {key[:40]!r}", len(key))
        for token in model.llm.tokenize(key.encode("utf-8"), add_bos=False, special=False):
            out[str(token)] = value
    return out


def _strategy(body: GenerationFields, defaults: Defaults) -> StrategySpec:
    """The strategy: ``strategy``, ``sentence_temps`` or ``rules``; else ``temperature`` (with
    llama-server's ``dynatemp_range``/``dynatemp_exponent``); else the server's default."""
    chosen = [name for name in _STRATEGY_FIELDS if getattr(body, name) is not None]
    temperature = [name for name in _TEMPERATURE_FIELDS if getattr(body, name) is not None]
    if len(chosen) > 1:
        raise APIError(f"give one of strategy, sentence_temps, rules, not {' and '.join(chosen)}", param=chosen[1])
    if chosen and temperature:
        raise APIError(_temperature_with(chosen[0], temperature[0], body), param=temperature[0])
    try:
        if body.strategy is not None:
            spec = body.strategy
            if isinstance(spec, str):
                spec = parse_spec(spec, where="strategy", check=False)
            elif isinstance(spec, dict):
                spec = StrategySpec.from_dict(spec, "strategy")
            else:
                spec = spec_of(spec)
            _refuse_files(spec.to_dict(), "strategy")
        elif body.sentence_temps is not None:
            spec = StrategySpec("sentence", {"temperatures": body.sentence_temps})
        elif body.rules is not None:
            spec = _rules(body.rules)
        elif temperature:
            spec = _dynatemp(body)
        else:
            return defaults.strategy
        return spec.check(chosen[0] if chosen else "temperature")
    except SpecError as exc:
        raise APIError(str(exc), param=chosen[0] if chosen else temperature[0],
                       code="unknown_strategy" if isinstance(exc, UnknownStrategyError) else None) from None


def _temperature_with(chosen: str, field_name: str, body: GenerationFields) -> str:
    start = f"{field_name} sets a constant temperature (dynatemp with dynatemp_range), and {chosen} gives a strategy"
    if chosen != "strategy":
        return f"{start}: give one"
    strategy = body.strategy
    name = strategy if isinstance(strategy, str) else str(strategy.get("name") if isinstance(strategy, dict)
                                                          else "constant")
    name = name.partition(":")[0]
    try:
        params = ", ".join(strategy_parameters(name))
    except UnknownStrategyError:
        return f"{start}: give one"
    return f"{start}: give the strategy's own parameters instead ({name}: {params or 'none'})"


def _dynatemp(body: GenerationFields) -> StrategySpec:
    t = LLAMA_CPP_TEMPERATURE if body.temperature is None else body.temperature
    delta = body.dynatemp_range or 0.0
    if delta < 0:
        raise APIError(f"dynatemp_range must be >= 0 (0: off), got {delta}", param="dynatemp_range")
    if delta == 0:
        if body.dynatemp_exponent not in (None, 1.0):
            raise APIError(f"dynatemp_exponent={body.dynatemp_exponent} has no effect without dynatemp_range > 0",
                           param="dynatemp_exponent")
        return StrategySpec("constant", {"temperature": t})
    exponent = 1.0 if body.dynatemp_exponent is None else body.dynatemp_exponent
    return StrategySpec("dynatemp", {"temperature": t, "delta": delta, "exponent": exponent})


def _rules(rules: Mapping[str, Any]) -> StrategySpec:
    """A rules object (a rules file's schema: ``mode``, ``base``, ``rule``) as the rules strategy."""
    for key in rules:
        if key not in FILE_KEYS:
            raise APIError(f"rules: unknown key {key!r}; a rules object has {', '.join(FILE_KEYS)}", param="rules")
    if not isinstance(rules.get("rule"), list) or not rules["rule"]:
        raise APIError('rules needs "rule": a non-empty list of rules, e.g. {"rule": [{"in_code_block": true, '
                       '"temperature": 0.2}]}', param="rules")
    _refuse_files(rules, "rules")
    params = {"rules": rules["rule"], **{key: rules[key] for key in ("base", "mode") if key in rules}}
    return StrategySpec("rules", params)


def _refuse_files(table: Any, where: str) -> None:
    """A request cannot make the server read its files (a rules strategy's ``file``)."""
    if isinstance(table, Mapping):
        if "file" in table:
            raise APIError(f"{where}: a file parameter would read a file on the server; send its content instead "
                           f"(the rules field takes a rules file's content)", param=where)
        for value in table.values():
            _refuse_files(value, where)
    elif isinstance(table, list):
        for value in table:
            _refuse_files(value, where)


def grammar_source(body: GenerationFields, limits: Limits) -> GrammarSource | None:
    """Where the grammar of ``body`` comes from: ``response_format``, ``grammar`` or ``json_schema``
    (one of them), its size checked; compiled on the model that runs the request."""
    given = [name for name in ("grammar", "json_schema") if getattr(body, name) is not None]
    fmt = body.response_format
    if fmt is not None and fmt.type != "text":
        given.append("response_format")
    if len(given) > 1:
        raise APIError(f"give one of response_format, grammar, json_schema, not {' and '.join(given)}", param=given[1])
    if not given:
        return None
    param = given[0]
    if param == "grammar":
        source = GrammarSource(param, gbnf=body.grammar)
    elif param == "json_schema":
        source = GrammarSource(param, schema=body.json_schema)
    elif fmt.type == "json_schema":
        if fmt.json_schema is None:
            raise APIError('response_format of type json_schema needs "json_schema": {"name": ..., "schema": ...}',
                           param=param)
        source = GrammarSource(param, schema=fmt.json_schema.schema_)
    else:  # json_object: any JSON object, or llama-cpp-python's "schema" key
        source = GrammarSource(param, schema=fmt.schema_ if fmt.schema_ is not None else {"type": "object"})
    source.check(limits)
    return source


def _prompts(body: CompletionRequest, model) -> tuple:
    prompt = body.prompt
    many = isinstance(prompt, list) and prompt and not isinstance(prompt[0], int)
    prompts = prompt if many else [prompt]
    for i, one in enumerate(prompts):
        check_prompt(one, f"prompt[{i}]" if many else "prompt", model.n_ctx, model.n_vocab, model.max_prompt_chars)
    return tuple(one if isinstance(one, str) else tuple(one) for one in prompts)


def max_tokens_of(body: GenerationFields, default: int | None) -> int | None:
    """The token budget ``body`` asks for (``None``: until the context is full), or ``default``."""
    given = {name: getattr(body, name) for name in ("max_completion_tokens", "max_tokens", "n_predict")
             if getattr(body, name) is not None}
    if len(set(given.values())) > 1:
        raise APIError(f"{' and '.join(given)} disagree ({given}): give one", param=list(given)[1])
    if not given:
        return default
    name, value = next(iter(given.items()))
    if value == -1 and name == "n_predict":
        return None
    if value < 1:
        raise APIError(f"{name} must be >= 1, got {value}", param=name)
    return value


def stop_strings(body: GenerationFields, limits: Limits) -> tuple[str, ...]:
    stops = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
    limits.at_most("stop", "stop", "strings", len(stops))
    try:
        stops = check_stop(stops)
    except (TypeError, ValueError) as exc:
        raise APIError.about("stop", str(exc)) from None
    longest = max(map(len, stops), default=0)
    limits.at_most("stop_chars", "stop", "characters in its longest string", longest)
    return stops


def _logprobs(body: SamplingFields) -> int | None:
    if isinstance(body, ChatCompletionRequest):
        if body.top_logprobs is not None and not body.logprobs:
            raise APIError("top_logprobs needs logprobs: true", param="top_logprobs")
        count, name = (body.top_logprobs or 0, "top_logprobs") if body.logprobs else (None, "")
    else:
        count, name = body.logprobs, "logprobs"
    if count is not None and not 0 <= count <= MAX_LOGPROBS:
        raise APIError(f"{name} must be from 0 to {MAX_LOGPROBS}, got {count}", param=name)
    return count
