#!/usr/bin/env bash
# min-p against top-p at high temperature (Nguyen et al., arXiv 2407.01082), the temperature applied
# first as in the paper's runs: T in {1, 1.5, 2, 3} x {pure sampling, top-p 0.9 / 0.95, min-p 0.1 /
# 0.2 / 0.3}, on HumanEval (parses, pass@1) and qa (accuracy), then the table and figure.
# Usage: experiments/min-p/run.sh [OUT] (default runs/experiments/min-p); rerunning resumes.
# MODEL (default smollm2-135m), PROBLEMS, QUESTIONS and SEEDS size it.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/experiments/min-p}
model=${MODEL:-smollm2-135m}
problems=${PROBLEMS:-30} questions=${QUESTIONS:-40} seeds=${SEEDS:-2}
temps="constant:temperature=1.0,1.5,2.0,3.0"
# name and the filter flags: one run folder each (a run folder has one sampler)
filters=(
  "pure|--top-p 1.0"
  "top_p=0.9|--top-p 0.9"
  "top_p=0.95|--top-p 0.95"
  "min_p=0.1|--min-p 0.1"
  "min_p=0.2|--min-p 0.2"
  "min_p=0.3|--min-p 0.3"
)
for entry in "${filters[@]}"; do
  name=${entry%%|*} flags=${entry#*|}
  stage=$([[ $name == min_p* ]] && echo min_p || echo top_p)
  common=(--strategy "$temps" --seeds "$seeds" --model "$model" --batch-size 8 --no-progress
          --samplers "temperature;$stage" --top-k 0 $flags)
  [[ $name == min_p* ]] && common+=(--top-p 1.0) || common+=(--min-p 0.0)
  .venv/bin/dyntemp eval --suite humaneval --limit "$problems" --max-tokens 128 "${common[@]}" \
      --out "$out/humaneval/$name" > /dev/null
  .venv/bin/dyntemp eval --suite qa --limit "$questions" "${common[@]}" --out "$out/qa/$name" > /dev/null
  echo "min-p: $name done" >&2
done
.venv/bin/python experiments/min-p/analyze.py "$out" experiments/min-p
