#!/usr/bin/env bash
# AdapT (Zhu et al., arXiv 2309.02772) against a constant temperature, each tuned on the same budget
# on HumanEval: `dyntemp tune` gives AdapT's rule (adapt-lines: high/low) and a constant the same
# number of TPE trials on the tuning problems, then runs each best on the held-out problems (5
# samples: pass@1, pass@5, parses), compared paired by problem. A short run on Gemma 3 270M, whose
# tokenizer writes indentation as tokens of its own, checks the rule token by token there too.
# Usage: experiments/adapt/run.sh [OUT] (default runs/experiments/adapt); rerunning resumes.
# MODEL (default smollm2-135m), PROBLEMS, TRIALS and OBJECTIVE size it.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/experiments/adapt}
export PYTHONPATH=experiments/adapt${PYTHONPATH:+:$PYTHONPATH}
.venv/bin/dyntemp tune --import code_lines --suite humaneval --limit "${PROBLEMS:-40}" --held-out 0.5 \
    --strategy adapt-lines --trials "${TRIALS:-6}" --objective "${OBJECTIVE:-parses}" --seeds 5 \
    --max-tokens 128 --model "${MODEL:-smollm2-135m}" --batch-size 8 --out "$out/tune"
.venv/bin/dyntemp eval --import code_lines --suite humaneval --limit 10 --seeds 2 --max-tokens 128 \
    --strategy adapt-lines:high=0.8:low=0.6 --model gemma3-270m --batch-size 8 --no-progress \
    --out "$out/gemma-rule" > /dev/null
.venv/bin/python experiments/adapt/analyze.py "$out" experiments/adapt
