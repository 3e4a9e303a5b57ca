"""Builds dyntemp's sampling kernel (dyntemp/core/_kernel.c) in place for this host, and checks it runs.

The host build is compiled as llama.cpp is, with ``-march=native`` and AMX off (``-mno-amx-*``, see
``dyntemp.host``). The check (``dyntemp.core.kernel.check``) runs in a child process, so that a
build which dies here (SIGILL) is reported here, not at first use. When the host build fails to
compile or to pass the check, the portable build (``setup.py``'s: AVX-512, AVX2 and baseline
versions picked at load time) is tried; when that fails too, the kernel is removed and dyntemp
samples on numpy, with one warning. A user's CC and CFLAGS are passed on.

    python scripts/kernel_build.py [--portable]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from llama_build import NO_AMX, _accepts, _compiler  # noqa: E402  (the flags llama.cpp is built with)


def host_flags() -> list[str]:
    """-march=native, AMX off where the compiler knows it, and the macro that marks a host build."""
    compiler = _compiler("CC", "cc")
    flags = ["-march=native"] if _accepts(compiler, ("-march=native",)) else []
    if platform.machine().lower() in ("x86_64", "amd64") and _accepts(compiler, NO_AMX):
        flags += NO_AMX
    return [*flags, "-DDYNTEMP_NATIVE"]


def built() -> list[Path]:
    return sorted((ROOT / "dyntemp" / "core").glob("_kernel*.so")) + sorted((ROOT / "dyntemp" / "core").glob("_kernel*.pyd"))


def build(extra: list[str]) -> bool:
    for old in built():
        old.unlink()
    env = dict(os.environ)
    env["CFLAGS"] = " ".join(filter(None, (env.get("CFLAGS", "").strip(), *extra)))
    run = subprocess.run([sys.executable, "setup.py", "--quiet", "build_ext", "--inplace", "--force"], cwd=ROOT,
                         env=env, capture_output=True, text=True)
    if run.returncode != 0 or not built():
        tail = "\n".join((run.stdout + run.stderr).strip().splitlines()[-15:])
        print(f"kernel_build: the build with CFLAGS={env['CFLAGS']!r} failed:\n{tail}", file=sys.stderr)
        return False
    return True


def check() -> bool:
    """The kernel loads and agrees with numpy, in a child process (a crash is reported, not suffered)."""
    code = "from dyntemp.core import kernel; kernel.check(); print('sampling kernel:', kernel.path())"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "DYNTEMP_KERNEL": "1"})
    if run.returncode == 0:
        print(f"kernel_build: {run.stdout.strip()}")
        return True
    how = f"signal {-run.returncode}" if run.returncode < 0 else f"exit status {run.returncode}"
    print(f"kernel_build: the kernel failed its check ({how}): {(run.stdout + run.stderr).strip()[-600:]}",
          file=sys.stderr)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portable", action="store_true", help="build the portable kernel only")
    args = parser.parse_args(argv)
    attempts = ([] if args.portable else [("host", host_flags())]) + [("portable", [])]
    for name, flags in attempts:
        if build(flags) and check():
            return 0
        print(f"kernel_build: the {name} build is not used", file=sys.stderr)
    for old in built():
        old.unlink()
    print("kernel_build: no kernel runs here; dyntemp samples on numpy (slower)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
