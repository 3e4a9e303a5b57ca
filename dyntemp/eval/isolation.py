"""Kernel isolation for generated code, with bubblewrap (``bwrap``, Debian's ``bubblewrap``).

Each run gets its own mount, PID, network, IPC and UTS namespaces: a root file system of read-only
binds (the system's ``/usr``, the Python interpreter's prefix and its virtual environment, nothing
else of the host), a fresh ``/proc`` that shows only the run's own processes, a minimal ``/dev``, an
empty ``/tmp``, and one writable folder, the run's own. It has no network but a loopback of its own,
only the environment it is given and no capabilities; when the eval runs as root, the code runs as
``nobody``, under a limit on its processes. The sandbox's first process dies with the eval, and the kernel kills every process in a
PID namespace when its first one ends: nothing outlives the run. A seccomp filter (libseccomp,
through ``pyseccomp``) refuses the system calls that reach past those walls: new namespaces,
mounts, tracing other processes, kernel keys, BPF, modules and the like.

``DYNTEMP_BWRAP`` names another ``bwrap`` (empty: none, as if it were not installed).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile

ENV_BWRAP = "DYNTEMP_BWRAP"
#: Where the run's folder, its job and the interpreter appear inside the sandbox.
WORK = "/sandbox"
JOB = "/job.json"
NOBODY = 65534


class IsolationUnavailable(RuntimeError):
    """Generated code cannot be isolated on this host; the message says why and what to do."""


def bwrap_path() -> str | None:
    """The ``bwrap`` to use: ``$DYNTEMP_BWRAP``, else the one on ``PATH`` (``None``: none)."""
    if ENV_BWRAP in os.environ:
        return os.environ[ENV_BWRAP] or None
    return shutil.which("bwrap")


def interpreter() -> str:
    """This Python (a virtual environment's, with its packages)."""
    return sys.executable


def command(work: str, job: str, argv: list[str], info_fd: int | None = None,
            seccomp_fd: int | None = None) -> list[str]:
    """The ``bwrap`` command line that runs ``argv`` isolated, with ``work`` as its writable folder
    (at ``WORK``) and ``job`` readable at ``JOB``; it sees the environment ``bwrap`` is given, no more.
    ``info_fd``: where bwrap writes, as JSON, the ``child-pid`` of the sandbox's first process;
    ``seccomp_fd``: where bwrap reads the compiled seccomp program (``seccomp_program``)."""
    bwrap = bwrap_path()
    if bwrap is None:
        raise IsolationUnavailable(_MISSING)
    args = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--hostname", "sandbox", "--cap-drop", "ALL"]
    if info_fd is not None:
        args += ["--info-fd", str(info_fd)]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    if os.geteuid() == 0:
        # The runner drops to nobody itself once its limits are set: a user with no other processes,
        # so that the kernel's limit on processes counts only the sandboxes'.
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-user"]
    for path in _system_paths():
        args += (["--symlink", os.readlink(path), path] if os.path.islink(path) else ["--ro-bind", path, path])
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    prefixes = _prefixes()
    # The folders above them, made by bwrap, are root's alone unless opened: nobody must pass through.
    for parent in sorted({a for p in prefixes for a in _ancestors(p)} - {"/", "/tmp"}):
        args += ["--perms", "0755", "--dir", parent]
    for prefix in prefixes:  # after /tmp, which may hold them
        args += ["--ro-bind", prefix, prefix]
    args += ["--bind", work, WORK, "--ro-bind", job, JOB, "--chdir", WORK]
    return args + ["--", *argv]


def _system_paths() -> list[str]:
    # /usr holds the C library and what the interpreter links to; /bin, /lib... are links into it on
    # merged-/usr systems, real folders elsewhere.
    return [path for path in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
            if os.path.lexists(path)]


def _ancestors(path: str) -> list[str]:
    """``/a/b/c`` → ``["/a", "/a/b"]``."""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _prefixes() -> list[str]:
    """The interpreter's folder with its standard library and the virtual environment's (its
    packages: a reply may import numpy), as named and as their real paths."""
    return sorted({path for prefix in (sys.base_prefix, sys.prefix) for path in (prefix, os.path.realpath(prefix))})


# System calls that code under test has no use for and that reach past the sandbox's walls.
_REFUSED_CALLS = ("ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root", "chroot",
                  "unshare", "setns", "clone3", "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key",
                  "request_key", "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
                  "open_by_handle_at", "name_to_handle_at", "reboot", "swapon", "swapoff", "acct", "iopl", "ioperm",
                  "syslog", "quotactl", "mount_setattr", "move_mount", "open_tree", "fsopen", "fsmount", "fspick")


# Namespace flags of clone(2): a new namespace from inside is refused like unshare(2).
_CLONE_NEW = (0x10000000, 0x00020000, 0x20000000, 0x40000000, 0x04000000, 0x08000000, 0x02000000, 0x00000080)


@functools.lru_cache(maxsize=1)
def seccomp_program() -> bytes:
    """The compiled seccomp program: ``_REFUSED_CALLS`` fail with EPERM, and so does ``clone`` with a
    namespace flag; ``clone3`` fails with ENOSYS, so that the C library falls back to ``clone``."""
    import errno

    import pyseccomp as seccomp

    program = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for call in _REFUSED_CALLS:
        program.add_rule(seccomp.ERRNO(errno.ENOSYS if call == "clone3" else errno.EPERM), call)
    for flag in _CLONE_NEW:
        program.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    with tempfile.TemporaryFile() as file:
        program.export_bpf(file)
        file.seek(0)
        return file.read()


def check() -> None:
    """Raise ``IsolationUnavailable`` unless an isolated run works on this host (tried once per
    ``bwrap``)."""
    problem = _problem(bwrap_path())
    if problem:
        raise IsolationUnavailable(problem)


@functools.lru_cache(maxsize=4)
def _problem(bwrap: str | None) -> str | None:
    if bwrap is None:
        return _MISSING
    try:
        done = subprocess.run(command(os.path.realpath(os.getcwd()), os.devnull,
                                      [interpreter(), "-I", "-S", "-c", "pass"]),
                              env={"PATH": os.defpath}, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap ({bwrap}) does not run here: {exc}"
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"status {done.returncode}"]
        return (f"bubblewrap ({bwrap}) cannot isolate a process on this host: {reason[0]} (it needs user "
                f"namespaces, or root)")
    return None


_MISSING = ("bubblewrap (bwrap) is not installed, and generated code is only run isolated: install it "
            "(bash scripts/setup.sh does, or apt-get install bubblewrap), or pass --unisolated-code to run it "
            "without isolation, knowing it can touch this machine")
