"""A batch's worker: it loads the model once, then makes each job's record, the same on every
backend (this process, local worker processes, Ray actors)."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

from ..core import Sampler
from ..core.trace import Trace
from ..records import GenerationRecord
from .lines import BatchJob


@dataclass(frozen=True)
class ModelSetup:
    """How each worker loads its model, and what it imports first (the modules that register the
    batch's own strategies)."""

    path: str
    n_ctx: int
    threads: int
    n_gpu_layers: int = 0
    imports: tuple[str, ...] = ()
    trace: bool = False


class BatchWorker:
    """Loads the model once; called with a job, returns its record (the trace if the batch asks)."""

    def __init__(self, setup: ModelSetup) -> None:
        from ..llama.model import load_model

        for module in setup.imports:
            importlib.import_module(module)
        if not os.path.isfile(setup.path):
            raise FileNotFoundError(f"model file not found: {setup.path} (every node needs the model at this path)")
        self.llm = load_model(setup.path, n_ctx=setup.n_ctx, n_threads=setup.threads, n_gpu_layers=setup.n_gpu_layers)
        self.trace = setup.trace

    def __call__(self, job: BatchJob) -> GenerationRecord:
        result = Sampler.from_settings(job.settings).generate(self.llm, list(job.prompt), max_tokens=job.max_tokens,
                                                               stop=list(job.stop))
        return GenerationRecord(result.text, result.finish_reason, job.settings,
                                result.trace if self.trace else Trace(), completion_tokens=len(result.tokens),
                                prompt_tokens=len(job.prompt), id=job.id, item_hash=job.made_of)
