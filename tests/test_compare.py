"""Paired comparisons (dyntemp.eval.compare, dyntemp compare) on runs with planted effects."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dyntemp.core.settings import SamplerSettings
from dyntemp.core.trace import Trace
from dyntemp.eval.compare import compare, format_rows, holm
from dyntemp.records import GenerationRecord

CONSTANTS = (0.4, 0.8, 1.2, 1.6)


def _record(setting: str, item: int, seed: int, correct: bool, temperature: float, **metrics) -> GenerationRecord:
    return GenerationRecord("text", "eos", SamplerSettings(setting, seed=seed), Trace([]), suite="qa", item=f"q{item}",
                            scores={"correct": bool(correct)},
                            metrics={"temperature_mean": temperature, **metrics})


def _run(edt_accuracy: float, items: int = 80, seeds: int = 3, constants=CONSTANTS) -> list[GenerationRecord]:
    """Constant settings whose accuracy falls with temperature, scorer_nll and distinct_2 linear in it
    item by item; and edt at mean temperature 0.9, with ``edt_accuracy`` and the curve's own values."""
    rng = np.random.default_rng(0)
    ease = rng.uniform(-0.2, 0.2, items)
    records = []
    for t in constants:
        for i in range(items):
            for s in range(seeds):
                records.append(_record(f"constant:temperature={t}", i, s, rng.random() < 0.7 - 0.2 * t + ease[i], t,
                                       scorer_nll=2.0 + ease[i] + 0.5 * t, distinct_2=0.3 * t + ease[i]))
    for i in range(items):
        for s in range(seeds):
            records.append(_record("edt", i, s, rng.random() < edt_accuracy + ease[i], 0.9,
                                   scorer_nll=2.0 + ease[i] + 0.5 * 0.9, distinct_2=0.3 * 1.4 + ease[i]))
    return records


def _row(rows, mode, metric):
    return next(r for r in rows if r["mode"] == mode and r["metric"] == metric)


def test_a_planted_gain_is_found_with_mcnemar_against_the_nearest_constant():
    rows = compare(_run(edt_accuracy=0.85))
    row = _row(rows, "baseline", "accuracy")
    assert row["baseline"] == "constant:temperature=0.8" and row["items"] == 80 and row["test"] == "McNemar"
    assert row["verdict"] == "better" and 0 < row["low"] < row["difference"] < row["high"]
    assert row["p_holm"] < 0.05 and 0 < row["detectable"] < row["difference"]
    # At equal temperature the curve is interpolated item by item: scorer_nll on the curve is exactly edt's.
    nll = _row(rows, "equal temperature", "scorer_nll")
    assert abs(nll["difference"]) < 1e-12 and nll["verdict"] == "no detectable difference"
    # At equal diversity, edt's distinct_2 is the curve's at T=1.4, where the curve's scorer_nll is higher.
    matched = _row(rows, "equal diversity", "scorer_nll")
    assert "T=1.4" in matched["baseline"]
    assert matched["difference"] == pytest.approx(0.5 * (0.9 - 1.4)) and matched["verdict"] == "better"
    assert not any(r["mode"] == "equal diversity" and r["metric"] == "distinct_2" for r in rows)


def test_no_effect_is_no_detectable_difference_with_its_power():
    rows = compare(_run(edt_accuracy=0.7 - 0.2 * 0.8, items=30))
    row = _row(rows, "baseline", "accuracy")
    assert row["verdict"] == "no detectable difference" and row["low"] < 0 < row["high"]
    assert row["detectable"] > abs(row["difference"])
    assert "no detectable difference" in format_rows(rows)


def test_a_floor_on_every_item_has_no_power():
    records = [dataclasses.replace(r, scores={"correct": False}) for r in _run(edt_accuracy=0.6)]
    row = _row(compare(records), "baseline", "accuracy")
    assert row["difference"] == 0 and math.isnan(row["detectable"])
    assert row["verdict"] == "the same on every item: no power to detect a difference"


def test_a_curve_needs_three_constant_settings_spanning_the_value():
    rows = compare(_run(edt_accuracy=0.6, constants=(0.4, 1.6)))
    assert _row(rows, "equal temperature", "accuracy")["verdict"].startswith("needs at least 3 constant settings")
    rows = compare(_run(edt_accuracy=0.6, constants=(0.2, 0.4, 0.6)))
    assert "outside the constant settings' [0.2, 0.6]" in _row(rows, "equal temperature", "accuracy")["verdict"]


def test_a_named_baseline_and_metric():
    rows = compare(_run(edt_accuracy=0.6), baseline="constant:temperature=1.6", metrics=["distinct_2"])
    assert {r["setting"] for r in rows} == {"edt", *(f"constant:temperature={t}" for t in CONSTANTS[:3])}
    assert {r["mode"] for r in rows} == {"baseline"} and {r["test"] for r in rows} == {"Wilcoxon"}
    with pytest.raises(ValueError, match="baseline 'constant:temperature=9' is not a setting of the run"):
        compare(_run(edt_accuracy=0.6), baseline="constant:temperature=9")
    with pytest.raises(ValueError, match="metric 'bleu' is not one of accuracy"):
        compare(_run(edt_accuracy=0.6), metrics=["bleu"])


@given(st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_holm_never_lowers_a_p_value_and_keeps_their_order(p_values):
    adjusted = holm(p_values)
    assert all(p <= a <= 1 for p, a in zip(p_values, adjusted))
    order = sorted(range(len(p_values)), key=p_values.__getitem__)
    assert all(adjusted[i] <= adjusted[j] for i, j in zip(order, order[1:]))
    assert min(adjusted) == pytest.approx(min(1.0, len(p_values) * min(p_values)))


def test_the_command_compares_a_run_folder(tmp_path):
    (tmp_path / "generations.jsonl").write_text(
        "".join(json.dumps(r.to_dict()) + "\n" for r in _run(edt_accuracy=0.85)))
    done = subprocess.run([sys.executable, "-m", "dyntemp", "compare", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if "edt" in line and "accuracy" in line)
    assert "constant:temperature=0.8" in line and "McNemar" in line and line.endswith("better")
    done = subprocess.run([sys.executable, "-m", "dyntemp", "compare", str(tmp_path), "--format", "json"],
                          capture_output=True, text=True)
    rows = json.loads(done.stdout)
    assert rows and all(r["p"] is None or 0 <= r["p_holm"] <= 1 for r in rows)
    bad = subprocess.run([sys.executable, "-m", "dyntemp", "compare", str(tmp_path), "--baseline", "edt:theta=9"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "baseline 'edt:theta=9' is not a setting" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_curve_that_is_not_monotone_matches_no_one_temperature():
    records = [dataclasses.replace(r, metrics={**r.metrics, "distinct_2": 0.3 * 1.6 + 0.1})
               if r.setting == "constant:temperature=0.8" else r for r in _run(edt_accuracy=0.6)]
    rows = compare(records)
    assert "not monotone in temperature" in _row(rows, "equal diversity", "accuracy")["verdict"]
    assert _row(rows, "equal temperature", "accuracy")["items"] == 80  # the temperature curve still holds
