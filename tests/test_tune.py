"""dyntemp tune: equal budgets, a held-out split, resuming, presets; on the real default model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest

import dyntemp
from dyntemp.eval.run_folder import locked, read_generations
from dyntemp.eval.tune import Tune, TuneError, split
from dyntemp.strategies import Range, Strategy, search_space

QUICK = ["--suite", "qa", "--limit", "6", "--max-tokens", "4", "--objective", "accuracy"]


def tune_cli(*args, check=True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "dyntemp", "tune", *args], capture_output=True, text=True,
                            timeout=600, **kwargs)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def trials_of(folder: Path, name: str) -> list:
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{folder / 'optuna.db'}")
    return study.get_trials(deepcopy=False)


def states(folder: Path, name: str) -> Counter:
    return Counter(t.state.name for t in trials_of(folder, name))


# --- search spaces and the split, without a model ---

def test_built_in_search_spaces_name_parameters_of_their_strategy():
    assert search_space("constant") == {"temperature": Range(0.05, 2.0)}
    assert set(search_space("edt")) == {"t0", "n", "theta"} and search_space("edt")["theta"].log
    assert search_space("sentence") == {}


def test_a_search_space_naming_no_parameter_or_holding_no_range_is_refused():
    @dyntemp.register_strategy("tune-test-bad", replace=True)
    class Bad(Strategy):
        search_space = {"warmth": Range(0.1, 1.0)}

        def __init__(self, heat: float = 1.0):
            self.heat = heat

        def temperature(self, step):
            return self.heat

    try:
        with pytest.raises(ValueError, match="search_space names 'warmth', which is not one of its parameters \\(heat\\)"):
            search_space("tune-test-bad")
        Bad.search_space = {"heat": (0.1, 1.0)}
        with pytest.raises(TypeError, match=r"search_space\['heat'\] must be a Range"):
            search_space("tune-test-bad")
    finally:
        dyntemp.unregister_strategy("tune-test-bad")


@pytest.mark.parametrize("args, message", [
    ((0.5, 0.1), "Range high must be > 0.5"),
    ((0.0, 1.0, True), "a log-scale Range needs low > 0"),
    ((1.5, 4, False, True), "an integer Range needs whole bounds"),
])
def test_a_range_is_checked(args, message):
    with pytest.raises(ValueError, match=message):
        Range(*args)


def test_the_split_is_seeded_disjoint_and_keeps_the_suite_order():
    ids = [f"q{i}" for i in range(20)]
    tuning, held = split(ids, 0.3, seed=4)
    assert len(held) == 6 and sorted(tuning + held) == sorted(ids) and not set(tuning) & set(held)
    assert tuning == [i for i in ids if i in tuning] and held == [i for i in ids if i in held]
    assert split(ids, 0.3, seed=4) == (tuning, held) and split(ids, 0.3, seed=5) != (tuning, held)
    assert split(["a", "b"], 0.9, seed=0)[0]  # never everything held out
    with pytest.raises(TuneError, match="at least 2 items"):
        split(["a"], 0.5, seed=0)


@pytest.mark.parametrize("kwargs, message", [
    ({"strategies": ["sentence"]}, "strategy 'sentence' declares no search space"),
    ({"objectives": ["accuracy", "distinct_2", "loop_rate"]}, "one metric, or two different ones"),
    ({"objectives": ["bleu"]}, "metric 'bleu' is not one of"),
    ({"tune_filters": True, "sampler": {"top_k": 40}}, "tune_filters searches top_k, top_p, min_p; top_k is also"),
    ({"held_out": 1.0}, "held_out must be < 1.0"),
    ({"objectives": ["pass@5"], "suite": "humaneval", "seeds": 3}, "objective pass@5 needs at least 5 samples"),
])
def test_a_tune_that_cannot_run_is_refused_before_any_work(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Tune(**{"suite": "qa", "strategies": ["edt"], "trials": 2, "objectives": ["accuracy"], **kwargs})


def test_the_constant_is_always_tuned_first():
    assert Tune("qa", ["edt", "constant", "edt"], trials=1, objectives=["accuracy"]).strategies == ["constant", "edt"]


def test_a_tunes_prompt_format_reaches_every_trial_and_its_identity():
    template = "{% for m in messages %}Question: {{ m['content'] }}\nAnswer:{% endfor %}"
    tune = Tune("qa", ["edt"], trials=1, objectives=["accuracy"], chat_template=template, stop=["\nQuestion:"])
    sweep = tune.sweep([], ["a"], {})
    assert (sweep.chat_template, sweep.stop) == (template, ("\nQuestion:",))
    header = tune.header([], [])
    assert header["chat_template"] == template and header["stop"] == ["\nQuestion:"]
    assert Tune("qa", ["edt"], trials=1, objectives=["accuracy"]).header([], [])["chat_template"] is None
    with pytest.raises(ValueError, match="chat_template: not a valid Jinja template"):
        Tune("qa", ["edt"], trials=1, objectives=["accuracy"], chat_template="{% if %}")


# --- on the real model ---

@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    out = tmp_path_factory.mktemp("tune") / "t"
    result = tune_cli(*QUICK, "--strategy", "edt", "--trials", "2", "--out", str(out))
    return out, result


def test_every_strategy_gets_the_same_trials_on_the_tuning_items_only(tuned):
    out, result = tuned
    header = json.loads((out / "tune.json").read_text())
    tuning, held = header["tuning_items"], header["held_out_items"]
    assert len(tuning) == 4 and len(held) == 2 and not set(tuning) & set(held)
    for name in ("constant", "edt"):
        assert states(out, name) == {"COMPLETE": 2}
    records = read_generations(out / "tuning")
    assert {r.item for r in records} == set(tuning) and len(records) == 2 * 2 * 4
    assert {r.strategy.name for r in records} == {"constant", "edt"}
    # The trial's value is its records' accuracy: the mean over items.
    for trial in trials_of(out, "edt"):
        key = dyntemp.strategies.StrategySpec.from_dict(trial.user_attrs["setting"]).key
        mine = [r for r in records if r.setting == key]
        assert trial.values[0] == pytest.approx(sum(r.scores["correct"] for r in mine) / len(mine))
    assert "tune edt: trial 2/2" in result.stderr and "min left" in result.stderr


def test_the_best_settings_run_on_the_held_out_items_against_the_best_constant(tuned):
    out, result = tuned
    held = json.loads((out / "tune.json").read_text())["held_out_items"]
    records = read_generations(out / "held-out")
    assert {r.item for r in records} == set(held) and len({r.setting for r in records}) == 2
    results = json.loads((out / "results.json").read_text())
    constant = results["strategies"]["constant"][0]["key"]
    [edt] = results["strategies"]["edt"]
    assert [row["baseline"] for row in edt["against_constant"]] == [constant]
    assert constant in (out / "verdicts.txt").read_text() and "edt" in result.stdout
    for name in ("constant", "edt"):
        assert (out / f"trials-{name}.png").stat().st_size > 1000
    # dyntemp report on the tune's folder is its held-out run's page.
    page = out.parent / "report.html"
    report = subprocess.run([sys.executable, "-m", "dyntemp", "report", str(out), "-o", str(page)],
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr
    assert constant in page.read_text() and edt["key"] in page.read_text()


def test_the_presets_run_in_generate_with_their_settings(tuned):
    out, _ = tuned
    preset = (out / "best-edt.toml").read_text()
    assert 'name = "edt"' in preset and "[sampler]" in preset
    [edt] = json.loads((out / "results.json").read_text())["strategies"]["edt"]
    # The preset's sampler settings apply; a flag given on the command line overrides them.
    (out / "mine.toml").write_text(preset.replace("[sampler]", "[sampler]\ntop_p = 0.5\ntop_k = 7"))
    result = subprocess.run([sys.executable, "-m", "dyntemp", "generate", "Hi", "-n", "3", "--seed", "1",
                             "--preset", str(out / "mine.toml"), "--top-k", "5", "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    settings = json.loads(result.stdout)["settings"]
    assert settings["strategy"] == edt["setting"] and settings["top_p"] == 0.5 and settings["top_k"] == 5
    both = subprocess.run([sys.executable, "-m", "dyntemp", "generate", "Hi", "--preset", str(out / "best.toml"),
                           "--strategy", "edt"], capture_output=True, text=True, timeout=120)
    assert both.returncode == 2 and "--preset" in both.stderr and "Traceback" not in both.stderr


def test_more_trials_extend_a_tune_and_a_finished_one_does_nothing(tuned, tmp_path):
    out, _ = tuned
    copy = tmp_path / "t"
    subprocess.run(["cp", "-r", str(out), str(copy)], check=True)
    lines = len((copy / "tuning" / "generations.jsonl").read_text().splitlines())
    tune_cli(*QUICK, "--strategy", "edt", "--trials", "2", "--out", str(copy))
    assert len((copy / "tuning" / "generations.jsonl").read_text().splitlines()) == lines
    tune_cli(*QUICK, "--strategy", "edt", "--trials", "3", "--out", str(copy))
    assert states(copy, "edt") == {"COMPLETE": 3} and states(copy, "constant") == {"COMPLETE": 3}
    other = tune_cli(*QUICK[:-1], "length", "--strategy", "edt", "--trials", "3", "--out", str(copy), check=False)
    assert other.returncode == 2 and "holds a tune with objectives=['accuracy']" in other.stderr


def test_a_killed_tune_resumes_its_running_trial_with_its_parameters(tmp_path):
    out = tmp_path / "t"
    process = subprocess.Popen([sys.executable, "-m", "dyntemp", "tune", *QUICK, "--strategy", "edt", "--trials", "2",
                                "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    generations = out / "tuning" / "generations.jsonl"
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        if generations.is_file() and generations.read_text().count("\n") >= 5:  # inside the second trial
            break
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert states(out, "constant")["RUNNING"] == 1
    tune_cli(*QUICK, "--strategy", "edt", "--trials", "2", "--out", str(out))
    trials = trials_of(out, "constant")
    assert Counter(t.state.name for t in trials) == {"COMPLETE": 2, "FAIL": 1}
    [failed] = [t for t in trials if t.state.name == "FAIL"]
    assert failed.params in [t.params for t in trials if t.state.name == "COMPLETE"]
    keys = [(r.item, r.setting, r.seed) for r in read_generations(out / "tuning")]
    assert len(keys) == len(set(keys)) == 2 * 2 * 4


def test_a_second_tune_on_the_same_folder_is_refused(tmp_path):
    out = tmp_path / "t"
    with locked(out):
        result = tune_cli(*QUICK, "--strategy", "edt", "--trials", "1", "--out", str(out), check=False)
    assert result.returncode == 1 and "being written by another run" in result.stderr
    assert not (out / "optuna.db").exists()


def test_two_objectives_give_a_pareto_front(tmp_path):
    out = tmp_path / "t"
    tune_cli("--suite", "qa", "--limit", "4", "--max-tokens", "4", "--objective", "accuracy,distinct_2",
             "--strategy", "adapt", "--trials", "2", "--out", str(out))
    results = json.loads((out / "results.json").read_text())
    assert results["objectives"] == ["accuracy", "distinct_2"]
    for name in ("constant", "adapt"):
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{out / 'optuna.db'}")
        assert len(study.directions) == 2
        front = {json.dumps(t.user_attrs["setting"], sort_keys=True) for t in study.best_trials}
        assert {json.dumps(e["setting"], sort_keys=True) for e in results["strategies"][name]} <= front
        assert all(len(e["held_out"]) == 2 for e in results["strategies"][name])


@pytest.mark.parametrize("argv, message", [
    (["--strategy", "sentence"], "declares no search space"),
    (["--strategy", "edt", "--tune-filters", "--top-k", "40"], "tune_filters searches top_k"),
    (["--strategy", "edt", "--suite", "nosuch"], "nosuch"),
])
def test_cli_errors_exit_2_before_any_work(argv, message, tmp_path):
    args = ["--suite", "qa", "--objective", "accuracy", "--trials", "1", "--out", str(tmp_path / "t"), *argv]
    result = tune_cli(*args, check=False)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "t" / "optuna.db").exists()
