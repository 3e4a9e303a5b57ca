"""A batch's worker: it loads the model once, then makes each job's record, the same on every
backend (this process, local worker processes, Ray actors)."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Iterator, Sequence

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
    batch_size: int = 1  # sequences a worker decodes together (dyntemp.llama.batched)


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
        self.n_ctx, self.batch_size = setup.n_ctx, setup.batch_size
        self._engine = None

    def __call__(self, job: BatchJob) -> GenerationRecord:
        result = Sampler.from_settings(job.settings).generate(self.llm, list(job.prompt), max_tokens=job.max_tokens,
                                                               stop=list(job.stop))
        return self._record(job, result)

    def many(self, jobs: Sequence[BatchJob]) -> Iterator[tuple[BatchJob, GenerationRecord]]:
        """The jobs' records as they finish, ``batch_size`` generated at once, a new one starting as
        each ends: the records ``__call__`` makes, one at a time."""
        from ..llama.batched import BatchedEngine, BatchRequest

        if self._engine is None:
            self._engine = BatchedEngine(self.llm, self.batch_size, n_ctx=self.n_ctx)
        requests = (BatchRequest(Sampler.from_settings(job.settings), list(job.prompt), job.max_tokens, list(job.stop))
                    for job in jobs)
        for event in self._engine.run(requests):
            if event.error is not None:
                raise event.error
            if event.result is not None:
                job = jobs[event.index]
                yield job, self._record(job, event.result)

    def _record(self, job: BatchJob, result) -> GenerationRecord:
        return GenerationRecord(result.text, result.finish_reason, job.settings,
                                result.trace if self.trace else Trace(), completion_tokens=len(result.tokens),
                                prompt_tokens=len(job.prompt), id=job.id, item_hash=job.made_of)
