"""HumanEval as a suite: the package's problems, scored in the kernel's sandbox as the paper's harness."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from dyntemp import Sampler
from dyntemp.cli import main
from dyntemp.eval import load_suite
from dyntemp.eval.humaneval import STOPS, problems

COMPLETION, CHAT = load_suite("humaneval"), load_suite("humaneval-chat")


def test_every_canonical_solution_passes_in_the_sandbox():
    with ThreadPoolExecutor(4) as pool:
        scores = list(pool.map(lambda pair: pair[0].score(pair[1]["canonical_solution"]), zip(COMPLETION, problems())))
    failed = [(item.id, s["error"]) for item, s in zip(COMPLETION, scores) if s["passed"] != 1.0]
    assert len(COMPLETION) == 164 and failed == []
    assert all(s["parses"] == 1.0 for s in scores)


def test_a_wrong_solution_fails_and_a_slow_one_times_out():
    item = COMPLETION[0]  # has_close_elements(numbers, threshold)
    wrong = item.score("    return False\n")
    assert wrong["passed"] == 0.0 and wrong["parses"] == 1.0 and "test 2" in wrong["error"]
    slow = item.score("    while True:\n        pass\n")
    assert slow == {"passed": 0.0, "error": "timed out after 3.0 s", "parses": 1.0}
    broken = item.score("    return (\n")
    assert broken["passed"] == 0.0 and broken["parses"] == 0.0 and "SyntaxError" in broken["error"]


def test_the_chat_form_joins_a_body_to_the_problem_and_a_whole_function_to_its_imports():
    item, problem = CHAT[0], problems()[0]
    assert problem["prompt"] in item.prompt and item.messages()[0]["role"] == "system"
    body = f"Here it is:\n```python\n{problem['canonical_solution']}```\n"
    assert item.program(body) == problem["prompt"] + problem["canonical_solution"]
    assert item.score(body)["passed"] == 1.0
    whole = f"```python\n{problem['prompt']}{problem['canonical_solution']}```"
    assert item.program(whole) == "from typing import List\n" + problem["prompt"] + problem["canonical_solution"]
    assert item.score(whole)["passed"] == 1.0


def test_a_completion_stops_as_codex_stops(model2048):
    item = COMPLETION[2]
    result = Sampler(0.8, seed=3).generate(model2048, item.prompt, max_tokens=200, stop=list(item.stop))
    assert not any(stop in result.text for stop in STOPS) and result.finish_reason in ("stop", "eos", "length")


def test_eval_runs_the_completion_form(tmp_path, capsys):
    out = tmp_path / "run"
    status = main(["eval", "--suite", "humaneval", "--limit", "2", "--seeds", "2", "--strategy",
                   "constant:temperature=0.2", "--max-tokens", "48", "--out", str(out), "-t", "1", "--batch-size", "2"])
    assert status == 0
    records = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    assert {r["suite"] for r in records} == {"humaneval"} and {r["item"] for r in records} == {"HumanEval/0",
                                                                                            "HumanEval/1"}
    assert all(set(r["scores"]) == {"passed", "error", "parses"} for r in records)
    assert all(not any(stop in r["text"] for stop in STOPS) for r in records)
