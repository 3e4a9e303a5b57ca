#!/usr/bin/env bash
# The boredom and confusion traps (Basu et al., arXiv 2007.14966): the surprise of each sampled token
# against its position, and repetition, for small and large top-k and top-p at temperature 1,
# mirostat v2 at two targets, edt and dynatemp; then the figure and table.
# Usage: experiments/mirostat/run.sh [OUT] (default runs/experiments/mirostat); rerunning resumes.
# MODEL (default smollm2-135m), PROMPTS (default 45: the creative suite) and TOKENS (160, the suite's own budget) size it.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/experiments/mirostat}
model=${MODEL:-smollm2-135m}
prompts=${PROMPTS:-45} tokens=${TOKENS:-160}
# The creative prompts with a budget of $tokens tokens each (the suite's own is 160), named creative still.
mkdir -p "$out/suite"
.venv/bin/python - "$tokens" > "$out/suite/creative.jsonl.new" <<'PY'
import json, sys
from importlib.resources import files
for line in files("dyntemp.eval").joinpath("suites/creative.jsonl").read_text().splitlines():
    print(json.dumps({**json.loads(line), "max_tokens": int(sys.argv[1])}))
PY
mv "$out/suite/creative.jsonl.new" "$out/suite/creative.jsonl"
# name | strategy | sampler flags: one run folder each (a run folder has one sampler). Every filter not
# named is off. A reply ends where the model ends it; positions are averaged over the replies reaching them.
off=(--top-k 0 --top-p 1.0 --min-p 0.0)
configs=(
  "top_k=5|constant:temperature=1.0|--top-k 5"
  "top_k=1000|constant:temperature=1.0|--top-k 1000"
  "top_p=0.5|constant:temperature=1.0|--top-p 0.5"
  "top_p=0.99|constant:temperature=1.0|--top-p 0.99"
  "mirostat_tau=2|constant:temperature=1.0|--mirostat 2 --mirostat-ent 2"
  "mirostat_tau=4|constant:temperature=1.0|--mirostat 2 --mirostat-ent 4"
  "edt|edt|"
  "dynatemp|dynatemp|"
)
for entry in "${configs[@]}"; do
  IFS='|' read -r name strategy flags <<< "$entry"
  .venv/bin/dyntemp eval --suite "$out/suite/creative.jsonl" --limit "$prompts" --seeds 1 --model "$model" \
      --strategy "$strategy" "${off[@]}" $flags --batch-size 8 --no-progress \
      --out "$out/$name" > /dev/null
  echo "mirostat: $name done" >&2
done
.venv/bin/python experiments/mirostat/analyze.py "$out" experiments/mirostat
