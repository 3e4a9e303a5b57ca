"""A reference curve for the equal-diversity test: the constant temperature at a fixed grid below the
tune's range, on the same held-out prompts, model, scorer, sampler and seeds as the tune's held-out run.

    python experiments/edt-creative/reference.py TUNE_FOLDER

The tune's random trials put the constant's front at T >= 0.8, so EDT's colder points had no constant
of their diversity to be compared with. These settings are not tuned (a grid, not a search): they only
extend the curve the comparison interpolates, and the table says which rows rest on them. The run
folder is TUNE_FOLDER/reference (resumable).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dyntemp.eval.runner import run_sweep
from dyntemp.eval.spec import Sweep, parse_strategy

GRID = "constant:temperature=0.2,0.4,0.6"


def main(argv: list[str]) -> None:
    tune = Path(argv[0])
    header = json.loads((tune / "tune.json").read_text(encoding="utf-8"))
    sweep = Sweep([header["suite"]], parse_strategy(GRID), seeds=header["seeds"], model=header["model"],
                  scorer=header["scorer"], sampler=header["sampler"], n_ctx=header["n_ctx"],
                  max_tokens=header["max_tokens"], batch_size=8,
                  items={header["suite"]: header["held_out_items"]})
    run_sweep(sweep, tune / "reference", progress=False)


if __name__ == "__main__":
    main(sys.argv[1:])
