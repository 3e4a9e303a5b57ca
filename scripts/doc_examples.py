"""A griffe extension for the API reference (mkdocs.yml loads it): docstrings here are reST-flavoured
prose with doctest examples, which Markdown would read as nested quotes and reference links. Each
run of doctest lines (``>>>``, ``...`` and the output after them) and each ``.. code-block:: LANG``
block becomes a fenced code block; the rest is left as written."""

from __future__ import annotations

import re

import griffe

_DIRECTIVE = re.compile(r"^(\s*)\.\. code-block:: *(\w*)\s*$")


def fenced(text: str) -> str:
    """``text`` with its doctest runs and code-block directives fenced.

    >>> fenced("Adds.\\n\\n>>> 1 + 1\\n2\\n\\nDone.").splitlines()
    ['Adds.', '', '```pycon', '>>> 1 + 1', '2', '```', '', 'Done.']
    >>> fenced(".. code-block:: toml\\n\\n    seeds = 3\\n").splitlines()
    ['```toml', 'seeds = 3', '```']
    """
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        directive = _DIRECTIVE.match(line)
        if line.lstrip().startswith(">>>"):
            indent = line[:len(line) - len(line.lstrip())]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].strip())
                i += 1
            out += [indent + "```pycon", *(indent + b for b in block), indent + "```"]
        elif directive:
            indent, language = directive.groups()
            i += 1
            block = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(indent + " ")):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            body = [b for b in block if b.strip()]
            depth = min(len(b) - len(b.lstrip()) for b in body) if body else 0
            while block and not block[0].strip():
                block.pop(0)
            out += [indent + "```" + language, *(indent + b[depth:] for b in block), indent + "```", ""]
        else:
            out.append(line)
            i += 1
    return "\n".join(out)


class DocExamples(griffe.Extension):
    """Fences the doctest examples and code blocks of every docstring the reference renders."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fenced(obj.docstring.value)
