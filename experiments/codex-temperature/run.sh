#!/usr/bin/env bash
# Codex (Chen et al. 2021, arXiv 2107.03374, figure 5): the best sampling temperature rises with k.
# pass@1, pass@5 and pass@10 on HumanEval (completion form) at T = 0.2 ... 1.2, 10 samples a problem,
# nucleus top-p 0.95 as the paper; then the figure, the table and a paired bootstrap test of the shift.
# Usage: experiments/codex-temperature/run.sh [OUT] (default runs/experiments/codex-temperature);
# rerunning resumes. MODEL (default smollm2-135m) and PROBLEMS (default 40) size it.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/experiments/codex-temperature}
model=${MODEL:-smollm2-135m}
.venv/bin/dyntemp eval --suite humaneval --limit "${PROBLEMS:-40}" --seeds 10 --model "$model" \
    --strategy "constant:temperature=0.2,0.4,0.6,0.8,1.0,1.2" --top-k 0 --top-p 0.95 --min-p 0.0 \
    --batch-size 8 --no-progress --out "$out/$model" > /dev/null
.venv/bin/python experiments/codex-temperature/analyze.py "$out/$model" experiments/codex-temperature
