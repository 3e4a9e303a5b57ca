"""The work of one eval process: its model (and scorer), loaded once, and one generation per job."""

from __future__ import annotations

import importlib
from typing import Iterator, Sequence

from ..core import Sampler, SamplerSettings
from ..records import GenerationRecord
from ..strategies.spec import StrategySpec
from . import metrics
from .run_folder import RunError
from .spec import Sweep
from .suites import Item


class Worker:
    """Loads the sweep's model (and scorer) once; called with a job, returns its record."""

    def __init__(self, sweep: Sweep) -> None:
        from ..llama.model import load_model
        from .scorer import Scorer

        for module in sweep.imports:  # the modules that register the sweep's own strategies
            importlib.import_module(module)
        self.sampler = dict(sweep.sampler)
        self.max_tokens = sweep.max_tokens
        self.isolated = not sweep.unisolated_code
        threads = sweep.threads_per_worker()
        self.llm = load_model(sweep.model, n_ctx=sweep.n_ctx, n_threads=threads, n_gpu_layers=sweep.n_gpu_layers,
                              chat_template=sweep.chat_template)
        self.scorer = (Scorer(sweep.scorer, n_threads=threads, n_gpu_layers=sweep.n_gpu_layers)
                       if sweep.scorer else None)
        self.batch_size = sweep.batch_size
        self.stop = sweep.stop
        self._engine = None

    def __call__(self, suite: str, item: Item, setting: StrategySpec, seed: int) -> GenerationRecord:
        sampler, budget = self._sampler(item, setting, seed)
        try:
            if item.completion:  # the prompt is text to continue, as HumanEval's completion form
                result = sampler.generate(self.llm, item.prompt, max_tokens=budget, stop=self._stops(item))
            else:
                result = sampler.chat(self.llm, item.messages(), max_tokens=budget, stop=self._stops(item))
        except ValueError as exc:  # the item itself cannot run (its prompt does not fit the context)
            raise _item_error(suite, item, exc) from None
        return self._record(suite, item, sampler.settings, result)

    def many(self, jobs: Sequence[tuple]) -> Iterator[tuple[tuple, GenerationRecord]]:
        """The jobs' records as they finish, ``batch_size`` generated at once: those ``__call__``
        makes one at a time."""
        from ..llama.batched import BatchedEngine, BatchRequest
        from ..llama.generation import chat_tokens

        if self._engine is None:
            self._engine = BatchedEngine(self.llm, self.batch_size, n_ctx=self.llm.n_ctx())
        samplers = []

        def requests():
            for suite, item, setting, seed in jobs:
                sampler, budget = self._sampler(item, setting, seed)
                try:
                    prompt = item.prompt if item.completion else chat_tokens(self.llm, item.messages())
                except ValueError as exc:
                    raise _item_error(suite, item, exc) from None
                samplers.append(sampler)
                yield BatchRequest(sampler, prompt, budget, self._stops(item))

        for event in self._engine.run(requests()):
            suite, item, _, _ = job = jobs[event.index]
            if isinstance(event.error, ValueError):
                raise _item_error(suite, item, event.error) from None
            if event.error is not None:
                raise event.error
            if event.result is not None:
                yield job, self._record(suite, item, samplers[event.index].settings, event.result)

    def _stops(self, item: Item) -> list[str] | None:
        """The item's stop strings, then the sweep's."""
        return list(dict.fromkeys((*item.stop, *self.stop))) or None

    def _sampler(self, item: Item, setting: StrategySpec, seed: int) -> tuple[Sampler, int]:
        settings = SamplerSettings(setting, seed=seed, **self.sampler, check_strategy=False)  # the sweep checked it
        budget = item.max_tokens if self.max_tokens is None else min(item.max_tokens, self.max_tokens)
        return Sampler.from_settings(settings), budget

    def _record(self, suite: str, item: Item, settings: SamplerSettings, result) -> GenerationRecord:
        columns = result.trace.to_columns()
        values = {
            **metrics.text_metrics(result.text),
            "length": len(result.tokens),
            "nll": metrics.mean_nll(columns["logprob"]),
            **metrics.temperature_stats(columns["temperature"], columns["entropy"]),
        }
        if self.scorer is not None:
            values["scorer_nll"] = self.scorer.nll(item.prompt, result.text)
        return GenerationRecord(result.text, result.finish_reason, settings, result.trace,
                                completion_tokens=len(result.tokens), suite=suite, item=item.id, kind=item.kind,
                                item_hash=item.content_hash,
                                scores=item.score(result.text, isolated=self.isolated), metrics=values)


def _item_error(suite: str, item: Item, exc: ValueError) -> RunError:
    """The run's error for an item that cannot run (its prompt does not fit the context)."""
    return RunError(f"suite {suite}, item {item.id!r}: {exc}")
