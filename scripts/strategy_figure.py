"""Draws plots/strategies.png, the figure of the strategies page (docs/strategies.md): one generation
per built-in strategy on the default model (the same chat prompt, seed and filters), each token a dot
at the temperature it was drawn at, coloured on the fixed temperature scale; against the entropy for
the strategies that read it, against the token's index for the others (sentence starts marked).

    .venv/bin/python scripts/strategy_figure.py [--out plots/strategies.png]

About a minute on two cores.
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import dyntemp  # noqa: E402
from dyntemp.colour import SCALE  # noqa: E402
from dyntemp.llama import load_model  # noqa: E402

PROMPT = [{"role": "user", "content": "Tell a short story about a lighthouse keeper and a storm, in five sentences."}]
# (title, strategy, x axis): one generation each; "entropy" or "candidates" puts the entropy on x.
PANELS = [
    ("constant 0.8", "constant:temperature=0.8", "index"),
    ("edt (t0 1, θ 1)", "edt", "entropy"),
    ("dynatemp 1.0 ± 0.5", "dynatemp", "candidates"),
    ("softmax-adaptive", "softmax-adaptive", "entropy"),
    ("target-entropy 3.0", "target-entropy", "index"),
    ("sentence 0.2, 0.9, 1.4", "sentence:temperatures=[0.2,0.9,1.4]", "index"),
    ("sentence-position", "sentence-position", "index"),
    ("position, cosine 1.2 → 0.3", 'position:start=1.2:end=0.3:length=100:shape="cosine"', "index"),
    ("adapt 0.9 / 0.2", "adapt", "index"),
    ("rules: first sentence 0", 'rules:rules=[{"before_sentence":1,"temperature":0.0}]:base=1.2', "index"),
    ("clamp edt to ≤ 0.7", 'clamp:strategy="edt":max_temp=0.7', "entropy"),
    ("scale edt × 0.5", 'scale:strategy="edt":factor=0.5', "entropy"),
    ("choose: 0.2 at a sentence start, else 1.2", 'choose:condition="at_sentence_start":then=0.2:otherwise=1.2', "index"),
]
XLABEL = {"entropy": "entropy of the full distribution (nats)", "candidates": "entropy of the candidates (nats)",
          "index": "token"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="plots/strategies.png")
    args = parser.parse_args()
    llm = load_model()
    covered = {spec.split(":")[0] for _, spec, _ in PANELS}
    missing = set(dyntemp.list_strategies()) - covered
    if missing:  # a new built-in gets a panel too
        raise SystemExit(f"no panel for {', '.join(sorted(missing))}: add one to PANELS")
    columns = 4
    rows = -(-len(PANELS) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), constrained_layout=True)
    for ax, (title, spec, x) in zip(axes.flat, PANELS):
        sampler = dyntemp.Sampler(spec, top_k=40, top_p=0.95, min_p=0.05, seed=3)
        trace = sampler.chat(llm, PROMPT, max_tokens=140).trace.columns()
        xs = trace["index"] if x == "index" else trace["entropy" if x == "entropy" else "candidate_entropy"]
        temps = trace["temperature"]
        ax.scatter(xs, temps, s=9, c=[SCALE.hex(t) for t in temps], edgecolors="#555", linewidths=0.3)
        if x == "index":
            starts = [i for i, p in zip(trace["index"], trace["sentence_position"]) if p == 0 and i > 0]
            for start in starts:
                ax.axvline(start, color="#bbb", linewidth=0.6, zorder=0)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(XLABEL[x], fontsize=8)
        ax.set_ylabel("temperature", fontsize=8)
        ax.set_ylim(-0.05, max(1.6, float(temps.max()) + 0.1))
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(PANELS):]:
        ax.axis("off")
    fig.suptitle("Each token's temperature under each built-in strategy (SmolLM2-135M-Instruct, seed 3; "
                 "grey lines: sentence starts)", fontsize=11)
    fig.savefig(args.out, dpi=110)
    print(args.out)


if __name__ == "__main__":
    main()
