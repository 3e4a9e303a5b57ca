"""The work of one eval process: its model (and scorer), loaded once, and one generation per job."""

from __future__ import annotations

import importlib

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
        self.llm = load_model(sweep.model, n_ctx=sweep.n_ctx, n_threads=threads, n_gpu_layers=sweep.n_gpu_layers)
        self.scorer = (Scorer(sweep.scorer, n_threads=threads, n_gpu_layers=sweep.n_gpu_layers)
                       if sweep.scorer else None)

    def __call__(self, suite: str, item: Item, setting: StrategySpec, seed: int) -> GenerationRecord:
        settings = SamplerSettings(setting, seed=seed, **self.sampler, check_strategy=False)  # the sweep checked it
        budget = item.max_tokens if self.max_tokens is None else min(item.max_tokens, self.max_tokens)
        try:
            result = Sampler.from_settings(settings).chat(self.llm, item.messages(), max_tokens=budget)
        except ValueError as exc:  # the item itself cannot run (its prompt does not fit the context)
            raise RunError(f"suite {suite}, item {item.id!r}: {exc}") from None
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
