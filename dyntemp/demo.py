"""A short demonstration on the default model: a sentence-by-sentence temperature schedule.

    python -m dyntemp.demo [--seed N] [--max-tokens N]

Generates a few sentences with SmolLM2-135M-Instruct, the ``sentence`` strategy choosing 0.2 for the
first sentence, 0.9 for the second and 1.4 from the third on, and prints the text followed by what
the trace recorded for each sentence.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

from . import Sampler, get_strategy
from .model import load_model
from .sampler.loop import sample_tokens

PROMPT = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
SCHEDULE = (0.2, 0.9, 1.4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dyntemp.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", default="Write four short sentences about the sea.")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=120)
    args = parser.parse_args(argv)

    llm = load_model()
    sampler = Sampler(get_strategy("sentence", temperatures=list(SCHEDULE)), top_k=40, top_p=0.95, min_p=0.05,
                      seed=args.seed, detokenizer=llm.detokenize)
    sample_tokens(llm, sampler, PROMPT.format(args.prompt), args.max_tokens)

    print(f"prompt: {args.prompt}\nschedule: {', '.join(map(str, SCHEDULE))} (one per sentence, the last repeats)\n")
    print(sampler.trace.text.strip(), end="\n\n")
    by_sentence = defaultdict(list)
    for record in sampler.trace:
        by_sentence[record.sentence_index].append(record)
    print(f"{'sentence':>8} {'tokens':>6} {'temperature':>11} {'mean entropy':>12}  text")
    for index, records in sorted(by_sentence.items()):
        text = "".join(r.piece for r in records).strip().replace("\n", " ")
        if not text:
            continue  # only the end-of-generation token
        entropy = sum(r.entropy for r in records) / len(records)
        print(f"{index:>8} {len(records):>6} {records[0].temperature:>11.2f} {entropy:>12.3f}  {text[:60]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
