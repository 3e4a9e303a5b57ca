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

import ast
import dataclasses
import hashlib
import json
import os
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable, Iterator

from .. import _validate
from .sandbox import TIMEOUT, extract_code, run_tests

# qa: a short phrase, or a sentence around it, fits, and the whole suite stays near a minute.
# open: a paragraph, long enough to show how a temperature schedule shapes the text.
# code: a small function in its fence plus a line of explanation, but no room for long rambling.
DEFAULT_MAX_TOKENS = {"qa": 48, "open": 160, "code": 256}

# None keeps the chat template's own default system message.
DEFAULT_SYSTEM = {
    "qa": "Answer the question with a short phrase.",
    "open": None,
    "code": "You write Python code. Reply with the function in a ```python code block.",
}

KEYS = ("id", "prompt", "answers", "tests", "system", "max_tokens")


class SuiteError(ValueError):
    """A suite that cannot be loaded: a missing file, an unknown name or a bad line."""


@dataclass(frozen=True)
class Item:
    """One prompt of a suite, with what scores its reply: ``answers`` for a qa item, ``tests`` for
    a code item. ``system=None`` and ``max_tokens=None`` take the kind's defaults (``DEFAULT_SYSTEM``,
    ``DEFAULT_MAX_TOKENS``); ``system=""`` sends no system message of the suite's own.

    >>> item = Item("q1", "What is 2 + 2?", answers=("4", "four"))
    >>> item.kind, item.max_tokens, item.score("It is four."), item.messages()[-1]["content"]
    ('qa', 48, {'correct': 1.0}, 'What is 2 + 2?')
    """

    id: str
    prompt: str
    answers: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    system: str | None = None
    max_tokens: int | None = None
    #: The prompt is text the model continues (no chat template), as HumanEval's completion form.
    completion: bool = False
    stop: tuple[str, ...] = ()  # stop strings of the generation
    #: The function a code item asks for: a reply's code block without it is the body of the prompt's
    #: (or of ``code``'s: the code the reply completes, when the prompt is not that code itself).
    entry_point: str | None = None
    code: str | None = None
    timeout: float | None = None  # seconds the tests may run (default: the sandbox's TIMEOUT)

    def __post_init__(self) -> None:
        if self.answers and self.tests:
            raise ValueError("an item has answers or tests, not both")
        if self.max_tokens is None:
            object.__setattr__(self, "max_tokens", DEFAULT_MAX_TOKENS[self.kind])

    @property
    def content_hash(self) -> str:
        """12 hex digits of a hash of everything that makes the item but its id: a run folder tells
        by it an item edited since its replies were made.

        >>> Item("a", "Hi.").content_hash == Item("b", "Hi.").content_hash != Item("a", "Hello.").content_hash
        True
        """
        fields = {"prompt": self.prompt, "answers": list(self.answers), "tests": list(self.tests),
                  "system": self.system, "max_tokens": self.max_tokens}
        # The fields added since: only when set, so that the items of earlier runs keep their hash.
        fields.update((key, value) for key, value in (
            ("completion", self.completion), ("stop", list(self.stop)), ("entry_point", self.entry_point),
            ("code", self.code), ("timeout", self.timeout)) if value)
        canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]

    @property
    def kind(self) -> str:
        """``"qa"`` if the item has answers, ``"code"`` if it has tests, else ``"open"``."""
        return "qa" if self.answers else "code" if self.tests else "open"

    def messages(self) -> list[dict]:
        """The chat messages for ``Sampler.chat``: the system message, if any, then the prompt.

        >>> [m["role"] for m in Item("a", "Write a poem.", system="Be brief.").messages()]
        ['system', 'user']
        """
        system = DEFAULT_SYSTEM[self.kind] if self.system is None else self.system
        messages = [{"role": "system", "content": system}] if system else []
        return messages + [{"role": "user", "content": self.prompt}]

    def score(self, reply: str, *, isolated: bool = True) -> dict:
        """``{"correct": 1.0 | 0.0}`` for qa; for code ``{"passed": 1.0 | 0.0, "error": str |
        None, "parses": 1.0 | 0.0}``: the reply's ``program`` run against the tests in the sandbox
        (``isolated=False``: without the kernel's isolation), and whether it is valid Python at
        all (a measure of coherence that stays informative where few replies pass); ``{}`` for
        open items.

        >>> Item("c", "Write `double(x)`.", tests=("assert double(3) == 6",)).score(
        ...     "```python\\ndef double(x):\\n    return 2 * x\\n```")
        {'passed': 1.0, 'error': None, 'parses': 1.0}
        """
        if self.kind == "qa":
            return {"correct": float(check_answer(reply, self.answers))}
        if self.kind == "code":
            program = self.program(reply)
            result = run_tests(program, list(self.tests), self.timeout or TIMEOUT, isolated=isolated)
            return {"passed": float(result.passed), "error": result.error, "parses": float(parses(program))}
        return {}

    def program(self, reply: str) -> str:
        """The code of a code item's reply, as it is tested: the prompt and the reply for a
        completion item (as HumanEval's harness joins them); else the reply's first code block,
        after the prompt (or ``code``) when the block holds only the body of the ``entry_point``
        function, after their imports when it holds the whole function.

        >>> item = Item("h", "import math\\ndef f(x):\\n    # Double x.\\n", tests=("assert f(2) == 4",),
        ...             entry_point="f")
        >>> print(item.program("```python\\n    return 2 * x\\n```"), end="")
        import math
        def f(x):
            # Double x.
            return 2 * x
        >>> print(item.program("```python\\ndef f(x):\\n    return x + x\\n```"), end="")
        import math
        def f(x):
            return x + x
        """
        if self.completion:
            return self.prompt + reply
        code = extract_code(reply)
        if self.entry_point is None:
            return code
        start = self.prompt if self.code is None else self.code
        if re.search(rf"^def {re.escape(self.entry_point)}\s*\(", code, re.M):
            imports = [line for line in start.splitlines() if re.match(r"(import|from)\s", line)]
            return "".join(line + "\n" for line in imports) + code
        return start + code


