"""``rules``: user rules on the text so far that set or scale a base strategy's temperature.

A rules file (TOML or JSON) reads::

    mode = "first"              # "first": the first matching rule applies; "all": each in turn
    base = 1.2                  # a temperature, a strategy name, or a table {name = "edt", theta = 0.6}

    [[rule]]
    name = "code"
    in_code_block = true
    temperature = 0.2           # set the temperature ...

    [[rule]]
    name = "opening"
    before_sentence = 1
    scale = 0.0                 # ... or multiply it

Conditions of one rule must all hold: ``in_code_block``, ``at_line_start``, ``at_sentence_start``
(true/false), ``sentence_regex`` and ``line_regex`` (searched in the current sentence or line),
``after_sentence`` (sentence index ``>= N``), ``before_sentence`` (``< N``), ``after_token`` (token
index ``>= N``). A rule without conditions always matches. Regexes are RE2's (``dyntemp.strategies.regex``):
Python's syntax without backreferences and lookaround, matched in linear time.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from typing import Any, Mapping, Sequence

from .. import _validate
from .base import Strategy
from .combinators import CONDITIONS, _Wrapper
from .regex import Regex
from .registry import register_strategy
from .spec import SpecError, as_strategy

MODES = ("first", "all")
_FLAGS = CONDITIONS
_REGEXES = ("sentence_regex", "line_regex")
_COUNTS = ("after_sentence", "before_sentence", "after_token")
_ACTIONS = ("temperature", "scale")
RULE_KEYS = ("name", *_FLAGS, *_REGEXES, *_COUNTS, *_ACTIONS)
FILE_KEYS = ("mode", "base", "rule")


class RulesError(ValueError):
    """A rule or a rules file is malformed; the message says where and what is allowed."""


@dataclass(frozen=True)
class Rule:
    """One rule: conditions on the step, and the temperature it sets or the factor it applies.

    >>> from dyntemp import Step
    >>> rule = Rule.from_dict({"line_regex": "^def ", "temperature": 0.1})
    >>> rule.matches(Step.from_text("def f"))
    True
    """

    name: str
    temperature: float | None = None
    scale: float | None = None
    in_code_block: bool | None = None
    at_line_start: bool | None = None
    at_sentence_start: bool | None = None
    sentence_regex: Regex | None = None
    line_regex: Regex | None = None
    after_sentence: int | None = None
    before_sentence: int | None = None
    after_token: int | None = None

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], where: str = "rule") -> "Rule":
        """Build and validate a rule from a mapping as found in a rules file."""
        if not isinstance(spec, Mapping):
            raise RulesError(f"{where}: a rule must be a table of keys, got {spec!r}")
        _check_keys(spec, RULE_KEYS, where)
        actions = [k for k in _ACTIONS if k in spec]
        if len(actions) != 1:
            raise RulesError(f"{where}: a rule needs exactly one of 'temperature' or 'scale', got {actions or 'neither'}")
        fields: dict[str, Any] = {"name": spec.get("name", where)}
        if not isinstance(fields["name"], str):
            raise RulesError(f"{where}: name must be a string, got {fields['name']!r}")
        try:
            for key in actions:
                fields[key] = _validate.number(key, spec[key], low=0.0)
            for key in _COUNTS:
                if key in spec:
                    fields[key] = _validate.integer(key, spec[key], low=0)
        except (TypeError, ValueError) as exc:
            raise RulesError(f"{where}: {exc}") from None
        for key in _FLAGS:
            if key in spec:
                if not isinstance(spec[key], bool):
                    raise RulesError(f"{where}: {key} must be true or false, got {spec[key]!r}")
                fields[key] = spec[key]
        for key in _REGEXES:
            if key in spec:
                if not isinstance(spec[key], str):
                    raise RulesError(f"{where}: {key} must be a string, got {spec[key]!r}")
                try:
                    fields[key] = Regex(spec[key])
                except ValueError as exc:
                    raise RulesError(f"{where}: {key} {spec[key]!r}: {exc}") from None
        return cls(**fields)

    def to_dict(self) -> dict:
        """The rule as a table ``from_dict`` reads back (conditions left unset are left out).

        >>> Rule.from_dict({"name": "code", "line_regex": "^def ", "scale": 0.5}).to_dict()
        {'name': 'code', 'scale': 0.5, 'line_regex': '^def '}
        """
        table = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                table[f.name] = value.pattern if isinstance(value, Regex) else value
        return table

    @property
    def reads_text(self) -> bool:
        """True when a condition reads the text (all but ``after_token`` do)."""
        return any(getattr(self, key) is not None for key in (*_FLAGS, *_REGEXES, "after_sentence", "before_sentence"))

    def matches(self, step) -> bool:
        """True when every condition of this rule holds at ``step``."""
        for key in _FLAGS:
            wanted = getattr(self, key)
            if wanted is not None and getattr(step, key) != wanted:
                return False
        if self.after_sentence is not None and step.sentence_index < self.after_sentence:
            return False
        if self.before_sentence is not None and step.sentence_index >= self.before_sentence:
            return False
        if self.after_token is not None and step.index < self.after_token:
            return False
        if self.sentence_regex is not None and not self.sentence_regex.search(step.sentence):
            return False
        return self.line_regex is None or self.line_regex.search(step.line)


@register_strategy("rules")
class Rules(_Wrapper):
    """Rules over the text so far, each setting or scaling the temperature of a ``base`` strategy.

    ``rules`` is a list of rule tables (see the module doc) or ``Rule`` objects; ``file`` loads
    the rules, ``mode`` and ``base`` from a TOML or JSON file instead (a ``base`` or ``mode`` given
    here overrides the file's). ``base`` defaults to 1.0, ``mode`` to ``"first"``. The trace records the name of
    the rule(s) that fired.

    >>> from dyntemp import Step
    >>> r = Rules([{"name": "code", "in_code_block": True, "temperature": 0.2},
    ...            {"name": "first", "before_sentence": 1, "temperature": 0.0}], base=1.2)
    >>> r.temperature(Step.from_text("Intro")), r.temperature(Step.from_text("Intro. More"))
    (0.0, 1.2)
    >>> step = Step.from_text("Intro.\\n```\\nx")
    >>> r.temperature(step), step.rule
    (0.2, 'code')
    """

    def __init__(self, rules: Sequence[Mapping | Rule] = (), base: "str | Strategy | float | Mapping | None" = None,
                 mode: str | None = None, file: "str | os.PathLike | None" = None) -> None:
        if file is not None:
            if rules:
                raise RulesError("give rules or a rules file, not both")
            spec = load_rules_file(file)
            rules = spec["rule"]
            base = spec.get("base") if base is None else base
            mode = spec.get("mode") if mode is None else mode
        base = 1.0 if base is None else base
        mode = "first" if mode is None else mode
        try:
            if mode not in MODES:
                raise RulesError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
            if isinstance(rules, (str, bytes, Mapping)) or not isinstance(rules, Sequence):
                raise RulesError(f"rules must be a list of rule tables, got {rules!r}")
            self.rules = tuple(r if isinstance(r, Rule) else Rule.from_dict(r, f"rule {i + 1}")
                               for i, r in enumerate(rules))
            self.base = _base_strategy(base)
        except RulesError as exc:
            if file is None:
                raise
            raise RulesError(f"{os.fspath(file)}: {exc}") from None
        self.mode = mode
        self.file = file
        self.children = (self.base,)

    def temperature(self, step) -> float:
        t = self.base.temperature(step)
        fired = []
        for rule in self.rules:
            if rule.matches(step):
                t = rule.temperature if rule.temperature is not None else t * rule.scale
                fired.append(rule.name)
                if self.mode == "first":
                    break
        if fired:
            step.rule = ",".join(fired)
        return t

    @property
    def reads_text(self) -> bool:
        return self.base.reads_text or any(rule.reads_text for rule in self.rules)

    def params(self) -> dict:
        # The rules themselves rather than the file: the parameters rebuild this strategy anywhere.
        return {"rules": [r.to_dict() for r in self.rules], "base": self.base, "mode": self.mode, "file": None}


def _base_strategy(base: "str | Strategy | float | Mapping") -> Strategy:
    if isinstance(base, Mapping) and "name" not in base and isinstance(base.get("strategy"), str):
        # Rules files have named the base's strategy "strategy"; a strategy table names it "name".
        base = {"name": base["strategy"], **{k: v for k, v in base.items() if k != "strategy"}}
    try:
        return as_strategy(base, "base")
    except SpecError as exc:  # already says "base: ..."
        raise RulesError(str(exc)) from None
    except (TypeError, ValueError, KeyError) as exc:
        raise RulesError(f"base: {_validate.message_of(exc)}") from None


def _check_keys(spec: Mapping, allowed: Sequence[str], where: str) -> None:
    for key in spec:
        if key not in allowed:
            raise RulesError(f"{where}: {_validate.unknown('key', key, allowed)}")


def load_rules_file(path: "str | os.PathLike") -> dict:
    """Read and check the top level of a TOML or JSON rules file (rules are checked by ``Rules``)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"rules file not found: {path}")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        is_json = path.lower().endswith(".json")
        spec = json.loads(raw.decode("utf-8")) if is_json else _validate.load_toml(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        kind = "JSON" if is_json else "TOML"
        raise RulesError(f"{path}: not a valid {kind} rules file: {exc}") from None
    if not isinstance(spec, dict):
        raise RulesError(f"{path}: the top level must be a table with keys {', '.join(FILE_KEYS)}")
    _check_keys(spec, FILE_KEYS, path)
    rules = spec.get("rule")
    if isinstance(rules, dict):
        raise RulesError(f"{path}: 'rule' must be a list of rules: write [[rule]] (double brackets), not [rule]")
    if not isinstance(rules, list) or not rules:
        raise RulesError(f"{path}: no rules: add at least one [[rule]] table (a list under \"rule\" in JSON)")
    return spec
