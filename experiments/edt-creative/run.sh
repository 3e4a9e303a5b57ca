#!/usr/bin/env bash
# EDT against a constant temperature at equal diversity on the creative prompts, each tuned on the
# same budget: `dyntemp tune` with two objectives (scorer NLL, lower is better; distinct-2), NSGA-II
# per strategy, each strategy's Pareto front rerun on held-out prompts and compared, paired by
# prompt, with the constant's curve at the same distinct-2. Then the summary and the figure.
# Usage: experiments/edt-creative/run.sh [OUT] (default runs/experiments/edt-creative); rerunning
# resumes. MODEL (default smollm2-135m), SCORER (default gemma3-270m), TRIALS and SEEDS size it.
# reference.py then runs a grid of cold constants on the held-out prompts, to extend the curve.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/experiments/edt-creative}
model=${MODEL:-smollm2-135m} scorer=${SCORER:-gemma3-270m}
.venv/bin/dyntemp tune --suite creative --strategy edt --trials "${TRIALS:-10}" --seeds "${SEEDS:-2}" \
    --objective scorer_nll,distinct_2 --held-out 0.5 --model "$model" --scorer "$scorer" \
    --batch-size 8 --out "$out"
.venv/bin/python experiments/edt-creative/reference.py "$out"
.venv/bin/python experiments/edt-creative/analyze.py "$out" experiments/edt-creative
