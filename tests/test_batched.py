"""Batched generation on the real default model: each sequence of a batch gives what it gives alone."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from dyntemp import Sampler
from dyntemp.llama.batch_context import BatchContext
from dyntemp.llama.batched import BatchedEngine, BatchRequest

PROMPTS = ["The capital of France is", "Once upon a time", "def fibonacci(n):", "The best way to learn is",
           "<|im_start|>user\nName three fruits.<|im_end|>\n<|im_start|>assistant\n"]
STRATEGIES = ["edt", "constant:temperature=0.9", "sentence:temperatures=[0.2,1.2]", 0.0, "dynatemp"]


def _sampler(i: int, **kwargs) -> Sampler:
    return Sampler(STRATEGIES[i % len(STRATEGIES)], seed=i, **kwargs)


def _same(alone, batched) -> None:
    assert batched.text == alone.text
    assert batched.tokens == alone.tokens
    assert batched.finish_reason == alone.finish_reason
    assert batched.trace.to_columns() == alone.trace.to_columns()


@pytest.fixture(scope="module")
def engine(model2048):
    engine = BatchedEngine(model2048, 3, n_ctx=512)
    yield engine
    engine.close()


def test_each_sequence_gives_what_it_gives_alone(model2048, engine):
    # Five requests on three places: two start as others end (continuous batching); stops, end of
    # generation and max_tokens all end some of them.
    stops = [None, ".", "\n", None, None]
    alone = [_sampler(i).generate(model2048, p, max_tokens=12 + 6 * i, stop=stops[i]) for i, p in enumerate(PROMPTS)]
    batched = engine.generate([BatchRequest(_sampler(i), p, 12 + 6 * i, stops[i]) for i, p in enumerate(PROMPTS)])
    assert {r.finish_reason for r in alone} >= {"length", "stop"}
    for a, b in zip(alone, batched):
        _same(a, b)


def test_the_seeds_of_one_prompt_evaluate_it_once(model2048, monkeypatch):
    shared = []
    share = BatchContext.share
    monkeypatch.setattr(BatchContext, "share", lambda self, *a: (shared.append(a), share(self, *a))[1])
    prompt = PROMPTS[4]
    n = len(model2048.tokenize(prompt.encode(), special=True))
    engine = BatchedEngine(model2048, 3, n_ctx=512)
    alone = [Sampler("edt", seed=seed).generate(model2048, prompt, max_tokens=20) for seed in range(8)]
    batched = engine.generate([BatchRequest(Sampler("edt", seed=seed), prompt, 20) for seed in range(4)])
    # seeds 1 and 2 wait for seed 0's prompt; seed 3 starts when a place frees, which keeps the prompt
    assert len(shared) == 2 and all(count == n for _, _, count in shared)
    assert engine.reused_tokens == 3 * n
    # Later, the same prompt is in the places that ended: none evaluates it.
    batched += engine.generate([BatchRequest(Sampler("edt", seed=seed), prompt, 20) for seed in range(4, 8)])
    assert engine.reused_tokens == 7 * n
    for a, b in zip(alone, batched):
        _same(a, b)


def test_an_ended_place_keeps_its_prompt_for_the_next_request(model2048):
    engine = BatchedEngine(model2048, 2, n_ctx=512)
    first = [BatchRequest(_sampler(i), PROMPTS[i], 16) for i in range(2)]
    engine.generate(first)
    assert engine.reused_tokens == 0
    # PROMPTS[1] again takes the place that kept it; PROMPTS[2] takes the other, whose kept prompt
    # goes; then PROMPTS[0] is gone, and PROMPTS[2] is kept.
    later = [(1, PROMPTS[1]), (2, PROMPTS[2]), (0, PROMPTS[0]), (2, PROMPTS[2])]
    results = [engine.generate([BatchRequest(_sampler(i + 5), prompt, 16)])[0] for i, prompt in later]
    lengths = [len(model2048.tokenize(prompt.encode(), special=True)) for _, prompt in later]
    assert engine.reused_tokens == lengths[0] + lengths[3]
    for (i, prompt), result in zip(later, results):
        _same(_sampler(i + 5).generate(model2048, prompt, max_tokens=16), result)
    engine.reset()  # the kept prompts are forgotten
    _same(_sampler(7).generate(model2048, PROMPTS[2], max_tokens=16),
          engine.generate([BatchRequest(_sampler(7), PROMPTS[2], 16)])[0])
    assert engine.reused_tokens == lengths[0] + lengths[3]


def test_a_failing_request_ends_alone(model2048, engine):
    class Broken(Sampler):
        def sample(self, *args, **kwargs):
            if len(self.trace) == 3:
                raise ValueError("this strategy broke")
            return super().sample(*args, **kwargs)

    requests = [BatchRequest(_sampler(0), PROMPTS[0], 10), BatchRequest(Broken("edt", seed=1), PROMPTS[1], 10),
                BatchRequest(_sampler(2), "x " * 600, 10), BatchRequest(_sampler(3), PROMPTS[3], 10, stop=[""])]
    events = list(engine.run(requests))
    errors = {e.index: e.error for e in events if e.error is not None}
    results = {e.index: e.result for e in events if e.result is not None}
    assert set(errors) == {1, 2, 3} and set(results) == {0}
    assert str(errors[1]) == "this strategy broke"
    assert "a sequence's context holds 512" in str(errors[2])
    assert "stop must be" in str(errors[3])
    _same(_sampler(0).generate(model2048, PROMPTS[0], max_tokens=10), results[0])
    # the samplers are free again, and the engine goes on
    assert engine.generate([requests[0]])[0].text == results[0].text


def test_a_passed_deadline_ends_the_sequence(engine):
    late = BatchRequest(_sampler(0), PROMPTS[0], 50, deadline=time.monotonic())
    on_time = BatchRequest(_sampler(1), PROMPTS[1], 5)
    late_result, on_time_result = engine.generate([late, on_time])
    assert late_result.finish_reason == "timeout" and late_result.tokens == []
    assert on_time_result.finish_reason == "length" and len(on_time_result.tokens) == 5


def test_batch_size_gives_the_records_of_one_at_a_time(tmp_path):
    lines = [{"id": f"l{i}", "prompt": p, "max_tokens": 16, "seed": i} for i, p in enumerate(PROMPTS)]
    lines += [{"id": f"s{seed}", "prompt": PROMPTS[4], "max_tokens": 16, "seed": seed} for seed in range(3)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    outputs = {}
    # one at a time; four at once in this process; groups of three on two worker processes
    for name, flags in {"one": ["--batch-size", "1"], "four": ["--batch-size", "4"],
                        "workers": ["--batch-size", "3", "--workers", "2"]}.items():
        out = tmp_path / f"{name}.jsonl"
        result = subprocess.run([sys.executable, "-m", "dyntemp", "batch", str(tmp_path / "in.jsonl"), "-o", str(out),
                                 "--strategy", "edt", "--trace", *flags], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        outputs[name] = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert len(outputs["one"]) == len(lines)
    assert outputs["four"] == outputs["one"] and outputs["workers"] == outputs["one"]


def test_eval_batch_size_gives_the_records_of_one_at_a_time(tmp_path):
    from dyntemp.eval.runner import run_sweep
    from dyntemp.eval.run_folder import read_generations
    from dyntemp.eval.spec import Sweep, parse_strategy

    texts = {}
    for size in (1, 3):
        sweep = Sweep(["qa"], parse_strategy("edt"), seeds=2, limit=2, max_tokens=12, batch_size=size)
        run_sweep(sweep, tmp_path / str(size), progress=False)
        texts[size] = {(r.item, r.settings.seed): (r.text, r.scores) for r in read_generations(tmp_path / str(size))}
    assert len(texts[3]) == 4 and texts[3] == texts[1]


def test_a_bad_batch_size_is_refused():
    result = subprocess.run([sys.executable, "-m", "dyntemp", "batch", "-", "-o", "-", "--batch-size", "0"],
                            capture_output=True, text=True, input="", timeout=60)
    assert result.returncode == 2 and "--batch-size must be >= 1, got 0" in result.stderr
    assert "Traceback" not in result.stderr
