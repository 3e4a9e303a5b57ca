"""Run a code reply against its tests in a separate, limited Python process, isolated by the kernel.

The process runs in a bubblewrap sandbox (see ``dyntemp.eval.isolation``): read-only system files,
its own PID, network and IPC namespaces, one writable folder of its own, removed afterwards, an
empty environment, no capabilities; as ``nobody`` when the eval runs as root. It is the same
interpreter in isolated mode, without bytecode writes (``python -I -B``), with stdin closed and its
output captured to a capped file. Before the reply runs it lowers its own limits (CPU seconds, 1 GB
of address space, 16 MB per written file, no core files, a few processes) and installs an audit hook
that names, with ``PermissionError``, what a test of generated code has no business doing: writing
outside its folder, opening sockets, starting or signalling processes. The hook only explains a
failure; the kernel enforces it, and everything the reply started is killed at the time limit.

What the reply reports about its own tests is taken as it comes: code written to forge a pass from
inside its interpreter can do so (as with HumanEval's and EvalPlus' harnesses); what is protected is
the machine, the eval and its files. ``isolated=False`` (the CLI's ``--unisolated-code``) runs the
same process without the sandbox, where bubblewrap cannot run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from typing import Sequence

from .. import _validate
from . import isolation

MEMORY_BYTES = 1 << 30
FILE_BYTES = 16 << 20
OUTPUT_CHARS = 4000
# Processes (threads count) the code may have: enough for a thread pool, too few to swamp the host.
PROCESSES = 16
# What is read of the result channel, which the reply can also write to.
_REPORT_BYTES = 1 << 16

# Runs in the child. The limits are set here rather than in a ``preexec_fn``: the parent may hold
# threads (llama.cpp's), and ``preexec_fn`` is unsafe in a threaded process.
_RUNNER = r'''
import json, os, resource, sys, traceback

job_path, result_fd = sys.argv[1], int(sys.argv[2])
with open(job_path, encoding="utf-8") as file:
    job = json.load(file)
for name, value in (("RLIMIT_CPU", job["cpu"]), ("RLIMIT_AS", job["memory"]),
                    ("RLIMIT_FSIZE", job["fsize"]), ("RLIMIT_CORE", 0), ("RLIMIT_NPROC", job["processes"])):
    resource.setrlimit(getattr(resource, name), (value, value))
if os.getuid() == 0 and job["isolated"]:
    # Root in the sandbox (the eval runs as root) becomes nobody: no capabilities left, and the
    # limit on processes counts against a user that has no others.
    os.setgroups([])
    os.setgid(job["nobody"])
    os.setuid(job["nobody"])

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


#: Seconds the tests of a reply may run, unless an item says otherwise.
TIMEOUT = 5.0


def run_tests(code: str, tests: Sequence[str], timeout: float = TIMEOUT, *, isolated: bool = True) -> SandboxResult:
    """Run ``code``, then each test statement, in a sandboxed subprocess (see the module doc);
    ``isolated=False`` without the kernel's sandbox. Raises ``IsolationUnavailable`` when isolation
    is asked for and this host cannot give it.

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

    if isolated:
        isolation.check()
    with tempfile.TemporaryDirectory(prefix="dyntemp-sandbox-", ignore_cleanup_errors=True) as root:
        work = os.path.join(root, "work")
        os.mkdir(work)
        job_path = os.path.join(root, "job.json")
        with open(job_path, "w", encoding="utf-8") as file:
            json.dump({"code": code, "tests": list(tests), "cpu": int(timeout) + 2, "memory": MEMORY_BYTES,
                       "fsize": FILE_BYTES, "processes": PROCESSES, "isolated": isolated,
                       "nobody": isolation.NOBODY}, file)
        os.chmod(job_path, 0o644)
        if isolated and os.geteuid() == 0:
            os.chown(work, isolation.NOBODY, isolation.NOBODY)
        with open(os.path.join(root, "output"), "w+b") as output:
            returncode, report = _run(work, job_path, output, timeout, isolated)
            output.seek(0)
            printed = output.read(OUTPUT_CHARS + 1).decode("utf-8", errors="replace")
    if len(printed) > OUTPUT_CHARS:
        printed = printed[:OUTPUT_CHARS] + "\n[output truncated]"
    if returncode is None:
        return SandboxResult(False, f"timed out after {timeout} s", printed)
    if report:
        return _reported(report, printed)
    if isolated and 128 < returncode <= 128 + 64:
        returncode = 128 - returncode  # bwrap reports its child's death by signal N as status 128 + N
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return SandboxResult(False, f"killed by {name}", printed)
    return SandboxResult(False, f"exited with status {returncode} before the tests finished", printed)


