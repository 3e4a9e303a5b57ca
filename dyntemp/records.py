"""The generation record: one typed, versioned schema for a generation and how it was made.

Every front end writes and reads generations through ``GenerationRecord``: the eval's run folders
(one JSON line per generation), and the batch runner's and server's output. A record holds the
text, why it ended, the token counts, the full ``SamplerSettings`` (strategy, filters, penalties,
seed) and the per-token trace, plus where it came from (a batch line's ``id``; an eval's suite,
item, scores and metrics). ``to_dict``/``from_dict`` are its JSON form, tagged ``"schema": 1``;
records written before the schema had a number (eval run folders of earlier versions) are read too.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

from .core.settings import SamplerSettings
from .core.trace import Trace
from .strategies.spec import StrategySpec

SCHEMA = 1


@dataclass(frozen=True)
class GenerationRecord:
    """One generation, as stored and sent.

    >>> from dyntemp.core import TraceRecord
    >>> trace = Trace([TraceRecord(0, 42, "Hi", 0.7, 2.1, 1.3, 12, 0.25, 0, 0, None, -1.4)])
    >>> record = GenerationRecord("Hi", "length", SamplerSettings("edt", seed=0), trace, id="a")
    >>> record.setting, record.completion_tokens
    ('edt', 1)
    >>> GenerationRecord.from_dict(record.to_dict()) == record
    True
    """

    text: str
    finish_reason: str
    settings: SamplerSettings
    trace: Trace
    completion_tokens: int | None = None
    prompt_tokens: int | None = None
    id: str | None = None
    suite: str | None = None
    item: str | None = None
    kind: str | None = None
    item_hash: str | None = None
    scores: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.completion_tokens is None:
            object.__setattr__(self, "completion_tokens", len(self.trace))

    @property
    def strategy(self) -> StrategySpec:
        """The strategy spec the generation ran with."""
        return self.settings.strategy

    @property
    def setting(self) -> str:
        """The strategy spec as text (``edt:theta=0.6``): with suite, item and seed, an eval job's identity."""
        return self.settings.strategy.key

    @property
    def seed(self) -> int | None:
        """The sampler's seed."""
        return self.settings.seed

    def to_dict(self) -> dict:
        """The record as JSON data (the trace as columns: one list per ``TraceRecord`` field)."""
        settings = self.settings.to_dict()  # first: it says why settings that are not data cannot be written
        out: dict[str, Any] = {"schema": SCHEMA}
        for key in ("id", "suite", "item", "kind", "item_hash"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        # The setting's key, name, label and seed are repeated at the top for readers of the file (jq, pandas).
        spec = self.settings.strategy
        out.update(setting=spec.key, strategy=spec.name, label=spec.label, params=dict(spec.params), seed=self.seed,
                   settings=settings, text=self.text, finish_reason=self.finish_reason,
                   prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens,
                   scores=dict(self.scores), metrics=dict(self.metrics), trace=self.trace.to_columns())
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, sampler: Mapping[str, Any] | None = None) -> "GenerationRecord":
        """A record from ``to_dict``'s form. Records without ``schema`` (earlier eval run folders) have
        no ``settings``: theirs are made from ``strategy``, ``params`` and ``seed`` with ``sampler``,
        the run's shared sampler settings."""
        schema = data.get("schema", 0)
        if schema > SCHEMA:
            raise ValueError(f"a generation record of schema {schema}, newer than this dyntemp reads ({SCHEMA}): "
                             f"upgrade dyntemp")
        # The strategy is read as data, not built: reading a record needs no strategy registered.
        trace = Trace.from_columns(data["trace"])
        if schema == 0:
            settings = SamplerSettings(StrategySpec(data["strategy"], dict(data.get("params", {}))),
                                       seed=data.get("seed"), **dict(sampler or {}), check_strategy=False)
            # Those traces kept the end-of-generation token's record.
            completion_tokens = len(trace) - (data["finish_reason"] == "eos")
        else:
            settings = SamplerSettings.from_dict(data["settings"], check_strategy=False)
            completion_tokens = data.get("completion_tokens")
        return cls(text=data["text"], finish_reason=data["finish_reason"], settings=settings,
                   trace=trace, completion_tokens=completion_tokens,
                   prompt_tokens=data.get("prompt_tokens"), id=data.get("id"), suite=data.get("suite"),
                   item=data.get("item"), kind=data.get("kind"), item_hash=data.get("item_hash"),
                   scores=dict(data.get("scores", {})),
                   metrics=dict(data.get("metrics", {})))

    def __getitem__(self, key: str) -> Any:
        # Records were plain dicts before they had a type: record["text"] keeps working, with a warning.
        warnings.warn("generation records are GenerationRecord objects: use record.text, not record['text']",
                      DeprecationWarning, stacklevel=2)
        return self.to_dict()[key]
