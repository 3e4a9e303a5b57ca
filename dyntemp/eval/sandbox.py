"""Run a code reply against its tests in a separate, limited Python process.

The process is the same interpreter in isolated mode, without bytecode writes (``python -I -B``:
no user site, no ``PYTHON*`` variables, no ``.pyc`` files the hook would refuse), started in a fresh
temporary directory that is removed afterwards, with stdin closed, a minimal environment and its
output captured to a capped file. Before the reply runs it lowers its own limits (CPU seconds,
1 GB of address space, 16 MB per written file, no core files) and installs an audit hook that
refuses, with ``PermissionError``:

- opening a file for writing, and removing, renaming, linking, changing or copying onto a path,
  outside the temporary directory (reading anywhere is allowed);
- any socket (creation, connection, name lookup);
- starting or signalling a process (``subprocess``, ``os.system``, ``os.exec*``, ``os.fork``...).

A refusal fails the run even if the reply catches the exception. The wall-clock timeout kills the
process. This guards against the accidents of generated code (a stray file, a download, an endless
loop), not against code written to escape: the hook lives inside the process it polices.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Sequence

from .. import _validate

MEMORY_BYTES = 1 << 30
FILE_BYTES = 16 << 20
OUTPUT_CHARS = 4000

# Runs in the child. The limits are set here rather than in a ``preexec_fn``: the parent may hold
# threads (llama.cpp's), and ``preexec_fn`` is unsafe in a threaded process.
_RUNNER = r'''
import json, os, resource, sys, traceback

job_path, result_fd = sys.argv[1], int(sys.argv[2])
with open(job_path, encoding="utf-8") as file:
    job = json.load(file)
for name, value in (("RLIMIT_CPU", job["cpu"]), ("RLIMIT_AS", job["memory"]),
                    ("RLIMIT_FSIZE", job["fsize"]), ("RLIMIT_CORE", 0)):
    resource.setrlimit(getattr(resource, name), (value, value))

sandbox = os.path.realpath(os.getcwd())
refusals = []
WRITE = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
PATH_EVENTS = {
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1), "os.link": (0, 1),
    "os.symlink": (1,), "os.chmod": (0,), "os.chown": (0,), "os.truncate": (0,), "os.utime": (0,),
    "os.setxattr": (0,), "os.removexattr": (0,), "shutil.rmtree": (0,), "shutil.move": (0, 1),
    "shutil.copyfile": (1,), "shutil.copymode": (1,), "shutil.copystat": (1,), "shutil.copytree": (1,),
    "shutil.chown": (0,), "shutil.unpack_archive": (1,), "sqlite3.connect": (0,),
}
PROCESS_EVENTS = {"subprocess.Popen", "os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork",
                  "os.forkpty", "os.kill", "os.killpg", "pty.spawn"}


def refuse(what):
    refusals.append("refused: " + what)
    raise PermissionError("refused: " + what)


def check_path(path):
    # File descriptors were checked when they were opened.
    if path is None or isinstance(path, int):
        return
    path = os.path.realpath(os.fsdecode(path))
    if path != sandbox and not path.startswith(sandbox + os.sep):
        refuse("write outside the sandbox: " + path)


def hook(event, args):
    if event == "open":
        path, mode, flags = args
        if (isinstance(flags, int) and flags & WRITE) or (isinstance(mode, str) and set(mode) & set("wax+")):
            check_path(path)
    elif event in PATH_EVENTS:
        for index in PATH_EVENTS[event]:
            check_path(args[index])
    elif event.startswith("socket."):
        refuse("network access (" + event + ")")
    elif event in PROCESS_EVENTS:
        refuse("starting or signalling a process (" + event + ")")


def describe(error):
    line = traceback.format_exception_only(type(error), error)[-1].strip()
    if isinstance(error, SyntaxError) and error.lineno:
        line += " (line %d)" % error.lineno
    return line


def outcome():
    # Not "__main__": a reply's main block (a demo, an input() prompt) is not what is tested.
    namespace = {"__name__": "solution", "__builtins__": __builtins__}
    try:
        exec(compile(job["code"], "<reply>", "exec"), namespace)
    except BaseException as error:
        return "the code raised " + describe(error)
    for number, test in enumerate(job["tests"], start=1):
        try:
            exec(compile(test, "<test %d>" % number, "exec"), namespace)
        except AssertionError as error:
            detail = " (%s)" % error if str(error) else ""
            return "test %d failed: %s%s" % (number, test.strip(), detail)
        except BaseException as error:
            return "test %d raised %s: %s" % (number, describe(error), test.strip())
    return None


sys.addaudithook(hook)
error = outcome()
# A refusal the reply caught still fails the run.
if refusals:
    error = refusals[0]
for stream in (sys.stdout, sys.stderr):
    try:
        stream.flush()
    except OSError:
        pass  # past the file-size limit: the output is capped already
os.write(result_fd, json.dumps({"passed": error is None, "error": error and error[:1000]}).encode())
# Skip waiting for threads the reply may have left running.
os._exit(0)
'''


@dataclass(frozen=True)
class SandboxResult:
    """Whether the tests passed; if not, ``error`` says why in one line. ``output`` is what the
    process printed (stdout and stderr, truncated).

    >>> SandboxResult(passed=False, error="test 1 failed: assert f() == 1")
    SandboxResult(passed=False, error='test 1 failed: assert f() == 1', output='')
    """

    passed: bool
    error: str | None
    output: str = ""


_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:^[ \t]*```[ \t]*$|\Z)", re.M | re.S)


def extract_code(reply: str) -> str:
    """The code of a reply: its first ```python (or ```py) fenced block, else its first untagged
    fenced block, else the whole reply. A block cut off before its closing fence counts.

    Only the first block: it is the answer, and the blocks after it are usage examples (often
    calling names that do not exist, or cut off mid-line) or alternatives, which would otherwise
    fail or replace a correct function.

    >>> extract_code("Here:\\n```python\\ndef f():\\n    return 1\\n```\\nUse:\\n```python\\nf(2)\\n```")
    'def f():\\n    return 1\\n'
    >>> extract_code("def f(): return 1")
    'def f(): return 1'
    """
    blocks = _FENCE.findall(reply)
    python = [code for language, code in blocks if language.lower() in ("python", "py", "python3")]
    untagged = [code for language, code in blocks if not language]
    return (python or untagged or [reply])[0]


def run_tests(code: str, tests: Sequence[str], timeout: float = 5.0) -> SandboxResult:
    """Run ``code``, then each test statement, in a sandboxed subprocess (see the module doc).

    The error names the first failure: ``"test 2 failed: assert add(1, 2) == 3"``, ``"the code
    raised SyntaxError: ..."``, ``"refused: write outside the sandbox: /path"`` or ``"timed out
    after 5.0 s"``.

    >>> run_tests("def add(a, b):\\n    return a + b", ["assert add(2, 3) == 5"])
    SandboxResult(passed=True, error=None, output='')
    >>> run_tests("def add(a, b):\\n    return a - b", ["assert add(2, 3) == 5"]).error
    'test 1 failed: assert add(2, 3) == 5'
    """
    if not isinstance(code, str):
        raise ValueError(f"code must be a string, got {type(code).__name__}")
    if (isinstance(tests, str) or not isinstance(tests, Sequence) or not tests
            or not all(isinstance(test, str) and test.strip() for test in tests)):
        raise ValueError(f"tests must be a non-empty list of non-empty strings, got {tests!r}")
    try:
        timeout = _validate.number("timeout", timeout, low=0, low_open=True)
    except TypeError as error:
        raise ValueError(str(error)) from None

    with tempfile.TemporaryDirectory(prefix="dyntemp-sandbox-", ignore_cleanup_errors=True) as root:
        work = os.path.join(root, "work")
        os.mkdir(work)
        job_path = os.path.join(root, "job.json")
        with open(job_path, "w", encoding="utf-8") as file:
            json.dump({"code": code, "tests": list(tests), "cpu": int(timeout) + 2, "memory": MEMORY_BYTES,
                       "fsize": FILE_BYTES}, file)
        with open(os.path.join(root, "output"), "w+b") as output:
            read_end, write_end = os.pipe()
            with os.fdopen(read_end, "rb") as results:
                try:
                    returncode = subprocess.run(
                        [sys.executable, "-I", "-B", "-c", _RUNNER, job_path, str(write_end)],
                        cwd=work, env=_environment(work), stdin=subprocess.DEVNULL, stdout=output,
                        stderr=subprocess.STDOUT, pass_fds=(write_end,), timeout=timeout,
                        start_new_session=True).returncode
                except subprocess.TimeoutExpired:
                    returncode = None
                finally:
                    os.close(write_end)
                report = results.read()
            output.seek(0)
            printed = output.read(OUTPUT_CHARS + 1).decode("utf-8", errors="replace")
    if len(printed) > OUTPUT_CHARS:
        printed = printed[:OUTPUT_CHARS] + "\n[output truncated]"
    if report:
        result = json.loads(report)
        return SandboxResult(result["passed"], result["error"], printed)
    if returncode is None:
        return SandboxResult(False, f"timed out after {timeout} s", printed)
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return SandboxResult(False, f"killed by {name}", printed)
    return SandboxResult(False, f"exited with status {returncode} before the tests finished", printed)


def _environment(work: str) -> dict[str, str]:
    # Nothing of the caller's environment leaks in; temporary files land in the sandbox; one
    # BLAS thread keeps numpy's reserved memory within the address-space limit on many-core hosts.
    return {"PATH": os.defpath, "HOME": work, "TMPDIR": work, "LC_ALL": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