@dataclass(frozen=True)
class Suite:
    """A named, ordered collection of items: ``len(suite)``, ``suite[i]``, ``for item in suite``.

    >>> suite = load_suite("qa")
    >>> suite.name, len(suite) >= 150, suite[0].kind
    ('qa', True, 'qa')
    """

    name: str
    items: tuple[Item, ...]
    source: str

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    def __getitem__(self, index: int) -> Item:
        return self.items[index]


def parses(code: str) -> bool:
    """Whether ``code`` is valid Python.

    >>> parses("def f():\\n    return 1\\n"), parses("def f(:")
    (True, False)
    """
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):  # ValueError: a null byte
        return False
    return True


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
    dyntemp.eval.suites.SuiteError: unknown suite 'qaa'. Did you mean 'qa'? Built-in suites: code, creative, humaneval, ...
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
        if not _words(answer):
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


# Number words read as digits, so "four", "4" and "Four." all match an answer of 4 or "four".
_UNITS = {word: value for value, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
_TENS = {word: 10 * value for value, word in enumerate(
    "twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_ARTICLES = {"the", "a", "an"}


def _words(text: str) -> tuple[str, ...]:
    """``text`` as normalised words: lowercase, accents and punctuation dropped, number words as
    digits, thousands separators removed, decimals kept whole."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    return _digits(re.findall(r"\d+(?:\.\d+)+|[^\W_]+", text))


def _digits(words: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    i = 0
    while i < len(words):
        value, end = _below_million(words, i)
        if value is None:
            out.append(words[i])
            i += 1
        else:
            out.append(str(value))
            i = end
    return tuple(out)


def _below_hundred(words: list[str], i: int) -> tuple[int | None, int]:
    word = words[i] if i < len(words) else ""
    if word in _TENS:
        unit = words[i + 1] if i + 1 < len(words) else ""
        if 1 <= _UNITS.get(unit, 0) <= 9:
            return _TENS[word] + _UNITS[unit], i + 2
        return _TENS[word], i + 1
    if word in _UNITS:
        return _UNITS[word], i + 1
    return None, i


def _below_thousand(words: list[str], i: int) -> tuple[int | None, int]:
    value, end = _below_hundred(words, i)
    if value is not None and 1 <= value <= 9 and end < len(words) and words[end] == "hundred":
        value, end = value * 100, end + 1
        rest, after = _below_hundred(words, end + (end < len(words) and words[end] == "and"))
        if rest is not None:
            value, end = value + rest, after
    return value, end


def _below_million(words: list[str], i: int) -> tuple[int | None, int]:
    value, end = _below_thousand(words, i)
    if value is not None and value >= 1 and end < len(words) and words[end] == "thousand":
        value, end = value * 1000, end + 1
        rest, after = _below_thousand(words, end + (end < len(words) and words[end] == "and"))
        if rest is not None:
            value, end = value + rest, after
    return value, end


def check_answer(reply: str, answers: str | Iterable[str]) -> bool:
    """Whether the answer ``reply`` commits to is one of ``answers``.

    The committed answer is the reply's first clause: up to the first sentence end, semicolon or
    line break (initials such as "J. K." and decimals do not end a sentence). It must name an
    accepted answer as a whole word or phrase, not after a negation ("not", "no", "never", "n't"
    ...), and without hedging between candidates ("or", "either", "maybe", "perhaps", "possibly"):
    "Not Canberra.", "Sydney, Canberra or Perth" and "Spiders have 6 legs; 8 eyes" (for 8) are wrong.

    Both sides are normalised the same way: lowercase, accents dropped, punctuation read as a
    space, number words read as digits up to the thousands (``"twenty-one"`` is ``"21"``, ``"one
    hundred and five"`` is ``"105"``), thousands separators dropped (``"1,000"`` is ``"1000"``) and
    decimals kept whole, so ``"14"`` and ``"4.5"`` do not contain ``"4"``. A leading "the", "a" or
    "an" of a multi-word answer is optional.

    >>> check_answer("The capital is Paris.", ["Paris"]), check_answer("Parisian food", "Paris")
    (True, False)
    >>> check_answer("It has four legs", ["4"]), check_answer("14", ["4", "four"])
    (True, False)
    >>> check_answer("Not Canberra.", "Canberra"), check_answer("Canberra. Not Sydney.", "Canberra")
    (False, True)
    """
    answers = [answers] if isinstance(answers, str) else list(answers)
    if not answers or not all(isinstance(a, str) for a in answers):
        raise ValueError(f"answers must be a string or a non-empty list of strings, got {answers!r}")
    needles = []
    for answer in answers:
        words = _words(answer)
        if not words:
            raise ValueError(f"answer {answer!r} has no letters or digits to match")
        needles.append(words[1:] if len(words) > 1 and words[0] in _ARTICLES else words)
    clause = _words(_first_clause(reply))
    for needle in needles:
        for start in _occurrences(clause, needle):
            before, rest = clause[:start], clause[:start] + clause[start + len(needle):]
            if not _NEGATIONS & set(before) and not _HEDGES & set(rest):
                return True
    return False


# Words that deny what follows them ("isn't" reads as "isn", "t"), and words that spread a reply
# over several candidates.
_NEGATIONS = frozenset({"not", "no", "never", "neither", "nor", "t", "nothing", "none"})
_HEDGES = frozenset({"or", "either", "maybe", "perhaps", "possibly"})
# The end of the first clause: a line break, a semicolon, or a sentence end after a word of two or
# more letters (not an initial) or a digit not followed by more digits.
_CLAUSE_END = re.compile(r"\n|;|(?<=[^\W\d_]{2})[.!?](?=\s|$)|(?<=\d)[.!?](?!\d)|(?<=[)\"'])[.!?](?=\s|$)")


def _first_clause(reply: str) -> str:
    text = reply.strip()
    end = _CLAUSE_END.search(text)
    return text[:end.start()] if end else text


def _occurrences(words: tuple[str, ...], needle: tuple[str, ...]) -> Iterator[int]:
    for i in range(len(words) - len(needle) + 1):
        if words[i:i + len(needle)] == needle:
            yield i
