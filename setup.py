"""dyntemp's compiled sampling kernel (``dyntemp/core/_kernel.c``), built portable: on x86-64 Linux its
hot functions carry AVX-512, AVX2 and baseline versions, picked at load time by the CPU.
``scripts/kernel_build.py`` (run by ``scripts/setup.sh``) rebuilds it for this host's SIMD. The
build is optional: without a C compiler dyntemp installs and samples on numpy (one warning says so).
Everything else about the package is in pyproject.toml."""

import sys

from setuptools import Extension, setup

# No -ffast-math: the kernel relies on -inf and NaN behaving as IEEE says.
FLAGS = [] if sys.platform == "win32" else ["-O3", "-fno-math-errno", "-fno-trapping-math"]

setup(ext_modules=[Extension("dyntemp.core._kernel", ["dyntemp/core/_kernel.c"],
                             depends=["dyntemp/core/_kernel_pass.h", "dyntemp/core/_kernel_candidates.h"],
                             extra_compile_args=FLAGS, optional=True)])
