"""Batched generation: many sequences on one model, one token of each per decode.

Each sequence keeps its own ``Sampler`` (its strategy, settings, seed and trace) and draws from its
own row of logits; what changes is that the tokens of all of them go through llama.cpp together,
in one ``llama_batch`` per step (``BatchContext``), as llama-server's slots do. Prompts are
evaluated in chunks alongside the tokens of the sequences already generating. When a sequence
ends, its place goes to the next waiting request at once (continuous batching), and a new prompt
that another sequence has already evaluated takes that sequence's cells and logits: the several
seeds of one prompt are evaluated once. A place that ends keeps its prompt's cells and logits, so
that the same prompt sent again later (a client's retry, the next seed of an eval item, a
regenerated reply) is not evaluated again either, as llama-server's slots keep their prompts. (Only
a whole prompt is shared: llama.cpp rounds a prompt evaluated in two parts differently from the
same prompt at once, so a shared prefix would change the tokens.)

A sequence decoded in a batch gives the text ``Sampler.generate`` gives for the same prompt, seed
and settings, as far as llama.cpp's batched matrix products round as its single-sequence ones do
(see the tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Iterator, NamedTuple, Sequence

from .. import _validate
from ..core.results import GenerationResult, StreamPiece
from ..core.stops import check_stop
from .batch_context import BatchContext
from .generation import fitting_prompt
from .locks import _lock_of
from .sequence import SequenceProgress, prepare

if TYPE_CHECKING:
    import numpy as np

    from ..core.sampler import Sampler


@dataclass
class BatchRequest:
    """One generation for the engine: ``sampler`` (its own; one generation at a time) draws from
    ``prompt`` (text, special tokens parsed, or token ids) as ``Sampler.generate`` would."""

    sampler: "Sampler"
    prompt: "str | Sequence[int]"
    max_tokens: int = 256
    stop: "str | Sequence[str] | None" = None
    deadline: float | None = None  # a time.monotonic() time: no token is drawn after it ("timeout")


class BatchEvent(NamedTuple):
    """What a step of the engine says about request ``index`` (its order of submission): a ``piece``
    of text; or, last, its ``result`` or the ``error`` that ended it."""

    index: int
    piece: StreamPiece | None = None
    result: GenerationResult | None = None
    error: BaseException | None = None


@dataclass
class _Job:
    index: int
    progress: SequenceProgress
    prompt: list[int]
    pending: list[int]  # prompt tokens not yet decoded
    donor: "_Job | None" = None  # a job with the same prompt, whose cells and first logits it takes
    prompt_logits: "np.ndarray | None" = None  # the logits after the prompt, kept for jobs that share it
    first: "np.ndarray | None" = None  # logits to draw from this step without a decode (a shared prompt)
    parts: list[str] = field(default_factory=list)
    row: int = -1  # where its logits are in this step's batch (-1: none)


class _Place:
    """One of the context's sequences: how many positions its KV cells hold, and the job using it;
    free, the prompt its cells hold (``kept``: the prompt and the logits after it) and when it was
    last used."""

    __slots__ = ("seq", "filled", "job", "kept", "used")

    def __init__(self, seq: int) -> None:
        self.seq, self.filled, self.job, self.kept, self.used = seq, 0, None, None, 0


class BatchedEngine:
    """``n_seq`` sequences at once on ``llm``'s model, each of at most ``n_ctx`` tokens (default:
    the model's context), ``n_batch`` tokens per decode. Not thread-safe: one thread submits and
    steps.

    >>> from dyntemp import Sampler
    >>> from dyntemp.llama import load_model
    >>> llm = load_model(n_ctx=256)
    >>> engine = BatchedEngine(llm, n_seq=2)
    >>> results = engine.generate([BatchRequest(Sampler(0.0), "The capital of France is", 8, stop="."),
    ...                            BatchRequest(Sampler(0.0, seed=3), "The capital of Italy is", 8, stop=".")])
    >>> [r.text for r in results]
    [' Paris', ' Rome']
    """

    def __init__(self, llm, n_seq: int = 4, *, n_ctx: int | None = None, n_batch: int = 512,
                 threads: int | None = None) -> None:
        import llama_cpp

        n_ctx = llm.n_ctx() if n_ctx is None else _validate.integer("n_ctx", n_ctx, low=1)
        self.llm = llm
        self.context = BatchContext(llm, n_seq, n_ctx, n_batch, threads)
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._places = [_Place(seq) for seq in range(n_seq)]
        self._waiting: list[tuple[int, BatchRequest]] = []
        self._submitted = 0
        #: Prompt tokens that were not evaluated because a place held them already.
        self.reused_tokens = 0

    @property
    def busy(self) -> int:
        """Requests submitted and not yet ended."""
        return len(self._waiting) + sum(place.job is not None for place in self._places)

    @property
    def full(self) -> bool:
        """True when a request submitted now would wait for a place."""
        return len(self._waiting) >= sum(place.job is None for place in self._places)

    def submit(self, request: BatchRequest) -> int:
        """Queue ``request``: its index in the events."""
        self._waiting.append((self._submitted, request))
        self._submitted += 1
        return self._submitted - 1

    def run(self, requests: Iterable[BatchRequest]) -> Iterator[BatchEvent]:
        """Generate ``requests``, taking the next one whenever a place is free: the events of every
        step, as they come, each with the index of its request in ``requests``. Requests not ended
        when the iteration stops early are dropped."""
        if self.busy:
            raise RuntimeError("this engine is running other requests: finish them before run()")
        base = self._submitted
        pending = iter(requests)
        more = True
        try:
            while True:
                while more and not self.full:
                    request = next(pending, None)
                    if request is None:
                        more = False
                    else:
                        self.submit(request)
                if not self.busy:
                    return
                for event in self.step():
                    yield event._replace(index=event.index - base)
        finally:
            self.drop()

    def drop(self, index: int | None = None) -> None:
        """Drop the request of ``index`` (as ``submit`` gave it), or every request not yet ended;
        no event comes of it, and its sampler is free again."""
        self._waiting = [(i, r) for i, r in self._waiting if index is not None and i != index]
        for place in self._places:
            if place.job is not None and index in (None, place.job.index):
                self._vacate(place)

    def generate(self, requests: Iterable[BatchRequest]) -> list[GenerationResult]:
        """``run`` to the end: the results in the order of ``requests``; the first error is raised
        once every request has ended."""
        results: dict[int, GenerationResult] = {}
        error = None
        for event in self.run(requests):
            if event.result is not None:
                results[event.index] = event.result
            elif event.error is not None and error is None:
                error = event.error
        if error is not None:
            raise error
        return [results[i] for i in sorted(results)]

    def step(self) -> list[BatchEvent]:
        """Admit waiting requests to free places, decode one token of every generating sequence
        (and prompt chunks beside them), and draw: the events of this step."""
        events: list[BatchEvent] = []
        self._admit(events)
        for place in self._places:  # a prompt not yet evaluated past its deadline is not evaluated at all
            if place.job is not None and place.job.pending and place.job.progress.expired():
                self._end(place, events, reason="timeout")
        context = self.context
        generating = [place for place in self._places
                      if place.job is not None and not place.job.pending and place.job.first is None]
        for place in generating:
            place.job.row = context.add(place.job.progress.last, place.filled, place.seq)
        chunks = []
        for place in self._places:
            job = place.job
            if job is None or not job.pending or not context.room or self._waits(place):
                continue
            chunk = job.pending[:context.room]
            last = len(chunk) == len(job.pending)
            row = context.add_tokens(chunk, place.filled, place.seq, logits=last)
            job.row = row if last else -1
            chunks.append((place, chunk))
        if context.size:
            try:
                context.decode()
            except MemoryError:
                self._full(generating, chunks, events)
                return events
        for place in generating:
            place.filled += 1
        for place, chunk in chunks:
            place.filled += len(chunk)
            del place.job.pending[:len(chunk)]
        for place in self._places:
            job = place.job
            if job is None or (job.row < 0 and job.first is None):
                continue
            if job.first is not None:
                logits, job.first = job.first, None
            else:
                logits, job.row = context.logits(job.row), -1
                if not job.progress.sampler.trace and context.reuses_prefixes:
                    job.prompt_logits = logits.copy()  # before the sampler draws (it may write them)
            try:
                piece = job.progress.advance(logits)
            except Exception as exc:  # this request's failure (its strategy, its grammar): the others go on
                self._end(place, events, exc)
                continue
            if piece is not None:
                job.parts.append(piece.text)
                events.append(BatchEvent(job.index, piece))
            if job.progress.reason is not None:
                self._end(place, events)
        return events

    def _full(self, generating: list[_Place], chunks: list, events: list[BatchEvent]) -> None:
        """No room in the KV cache for the batch (nothing was decoded; with each sequence bounded by
        its stream's size, a safeguard): the sequences in it end, those generating with what they have."""
        for place in generating:
            self._end(place, events)
        for place, _ in chunks:
            self._end(place, events, MemoryError(f"the context has no room left for this prompt "
                                                 f"({self.context.n_seq} sequences of {self.context.n_ctx_seq} "
                                                 f"tokens): give fewer sequences or a larger context"))

    def _admit(self, events: list[BatchEvent]) -> None:
        while self._waiting:
            free = [place for place in self._places if place.job is None]
            if not free:
                return
            index, request = self._waiting.pop(0)
            try:
                prompt, progress = self._start(request)
            except Exception as exc:  # a bad request ends alone, before any work
                events.append(BatchEvent(index, error=exc))
                continue
            job = _Job(index, progress, prompt, list(prompt))
            place = next((p for p in free if p.kept is not None and p.kept[0] == prompt), None)
            if place is not None:  # this prompt's cells are there, and the logits after it
                place.filled, job.pending, job.prompt_logits = len(prompt), [], place.kept[1]
                job.first = job.prompt_logits.copy()
                self.reused_tokens += len(prompt)
            else:
                # The place whose kept prompt is the oldest, or that keeps none.
                place = min(free, key=lambda p: (p.kept is not None, p.used))
                if place.kept is not None:
                    self._empty(place)
                if self.context.reuses_prefixes:
                    # Seeds of one prompt: the first evaluates it, the others share its cells and its logits.
                    job.donor = next((p.job for p in self._places if p.job is not None and p.job.prompt == prompt),
                                     None)
            place.kept, place.job = None, job

    def _start(self, request: BatchRequest) -> tuple[list[int], SequenceProgress]:
        max_tokens = _validate.integer("max_tokens", request.max_tokens, low=1)
        stops = check_stop(request.stop)
        n_ctx = self.context.n_ctx_seq
        prompt = fitting_prompt(self.llm, request.prompt, n_ctx, "a sequence's context")
        sampler = request.sampler
        _lock_of(sampler).acquire(False, "this Sampler is already generating: use one Sampler per request")
        try:
            prepare(sampler, self.llm)
            return prompt, SequenceProgress(sampler, self._vocab, prompt, max_tokens, stops, n_ctx, request.deadline)
        except BaseException:
            _lock_of(sampler).release()
            raise

    def _waits(self, place: _Place) -> bool:
        """True while ``place``'s job waits for its donor to evaluate their prompt. Once it has, the
        job takes the donor's cells and draws its first token from a copy of the donor's logits
        after the prompt: the prompt is evaluated once, as a whole, and so gives the logits it gives
        alone (a prompt evaluated in two parts rounds differently)."""
        job = place.job
        donor = job.donor
        if donor is None:
            return False
        source = self._place_of(donor)
        if donor.prompt_logits is not None and source is not None:
            self.context.share(source.seq, place.seq, len(job.prompt))
            place.filled = len(job.prompt)
            job.pending, job.first, job.donor = [], donor.prompt_logits.copy(), None
            self.reused_tokens += len(job.prompt)
            job.prompt_logits = donor.prompt_logits  # it can give them on in turn
            return True
        if donor.pending and source is not None:
            return True  # not there yet
        job.donor = None  # the donor has ended: this job evaluates its prompt itself
        return False

    def _place_of(self, job: _Job) -> _Place | None:
        return next((place for place in self._places if place.job is job), None)

    def _end(self, place: _Place, events: list[BatchEvent], error: BaseException | None = None,
             reason: str | None = None) -> None:
        job = place.job
        try:
            if error is None:
                piece = job.progress.end(reason)
                if piece is not None:
                    job.parts.append(piece.text)
                    events.append(BatchEvent(job.index, piece))
                events.append(BatchEvent(job.index, result=job.progress.result("".join(job.parts))))
            else:
                events.append(BatchEvent(job.index, error=error))
        finally:
            self._vacate(place)

    def _vacate(self, place: _Place) -> None:
        """``place`` is free, and its job's sampler too; its cells keep the job's prompt, if it was
        evaluated, for a later request with the same prompt."""
        job = place.job
        _lock_of(job.progress.sampler).release()
        place.job, place.used = None, self._submitted
        if job.prompt_logits is not None and place.filled >= len(job.prompt):
            self.context.trim(place.seq, len(job.prompt))
            place.filled, place.kept = len(job.prompt), (job.prompt, job.prompt_logits)
        else:
            self._empty(place)

    def _empty(self, place: _Place) -> None:
        """``place``'s cells hold nothing, and it keeps no prompt."""
        self.context.clear(place.seq)
        place.filled, place.kept = 0, None

    def reset(self) -> None:
        """Forget the prompts the free places keep: the context's streams are empty again, as a
        new engine's (running requests go on)."""
        for place in self._places:
            if place.job is None and place.kept is not None:
                self._empty(place)

    def close(self) -> None:
        """Free the context now (it is freed with the engine otherwise)."""
        self.context.close()
