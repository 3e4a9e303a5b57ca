"""Install llama-cpp-python into the running Python's environment, compiled for this host.

    python scripts/llama_build.py [--rebuild]

llama.cpp is compiled with ``-march=native`` (its default), which on an Intel CPU that lists AMX
compiles in AMX kernels. Where the hypervisor does not enable AMX, the first decode dies with
SIGSEGV at ``ldtilecfg``. The build therefore keeps every SIMD feature of the host but AMX
(``-mno-amx-tile -mno-amx-int8 -mno-amx-bf16``). A user's own ``CMAKE_ARGS``, ``CFLAGS`` and
``CXXFLAGS`` (``CMAKE_ARGS=-DGGML_CUDA=on``) are passed through.

pip caches a wheel it compiled under its version alone, so a wheel built with other flags or on
another CPU would be reused silently. This script compiles with pip's cache off and keeps the wheel
in its own cache under a key of everything the build depends on: the llama-cpp-python release, the
flags, the CPU's feature flags, the compiler, the Python. It records the key beside the
environment, so an installed build that does not match this host is replaced, never trusted.
``--rebuild`` drops the cached wheel of this key and compiles again.

Standard library only: it runs before anything else is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = Path(sys.prefix) / "dyntemp-llama-build.json"


def _host_module():
    """dyntemp/host.py, loaded by path: dyntemp is not installed yet when this runs."""
    spec = importlib.util.spec_from_file_location("_dyntemp_host", ROOT / "dyntemp" / "host.py")
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # dataclasses look it up there
    spec.loader.exec_module(module)
    return module


host = _host_module()
PACKAGE = host.LLAMA_PACKAGE
NO_AMX = tuple(host.NO_AMX_FLAGS.split())


def requirement() -> str:
    """llama-cpp-python's version range, as pyproject.toml states it (one place for it)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(rf'"({re.escape(PACKAGE)}[^";]*)"', text)
    if not match:
        sys.exit(f"llama_build: no {PACKAGE} requirement in pyproject.toml")
    return match.group(1)


def _compiler(var: str, default: str) -> str:
    return os.environ.get(var) or default


def _accepts(compiler: str, flags: tuple[str, ...]) -> bool:
    """Whether the compiler takes these flags (an old GCC or a non-x86 one does not know AMX)."""
    try:
        run = subprocess.run([compiler, *flags, "-x", "c", "-E", "-", "-o", os.devnull], input=b"",
                             capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return run.returncode == 0


def build_flags() -> dict[str, str]:
    """CMAKE_ARGS, CFLAGS and CXXFLAGS for the build: the user's, plus AMX off where it exists."""
    flags = {name: os.environ.get(name, "").strip() for name in ("CMAKE_ARGS", "CFLAGS", "CXXFLAGS")}
    if platform.machine().lower() in ("x86_64", "amd64"):
        for var, compiler in (("CFLAGS", _compiler("CC", "cc")), ("CXXFLAGS", _compiler("CXX", "c++"))):
            if _accepts(compiler, NO_AMX):
                flags[var] = " ".join(filter(None, (flags[var], *NO_AMX)))
    return flags


def _version_line(command: str) -> str:
    try:
        out = subprocess.run([command, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "none"
    return out.splitlines()[0] if out else "unknown"


def build_key(flags: dict[str, str]) -> tuple[str, dict]:
    """A short hash of everything the compiled library depends on, and the inputs themselves."""
    inputs = {
        "requirement": requirement(),
        "flags": flags,
        "machine": platform.machine(),
        "cpu_flags": sorted(host.cpu_flags()) or [platform.processor()],
        "cc": _version_line(_compiler("CC", "cc")),
        "cxx": _version_line(_compiler("CXX", "c++")),
        "python": f"{sys.implementation.cache_tag}-{platform.machine()}",
    }
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]
    return digest, inputs


def cache_dir() -> Path:
    base = os.environ.get("DYNTEMP_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dyntemp"
    return Path(base) / "llama-cpp-python"


def installed_matches(key: str) -> bool:
    """The environment's llama-cpp-python was installed by this script for this key."""
    try:
        marker = json.loads(MARKER.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    version = host.version_of(PACKAGE)
    return version is not None and marker.get("key") == key and marker.get("version") == version


def _pip(*args: str, env: dict | None = None) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], check=True, env=env)


def compile_wheel(flags: dict[str, str], target: Path) -> Path:
    """Compile llama-cpp-python from its source release with ``flags``; the wheel lands in ``target``."""
    print(f"llama_build: compiling {requirement()} for this host (a few minutes on two cores; "
          f"CMAKE_ARGS={flags['CMAKE_ARGS']!r} CFLAGS={flags['CFLAGS']!r})", file=sys.stderr, flush=True)
    env = {**os.environ, **flags}
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        # --no-cache-dir: pip's wheel cache would hand back a wheel compiled with other flags.
        _pip("wheel", "--quiet", "--no-cache-dir", "--no-deps", "--no-binary", PACKAGE, "-w", tmp, requirement(),
             env=env)
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            sys.exit(f"llama_build: expected one wheel from the build, got {wheels}")
        if target.exists():
            shutil.rmtree(target)
        Path(tmp, "wheel").mkdir()
        shutil.move(str(wheels[0]), Path(tmp, "wheel"))
        os.replace(Path(tmp, "wheel"), target)  # whole or absent: a killed build leaves no half wheel
    return next(target.glob("*.whl"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rebuild", action="store_true", help="compile again, even if a wheel is cached")
    args = parser.parse_args(argv)
    flags = build_flags()
    key, inputs = build_key(flags)
    if not args.rebuild and installed_matches(key):
        return 0
    target = cache_dir() / key
    wheels = [] if args.rebuild else sorted(target.glob("*.whl"))
    wheel = wheels[-1] if wheels else compile_wheel(flags, target)
    (target / "build.json").write_text(json.dumps(inputs, indent=2), encoding="utf-8")
    # Uninstall first: pip keeps an installed release of the same version, whatever built it.
    if host.version_of(PACKAGE) is not None:
        _pip("uninstall", "--quiet", "--yes", PACKAGE)
    _pip("install", "--quiet", "--no-warn-conflicts", str(wheel))  # the model wheel names a CLI it does not need
    importlib.invalidate_caches()
    MARKER.write_text(json.dumps({"key": key, "version": host.version_of(PACKAGE),
                                  "wheel": str(wheel), **inputs}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
