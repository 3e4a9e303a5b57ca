"""Prompt suites: the built-in ``qa``, ``creative`` and ``code`` suites, HumanEval (``humaneval``,
``humaneval-chat``: see ``dyntemp.eval.humaneval``) and user JSONL files.

A suite file holds one JSON object per line (blank lines are skipped; line numbers count them)::

    {"id": "capital-france", "prompt": "What is the capital of France?", "answers": ["Paris"]}
    {"prompt": "Write a short poem about rain."}
    {"prompt": "Write a Python function `add(a, b)` ...", "tests": ["assert add(2, 3) == 5"]}

Keys: ``prompt`` (required), ``id`` (default: the suite's name and a hash of the line's other keys,
so that it follows the item's content, not its place in the file), ``answers`` (a string or a list
of strings), ``tests`` (a list of Python statements run after the reply's code), ``system`` (a
system message; ``""`` for none) and ``max_tokens``. An id given is the item's name across edits:
give a changed question a new one, or a run folder resumes with replies to the old. A line with answers is a ``qa`` item, one with tests a ``code`` item, any other
an ``open`` item. Every problem raises ``SuiteError`` naming the file, the line and what is wrong.

The built-in suites list their items in a shuffled order, so that the first N (``--limit N``) are
a mixed sample of every kind of question or task.
"""


from __future__ import annotations

import dataclasses
import json
import os
from importlib import resources
from pathlib import Path

from .. import _validate
from .answers import answer_words, check_answer
from .items import DEFAULT_MAX_TOKENS, DEFAULT_SYSTEM, KEYS, Item, Suite, SuiteError, parses

__all__ = ["DEFAULT_MAX_TOKENS", "DEFAULT_SYSTEM", "KEYS", "Item", "Suite", "SuiteError", "check_answer",
           "list_suites", "load_suite", "parses"]


def list_suites() -> list[str]:
    """The names of the built-in suites.

    >>> list_suites()
    ['code', 'creative', 'humaneval', 'humaneval-chat', 'qa']
    """
    from .humaneval import FORMS

    folder = resources.files("dyntemp.eval") / "suites"
    files = [entry.name[:-len(".jsonl")] for entry in folder.iterdir() if entry.name.endswith(".jsonl")]
    return sorted(files + list(FORMS))


def load_suite(name_or_path: str | os.PathLike) -> Suite:
    """A built-in suite by name, or a user suite from a JSONL file (named after the file's stem).

    A built-in name wins over a file of the same name. A string that is not a built-in name, has
    no path separator nor ``.jsonl`` ending and names no file is reported as an unknown suite.

    >>> load_suite("creative")[0].kind
    'open'
    >>> load_suite("qaa")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dyntemp.eval.items.SuiteError: unknown suite 'qaa'. Did you mean 'qa'? Built-in suites: code, creative, humaneval, ...
    """
    from .humaneval import FORMS, humaneval_suite

    if isinstance(name_or_path, str) and name_or_path in FORMS:
        return humaneval_suite(name_or_path)
    if isinstance(name_or_path, str) and name_or_path in list_suites():
        resource = resources.files("dyntemp.eval") / "suites" / f"{name_or_path}.jsonl"
        return _parse(name_or_path, str(resource), resource.read_bytes())
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise SuiteError(f"a suite is a built-in name or a path, got {name_or_path!r}")
    path = Path(name_or_path)
    if isinstance(name_or_path, str) and os.sep not in name_or_path and path.suffix != ".jsonl" and not path.exists():
        raise SuiteError(_validate.unknown("suite", name_or_path, list_suites(), listing="Built-in suites")
                         + "; or give the path of a JSONL file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SuiteError(f"suite file not found: {path}") from None
    except OSError as error:
        raise SuiteError(f"cannot read suite file {path}: {error.strerror}") from None
    return _parse(path.stem, str(path), data)


def _parse(name: str, source: str, data: bytes) -> Suite:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SuiteError(f"{source}: not UTF-8 text (byte {error.start})") from None
    items: list[Item] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = _item(name, number, line)
        except ValueError as error:
            raise SuiteError(f"{source}, line {number}: {error}") from None
        if item.id in first_line:
            raise SuiteError(f"{source}, line {number}: duplicate id '{item.id}' (first on line {first_line[item.id]})")
        first_line[item.id] = number
        items.append(item)
    if not items:
        raise SuiteError(f"{source}: the file has no prompts")
    return Suite(name, tuple(items), source)


def _item(suite: str, number: int, line: str) -> Item:
    """The item of one line; ``ValueError`` says what is wrong with it."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"bad JSON: {error.msg} (column {error.colno})") from None
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {_json_type(record)}")
    for key in record:
        if key not in KEYS:
            raise ValueError(_validate.unknown("key", key, KEYS, listing="Keys"))
    if "prompt" not in record:
        raise ValueError('missing "prompt"')
    prompt = _text("prompt", record["prompt"])
    item_id = _text("id", record["id"]) if "id" in record else None
    answers = _answers(record["answers"]) if "answers" in record else ()
    tests = _tests(record["tests"]) if "tests" in record else ()
    if answers and tests:
        raise ValueError('a line has "answers" or "tests", not both')
    system = record.get("system")
    if system is not None and not isinstance(system, str):
        raise ValueError(f'"system" must be a string, got {_json_type(system)}')
    max_tokens = record.get("max_tokens")
    if max_tokens is not None:
        try:
            max_tokens = _validate.integer('"max_tokens"', max_tokens, low=1)
        except TypeError as error:
            raise ValueError(str(error)) from None
    item = Item(item_id or "", prompt, answers, tests, system, max_tokens)
    # Without an id, an item is named by its content, so that editing the file elsewhere (a line
    # inserted above it) never files an old reply under a new question.
    return item if item_id else dataclasses.replace(item, id=f"{suite}-{item.content_hash}")


def _text(key: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f'"{key}" must be a string, got {_json_type(value)}')
    if not value.strip():
        raise ValueError(f'"{key}" is empty')
    return value


def _answers(value: object) -> tuple[str, ...]:
    answers = [value] if isinstance(value, str) else value
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers):
        raise ValueError(f'"answers" must be a string or a non-empty list of strings, got {json.dumps(value)}')
    for answer in answers:
        if not answer_words(answer):
            raise ValueError(f'"answers" has {json.dumps(answer)}, which has no letters or digits to match')
    return tuple(answers)


def _tests(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(t, str) and t.strip() for t in value):
        raise ValueError(f'"tests" must be a non-empty list of non-empty strings, got {json.dumps(value)}')
    for index, test in enumerate(value):
        try:
            compile(test, f"tests[{index}]", "exec")
        except SyntaxError as error:
            raise ValueError(f'"tests"[{index}] is not valid Python: {error.msg}: {test!r}') from None
    return tuple(value)


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)
