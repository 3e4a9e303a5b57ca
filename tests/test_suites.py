"""Prompt suites: answer matching, items, the built-in suites (their tests hold for reference
solutions), user JSONL files with their errors, and greedy accuracy on the default model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dyntemp
from dyntemp.eval.suites import Item, Suite, SuiteError, check_answer, list_suites, load_suite


@pytest.mark.parametrize("reply, answers", [
    ("The capital is Paris.", ["Paris"]),
    ("PARIS!", "paris"),
    ("It has four legs", ["4", "four"]),
    ("It has 4 legs.", ["four"]),
    ("Twenty-one years.", ["21"]),
    ("about one hundred and five", ["105"]),
    ("1,000 years", ["one thousand"]),
    ("The capital of Brazil is Brasília.", ["Brasilia"]),
    ("It is the Nile River.", ["the Nile"]),
    ("Written by J. K. Rowling", ["J.K. Rowling"]),
    ("It is New Delhi.", ["Delhi"]),
    ("Water is H2O.", ["H2O"]),
    ("The answer is 4.", ["4"]),
    ("Canberra. It is not Sydney, as many think.", ["Canberra"]),
    ("J. K. Rowling wrote it.", ["J.K. Rowling"]),
    ("The answer is 4.5 metres.", ["4.5"]),
    ("Mount Everest, at 8,849 metres. Or so they say.", ["Everest"]),
])
def test_check_answer_accepts(reply, answers):
    assert check_answer(reply, answers) is True


@pytest.mark.parametrize("reply, answers", [
    ("Parisian food", ["Paris"]),
    ("14", ["4"]),
    ("4.5", ["4"]),
    ("It has fourteen legs", ["4", "four"]),
    ("someone", ["one"]),
    ("Yorkshire", ["York"]),
    ("The capital is Delhi.", ["New Delhi"]),
    ("The river", ["the Nile"]),
    ("", ["Paris"]),
    ("Green and yellow", ["blue"]),
    ("Not Canberra.", ["Canberra"]),
    ("It isn't Canberra.", ["Canberra"]),
    ("It could be Sydney, Melbourne, Canberra or Perth.", ["Canberra"]),
    ("Either Rome or Milan", ["Milan"]),
    ("Spiders have 6 legs; 8 eyes.", ["8", "eight"]),
    ("Sydney.\nActually, Canberra.", ["Canberra"]),
    ("Maybe Paris.", ["Paris"]),
])
def test_check_answer_rejects(reply, answers):
    assert check_answer(reply, answers) is False


@pytest.mark.parametrize("answers", [[], ["!!"], [3], ["Paris", ""]])
def test_check_answer_refuses_answers_that_cannot_be_matched(answers):
    with pytest.raises(ValueError, match="answer"):
        check_answer("Paris", answers)


def test_an_item_is_qa_code_or_open_with_defaults_per_kind():
    qa = Item("q", "What is 2 + 2?", answers=("4", "four"))
    code = Item("c", "Write `f()`.", tests=("assert f() == 1",))
    open_ = Item("o", "Write a poem.")
    assert [(i.kind, i.max_tokens) for i in (qa, code, open_)] == [("qa", 48), ("code", 256), ("open", 160)]
    assert qa.messages() == [{"role": "system", "content": "Answer the question with a short phrase."},
                             {"role": "user", "content": "What is 2 + 2?"}]
    assert code.messages()[0]["content"].startswith("You write Python code.")
    assert open_.messages() == [{"role": "user", "content": "Write a poem."}]
    assert Item("q", "2 + 2?", answers=("4",), system="").messages() == [{"role": "user", "content": "2 + 2?"}]
    assert Item("o", "Poem.", system="Rhyme.", max_tokens=9).messages()[0] == {"role": "system", "content": "Rhyme."}
    assert Item("o", "Poem.", max_tokens=9).max_tokens == 9
    with pytest.raises(ValueError, match="not both"):
        Item("x", "?", answers=("a",), tests=("assert True",))


def test_an_item_scores_its_reply_by_kind():
    qa = Item("q", "What is 2 + 2?", answers=("4", "four"))
    assert qa.score("2 + 2 = 4") == {"correct": 1.0} and qa.score("It is 5.") == {"correct": 0.0}
    code = Item("c", "Write `double(x)`.", tests=("assert double(2) == 4",))
    assert code.score("```python\ndef double(x):\n    return x * 2\n```") == {"passed": 1.0, "error": None,
                                                                           "parses": 1.0}
    assert code.score("```python\ndef double(x):\n    return x + 3\n```") == {
        "passed": 0.0, "error": "test 1 failed: assert double(2) == 4", "parses": 1.0}
    assert Item("o", "Write a poem.").score("Roses.") == {}


def test_the_built_in_suites():
    assert list_suites() == ["code", "creative", "humaneval", "humaneval-chat", "qa"]
    sizes = {"qa": 150, "creative": 40, "code": 30, "humaneval": 164, "humaneval-chat": 164}
    kinds = {"qa": "qa", "creative": "open", "code": "code", "humaneval": "code", "humaneval-chat": "code"}
    for name in list_suites():
        suite = load_suite(name)
        assert isinstance(suite, Suite) and suite.name == name and len(suite) >= sizes[name]
        assert {item.kind for item in suite} == {kinds[name]}
        assert len({item.id for item in suite}) == len(suite) and suite[0] is list(suite)[0]
        assert len({item.prompt for item in suite}) == len(suite)


def test_no_qa_prompt_gives_its_own_answer_away():
    assert [item.id for item in load_suite("qa") if check_answer(item.prompt, item.answers)] == []


# One reference solution per built-in code task: its tests must pass them and fail a stub.
SOLUTIONS = {
    "add": "def add(a, b): return a + b",
    "subtract": "def subtract(a, b): return a - b",
    "multiply": "def multiply(a, b): return a * b",
    "square": "def square(n): return n * n",
    "is-even": "def is_even(n): return n % 2 == 0",
    "larger": "def larger(a, b): return a if a > b else b",
    "absolute": "def absolute(n): return -n if n < 0 else n",
    "reverse-string": "def reverse_string(s): return s[::-1]",
    "count-vowels": "def count_vowels(s): return sum(c in 'aeiouAEIOU' for c in s)",
    "factorial": "import math\ndef factorial(n): return math.factorial(n)",
    "fibonacci": "def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
    "is-palindrome": "def is_palindrome(s): return s == s[::-1]",
    "sum-list": "def sum_list(numbers): return sum(numbers)",
    "average": "def average(numbers): return sum(numbers) / len(numbers)",
    "largest": "def largest(numbers): return max(numbers)",
    "smallest": "def smallest(numbers): return min(numbers)",
    "celsius-to-fahrenheit": "def celsius_to_fahrenheit(c): return c * 9 / 5 + 32",
    "count-words": "def count_words(text): return len(text.split())",
    "first-item": "def first_item(items): return items[0]",
    "last-item": "def last_item(items): return items[-1]",
    "is-positive": "def is_positive(n): return n > 0",
    "double-all": "def double_all(numbers): return [2 * n for n in numbers]",
    "only-even": "def only_even(numbers): return [n for n in numbers if n % 2 == 0]",
    "greet": "def greet(name): return f'Hello, {name}!'",
    "is-prime": "def is_prime(n): return n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))",
    "title-words": "def title_words(text): return ' '.join(w[:1].upper() + w[1:] for w in text.split(' '))",
    "unique": "def unique(items): return list(dict.fromkeys(items))",
    "count-char": "def count_char(text, char): return text.count(char)",
    "sum-to": "def sum_to(n): return n * (n + 1) // 2",
    "power": "def power(base, exponent): return base ** exponent",
    "min-max": "def min_max(numbers): return (min(numbers), max(numbers))",
    "is-leap-year": "def is_leap_year(year): return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)",
    "join-words": "def join_words(words): return ' '.join(words)",
    "rectangle-area": "def rectangle_area(width, height): return width * height",
    "shout": "def shout(text): return text.upper()",
    "count-positive": "def count_positive(numbers): return sum(n > 0 for n in numbers)",
    "digit-sum": "def digit_sum(n): return sum(int(d) for d in str(n))",
    "word-lengths": "def word_lengths(words): return [len(w) for w in words]",
}


def test_every_code_task_passes_its_reference_and_fails_a_stub():
    suite = load_suite("code")
    assert sorted(item.id for item in suite) == sorted(SOLUTIONS)
    for item in suite:
        assert item.score(f"```python\n{SOLUTIONS[item.id]}\n```") == {"passed": 1.0, "error": None,
                                                                        "parses": 1.0}, item.id
        name = item.prompt.split("`")[1].split("(")[0]
        stub = item.score(f"def {name}(*args):\n    return None\n")
        assert stub["passed"] == 0.0 and stub["error"].startswith("test 1 failed"), item.id


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_user_suite_from_a_path(tmp_path):
    path = write(tmp_path / "mine.jsonl",
                 json.dumps({"prompt": "Capital of Peru?", "answers": "Lima", "max_tokens": 20}),
                 "",
                 json.dumps({"id": "poem", "prompt": "A poem.", "system": "Rhyme."}),
                 json.dumps({"prompt": "Write `one()`.", "tests": ["assert one() == 1"]}))
    for argument in (path, str(path)):
        suite = load_suite(argument)
        assert suite.name == "mine" and suite.source == str(path) and len(suite) == 3
        ids = [item.id for item in suite]
        assert ids[1] == "poem" and ids[0].startswith("mine-") and ids[2].startswith("mine-")
        assert len(ids[0]) == len("mine-") + 12 and ids[0] != ids[2]
        assert [item.kind for item in suite] == ["qa", "open", "code"]
        assert suite[0].answers == ("Lima",) and suite[0].max_tokens == 20
        assert suite[1].messages()[0] == {"role": "system", "content": "Rhyme."}
        assert suite[2].tests == ("assert one() == 1",) and suite[2].max_tokens == 256


def test_an_item_without_id_is_named_by_its_content_not_its_line(tmp_path):
    france = json.dumps({"prompt": "Capital of France?", "answers": "Paris"})
    peru = json.dumps({"prompt": "Capital of Peru?", "answers": "Lima"})
    before = {item.prompt: item.id for item in load_suite(write(tmp_path / "s.jsonl", france, peru))}
    after = {item.prompt: item.id for item in load_suite(write(tmp_path / "s.jsonl", peru, "", france))}
    assert before == after  # moved lines keep their ids
    edited = load_suite(write(tmp_path / "s.jsonl", json.dumps({"prompt": "Capital of France?", "answers": "Lyon"})))
    assert edited[0].id != before["Capital of France?"]  # a changed item is another item


def test_a_suite_is_known_once_by_its_name(tmp_path):
    from dyntemp.eval.spec import Sweep, SweepSpecError, parse_strategy

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        write(tmp_path / name / "mine.jsonl", json.dumps({"prompt": "Hi."}))
    with pytest.raises(SweepSpecError, match="suite 'qa' is given twice"):
        Sweep(["qa", "qa"], parse_strategy("edt"))
    with pytest.raises(SweepSpecError, match="two suites would be named 'mine' in the run: .*rename one"):
        Sweep([str(tmp_path / "a" / "mine.jsonl"), str(tmp_path / "b" / "mine.jsonl")], parse_strategy("edt"))
    write(tmp_path / "qa.jsonl", json.dumps({"prompt": "Hi."}))
    with pytest.raises(SweepSpecError, match="two suites would be named 'qa'"):
        Sweep(["qa", str(tmp_path / "qa.jsonl")], parse_strategy("edt"))


@pytest.mark.parametrize("line, message", [
    ('{"prompt": "a"', "bad JSON: Expecting ',' delimiter (column 15)"),
    ('["prompt"]', "expected a JSON object, got a list"),
    ('{"id": "x"}', 'missing "prompt"'),
    ('{"prompt": "  "}', '"prompt" is empty'),
    ('{"prompt": 3}', '"prompt" must be a string, got a number'),
    ('{"prompt": "a", "answer": "b"}', "unknown key 'answer'. Did you mean 'answers'? Keys: id, prompt, answers, "
                                       "tests, system, max_tokens"),
    ('{"prompt": "a", "colour": "b"}', "unknown key 'colour'. Keys: "),
    ('{"prompt": "a", "answers": 4}', '"answers" must be a string or a non-empty list of strings, got 4'),
    ('{"prompt": "a", "answers": []}', '"answers" must be a string or a non-empty list of strings, got []'),
    ('{"prompt": "a", "answers": ["b", ""]}', '"answers" has "", which has no letters or digits to match'),
    ('{"prompt": "a", "tests": "assert f()"}', '"tests" must be a non-empty list of non-empty strings, got "assert'),
    ('{"prompt": "a", "tests": ["assert f(", 1]}', '"tests" must be a non-empty list of non-empty strings'),
    ('{"prompt": "a", "tests": ["assert f("]}', '"tests"[0] is not valid Python: '),
    ('{"prompt": "a", "answers": "b", "tests": ["assert 1"]}', 'a line has "answers" or "tests", not both'),
    ('{"prompt": "a", "max_tokens": 0}', '"max_tokens" must be >= 1, got 0'),
    ('{"prompt": "a", "max_tokens": "9"}', '"max_tokens" must be an integer, got \'9\''),
    ('{"prompt": "a", "max_tokens": 2.5}', '"max_tokens" must be an integer, got 2.5'),
    ('{"prompt": "a", "system": 1}', '"system" must be a string, got a number'),
    ('{"prompt": "a", "id": ""}', '"id" is empty'),
])
def test_a_bad_line_names_the_file_the_line_and_the_problem(tmp_path, line, message):
    path = write(tmp_path / "bad.jsonl", '{"prompt": "fine"}', "", line)
    with pytest.raises(SuiteError) as error:
        load_suite(path)
    assert isinstance(error.value, ValueError)
    assert str(error.value).startswith(f"{path}, line 3: {message}")


def test_duplicate_ids_name_both_lines(tmp_path):
    path = write(tmp_path / "dupes.jsonl", '{"id": "a", "prompt": "x"}', '{"id": "b", "prompt": "y"}',
                 '{"id": "a", "prompt": "z"}')
    with pytest.raises(SuiteError, match=r"dupes.jsonl, line 3: duplicate id 'a' \(first on line 1\)$"):
        load_suite(path)


def test_an_empty_file_a_missing_file_and_an_unknown_name(tmp_path):
    empty = write(tmp_path / "empty.jsonl", "", "  ")
    with pytest.raises(SuiteError, match=r"empty.jsonl: the file has no prompts$"):
        load_suite(empty)
    missing = tmp_path / "nowhere.jsonl"
    with pytest.raises(SuiteError) as error:
        load_suite(missing)
    assert str(error.value) == f"suite file not found: {missing}"
    with pytest.raises(SuiteError) as error:
        load_suite("creativ")
    assert str(error.value) == ("unknown suite 'creativ'. Did you mean 'creative'? "
                                "Built-in suites: code, creative, humaneval, humaneval-chat, qa; or give the path of a JSONL file")
    with pytest.raises(SuiteError, match=r"^unknown suite 'zzz'\. Built-in suites: code, creative, humaneval, humaneval-chat, qa;"):
        load_suite("zzz")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"prompt": "café"}'.encode("latin-1"))
    with pytest.raises(SuiteError, match=r"latin.jsonl: not UTF-8 text \(byte 15\)$"):
        load_suite(latin)


def test_greedy_accuracy_on_the_qa_suite_is_at_least_60_percent(llm):
    from dyntemp.llama.batched import BatchedEngine, BatchRequest
    from dyntemp.llama.generation import chat_tokens

    suite = load_suite("qa")
    # Eight at a time: the same replies as one at a time (test_batched), in less time.
    replies = BatchedEngine(llm, 8).generate([BatchRequest(dyntemp.Sampler(0.0), chat_tokens(llm, item.messages()),
                                                           item.max_tokens) for item in suite])
    correct = [item.score(reply.text)["correct"] for item, reply in zip(suite, replies)]
    assert sum(correct) / len(suite) >= 0.60, f"{sum(correct):.0f} of {len(suite)} correct"
