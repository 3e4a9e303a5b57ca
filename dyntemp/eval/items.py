"""A suite's items and the suite itself: what an item holds, how a reply to it is scored (an answer
matched, tests run in the sandbox, ``parses``), and its identity across edits (``content_hash``).
Suites are loaded by ``dyntemp.eval.suites``."""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Iterator

from .answers import check_answer
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

    >>> from dyntemp.eval.suites import load_suite
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
