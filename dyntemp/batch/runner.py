"""Running a batch: read and check every line, skip the ids the output already holds, generate the
rest on the chosen backend, and append each record as it comes; the driver is the one writer."""

from __future__ import annotations

import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..api.jobs import Defaults
from ..api.limits import Limits
from ..children import pool_results
from ..progress import LineProgress
from .lines import SEED_RANGE, BatchError, base_seed, open_input, read_jobs, reseeded
from .output import Output, check_done
from .work import BatchWorker, ModelSetup

BACKENDS = ("local", "ray")


@dataclass
class BatchOptions:
    """A batch's options: the model and how it loads, the defaults of its lines, the backend."""

    model: str | None = None
    n_ctx: int = 2048
    threads: int | None = None
    n_gpu_layers: int = 0
    defaults: Defaults = field(default_factory=Defaults)
    chat: bool = False
    max_tokens: int = 256
    seed: int | None = None  # the base seed; None: the one the output was made with, or a new one
    workers: int = 1
    batch_size: int = 1  # sequences each worker decodes together
    backend: str = "local"
    ray_address: str | None = None
    trace: bool = False
    ordered: bool = False
    imports: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)  # a line's, as a server request's
    chat_template: str | None = None  # in place of the model's (see load_model)


def run_batch(source: str, target: str, options: BatchOptions, *, progress: bool | None = None) -> int:
    """Generate a record for every line of ``source`` (a JSONL file, ``-``: standard input) into
    ``target`` (``-``: standard output), resuming what ``target`` holds; returns how many were made.

    >>> import json, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "in.jsonl").write_text('{"id": "a", "prompt": "The sea is", "max_tokens": 4}\\n')
    >>> run_batch(str(folder / "in.jsonl"), str(folder / "out.jsonl"), BatchOptions(seed=1), progress=False)
    1
    >>> json.loads((folder / "out.jsonl").read_text())["id"]
    'a'
    """
    from ..threads import default_threads
    from ..llama.model import default_model_path
    from ..llama.vocabulary import Vocabulary

    if options.backend not in BACKENDS:
        raise BatchError(f"backend must be one of {', '.join(BACKENDS)}, got {options.backend!r}")
    path = options.model or default_model_path()
    vocabulary = Vocabulary(path, options.n_ctx, options.chat_template)
    workers = max(1, options.workers)
    # On Ray each actor holds as many CPUs as it has threads (one unless --threads): the nodes' cores, not
    # this machine's, are what they share.
    threads = options.threads or (1 if options.backend == "ray" else default_threads(workers))
    setup = ModelSetup(path, options.n_ctx, threads, options.n_gpu_layers, tuple(options.imports), options.trace,
                       options.batch_size)
    with Output(target) as output:  # first: an output another batch is writing is refused before any reading
        jobs = _read(source, vocabulary, options)
        if options.seed is None:
            jobs = reseeded(jobs, _base(jobs, output, progress))
        check_done(output.done, jobs, Path(output.name))
        todo = [job for job in jobs if job.id not in output.done]
        bar = _progress(len(jobs), len(jobs) - len(todo), progress)
        try:
            if options.backend == "ray":
                from ..ray_actors import ray_results

                pairs = ray_results(BatchWorker, (setup,), todo, workers, address=options.ray_address,
                                    num_cpus_per_actor=setup.threads, batch_size=options.batch_size)
            else:
                pairs = pool_results(BatchWorker, (setup,), todo, workers, options.batch_size)
            records = (record for _, record in pairs)
            made = 0
            if options.ordered and output.path is None:  # standard output: kept, then written in order
                kept = {}
                for record in records:
                    kept[record.id] = record
                    made += 1
                    bar.update(tokens=record.completion_tokens)
                output.write_all(kept[job.id] for job in todo)
            else:
                for record in records:
                    output.write(record)
                    made += 1
                    bar.update(tokens=record.completion_tokens)
                if options.ordered:
                    output.reorder(jobs)
        finally:
            bar.close()
    return made


def _read(source: str, vocabulary, options: BatchOptions) -> list:
    stream, name = open_input(source)
    try:
        return read_jobs(stream, name, vocabulary, options.defaults, chat=options.chat, max_tokens=options.max_tokens,
                         seed=options.seed or 0, limits=options.limits)
    except UnicodeDecodeError as exc:
        raise BatchError(f"{name}: not UTF-8 text (byte {exc.start})") from None
    finally:
        if stream is not sys.stdin:
            stream.close()


def _base(jobs: list, output: Output, progress: bool | None) -> int:
    """The base seed of a batch given none: the one the output's records were made with, else a new
    one; said on standard error, so that the batch can be made again."""
    made = next((base_seed(job, output.done[job.id].seed) for job in jobs
                 if not job.own_seed and job.id in output.done), None)
    base = made if made is not None else secrets.randbelow(SEED_RANGE // 2)
    if progress is not False:
        print(f"batch: seed {base}" + (f" (as the records in {output.name})" if made is not None else ""),
              file=sys.stderr, flush=True)
    return base


class _Bar:
    """A tqdm bar with the generations' ETA and tokens/s."""

    def __init__(self, total: int, done: int, disable: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=done, unit="gen", disable=disable, dynamic_ncols=True)
        self.tokens, self._start = 0, time.monotonic()

    def update(self, count: int = 1, tokens: int = 0) -> None:
        self.tokens += tokens
        self.bar.set_postfix_str(f"{self.tokens / max(time.monotonic() - self._start, 1e-9):.1f} tokens/s",
                                 refresh=False)
        self.bar.update(count)

    def close(self) -> None:
        self.bar.close()


def _progress(total: int, done: int, progress: bool | None):
    if progress is None and not sys.stderr.isatty():
        return LineProgress("batch", total, done)
    return _Bar(total, done, progress is False)