def _run(work: str, job_path: str, output, timeout: float, isolated: bool) -> tuple[int | None, bytes]:
    """Run the runner; ``(its status or None at the timeout, what it wrote to the result channel)``."""
    report_read, report_write = os.pipe()
    info_read, info_write = os.pipe() if isolated else (None, None)
    runner = [isolation.interpreter(), "-I", "-B", "-c", _RUNNER]
    if isolated:
        program = _filled_pipe(isolation.seccomp_program())
        argv = isolation.command(work, job_path, runner + [isolation.JOB, str(report_write)], info_fd=info_write,
                                 seccomp_fd=program)
        cwd, env, fds = None, _environment(isolation.WORK), (report_write, info_write, program)
    else:
        argv, cwd, env, fds = runner + [job_path, str(report_write)], work, _environment(work), (report_write,)
    try:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, pass_fds=fds, start_new_session=True)
    finally:
        for fd in fds:
            os.close(fd)
    # Read as it comes, so that a reply filling the channel cannot block on it; keep the start.
    report = bytearray()
    reader = threading.Thread(target=_drain, args=(report_read, report), daemon=True)
    reader.start()
    try:
        returncode = process.wait(timeout)
    except subprocess.TimeoutExpired:
        returncode = None
    finally:
        _end(process, info_read)
    reader.join(1.0)  # unisolated, a process that left the session may hold the channel: not waited for
    return returncode, bytes(report[:_REPORT_BYTES])


def _filled_pipe(data: bytes) -> int:
    """The read end of a pipe holding ``data`` (a few hundred bytes: within the pipe's buffer)."""
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as pipe:
        pipe.write(data)
    return read_end


def _drain(fd: int, into: bytearray) -> None:
    with os.fdopen(fd, "rb", buffering=0) as channel:
        while chunk := channel.read(1 << 16):
            if len(into) < _REPORT_BYTES:
                into += chunk


def _end(process: subprocess.Popen, info_fd: int | None) -> None:
    """Kill whatever is left of the run. Isolated: the sandbox's first process, whose end the kernel
    makes wait for every other process of its PID namespace to die, so none outlives this call.
    Unisolated: the runner's session."""
    if info_fd is not None:
        os.set_blocking(info_fd, False)  # written once, at the start; never waited for
        with os.fdopen(info_fd, "rb") as info:
            try:
                child = json.loads(info.read() or b"{}").get("child-pid")
            except (BlockingIOError, ValueError, AttributeError):
                child = None
        if isinstance(child, int) and child > 1 and _parent_of(child) == process.pid:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _parent_of(pid: int) -> int | None:
    """``pid``'s parent, from ``/proc`` (``None`` when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _reported(report: bytes, printed: str) -> SandboxResult:
    """The runner's report; anything else on the channel (the reply can write there too) is a failure."""
    try:
        result = json.loads(report)
        if (isinstance(result, dict) and isinstance(result.get("passed"), bool)
                and (result.get("error") is None or isinstance(result["error"], str))):
            return SandboxResult(result["passed"], result["error"], printed)
    except (ValueError, UnicodeDecodeError):
        pass
    return SandboxResult(False, f"the run's report was not the runner's: {report[:80]!r}", printed)


def _environment(work: str) -> dict[str, str]:
    # Nothing of the caller's environment leaks in; temporary files land in the sandbox; one
    # BLAS thread keeps numpy's reserved memory within the address-space limit on many-core hosts.
    return {"PATH": os.defpath, "HOME": work, "TMPDIR": work, "LC_ALL": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
