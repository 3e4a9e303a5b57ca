"""The layout's promises: a core without llama.cpp, settings as data, strategies that pickle, one
spec parser, one record schema that reads old run folders, old import paths that still work."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import dyntemp
from dyntemp import Sampler, SamplerSettings, StrategySpec
from dyntemp.records import GenerationRecord
from dyntemp.strategies.spec import SpecError, parse_grid, parse_params, parse_spec

PACKAGE = Path(dyntemp.__file__).parent
LEGACY_RUN = Path(__file__).parent / "data" / "legacy_run"

# Parameters that make every built-in strategy do something (the defaults of most do already).
PARAMS = {
    "sentence": {"temperatures": [0.2, 0.9, 1.4]},
    "choose": {"condition": "at_sentence_start", "then": 1.3, "otherwise": {"name": "edt", "theta": 0.6}},
    "clamp": {"strategy": "edt", "max_temp": 0.9},
    "scale": {"strategy": {"name": "sentence", "temperatures": [0.5, 1.5]}, "factor": 0.8},
    "rules": {"rules": [{"name": "opening", "before_sentence": 1, "temperature": 0.1}], "base": 1.2},
}


def builtin(name: str) -> dyntemp.Strategy:
    return dyntemp.get_strategy(name, **PARAMS.get(name, {}))


def test_no_module_outside_the_llama_package_imports_llama_cpp():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if PACKAGE / "llama" in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "llama_cpp" for n in names):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []


def test_the_core_reaches_the_llama_package_through_its_one_seam_only():
    # No import of dyntemp.llama anywhere in the core, at the top or inside a function: its
    # conveniences go through dyntemp.core.backend.
    offenders = []
    for path in [*(PACKAGE / "core").rglob("*.py"), *(PACKAGE / "strategies").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                if module.lstrip(".").split(".")[0] == "llama" or module.startswith("dyntemp.llama"):
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
            elif isinstance(node, ast.Import) and any(a.name.startswith("dyntemp.llama") for a in node.names):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []
    from dyntemp.core.backend import BACKEND_MODULE, backend

    assert BACKEND_MODULE == "dyntemp.llama.backend" and callable(backend().generate)


def test_the_core_strategies_and_eval_reports_run_where_llama_cpp_cannot_be_imported(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(LEGACY_RUN, run)
    code = textwrap.dedent(f"""
        import sys
        sys.modules["llama_cpp"] = None  # any import of llama_cpp now fails
        import numpy as np, pickle, dyntemp
        from dyntemp.eval import plot_run, read_generations, summarize
        logits = np.random.default_rng(0).standard_normal((20, 1000)).astype(np.float32)
        for name in dyntemp.list_strategies():
            params = {PARAMS!r}.get(name, {{}})
            sampler = dyntemp.Sampler(dyntemp.get_strategy(name, **params), seed=1,
                                      detokenizer=lambda ids: b"ab. " if ids[0] % 3 == 0 else b"cd")
            tokens = [sampler.sample(x) for x in logits]
            assert len(sampler.trace) == 20, name
            settings = dyntemp.SamplerSettings.from_dict(sampler.settings.to_dict())
            assert settings == sampler.settings, name
        rows = summarize(read_generations({str(run)!r}))
        assert rows and rows[0]["setting"] == "constant:temperature=0.0"
        files = plot_run({str(run)!r})
        assert len(files) == 5
        loaded = sorted(m for m in sys.modules if m.startswith("dyntemp.llama") or m.startswith("llama_cpp"))
        print(loaded)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    # The reports read the model's path from sweep.json as text: nothing of dyntemp.llama was loaded.
    assert result.stdout.strip() == "['llama_cpp']"


@pytest.mark.parametrize("name", dyntemp.list_strategies())
def test_every_builtin_strategy_and_its_sampler_pickle_to_the_same_tokens(llm, name):
    sampler = Sampler(builtin(name), seed=5, repeat_penalty=1.1)
    assert isinstance(sampler.settings.strategy, StrategySpec)  # every built-in is data
    for copy in (pickle.loads(pickle.dumps(sampler)),
                 Sampler.from_settings(pickle.loads(pickle.dumps(sampler.settings))),
                 Sampler(pickle.loads(pickle.dumps(builtin(name))), seed=5, repeat_penalty=1.1)):
        expected = sampler.generate(llm, "The lighthouse keeper said", max_tokens=16)
        got = copy.generate(llm, "The lighthouse keeper said", max_tokens=16)
        assert got.tokens == expected.tokens
        assert [r.temperature for r in got.trace] == [r.temperature for r in expected.trace]


def test_settings_are_immutable_data_that_round_trip_through_json():
    settings = SamplerSettings({"name": "clamp", "strategy": {"name": "edt", "theta": 0.6}, "max_temp": 1.2},
                               top_k=20, logit_bias={7: -float("inf"), 3: 1.5}, order="top_k;min_p;temperature",
                               top_p=1.0, seed=4)
    data = json.loads(json.dumps(settings.to_dict()))
    assert data["logit_bias"] == {"3": 1.5, "7": "-inf"}  # strict JSON has no infinity
    again = SamplerSettings.from_dict(data)
    assert again == settings and again.logit_bias == ((3, 1.5), (7, -float("inf")))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.top_k = 5
    assert settings.replace(top_k=5).top_k == 5 and settings.top_k == 20
    with pytest.raises(ValueError, match="top_k must be >= 0, got -1"):
        settings.replace(top_k=-1)
    with pytest.raises(ValueError, match="unknown key 'topk'. Did you mean 'top_k'"):
        SamplerSettings.from_dict({**data, "topk": 3})


def test_a_strategy_that_is_not_data_is_used_but_refused_by_to_dict():
    class Half(dyntemp.Strategy):
        def temperature(self, step):
            return 0.5

    half = Half()
    sampler = Sampler(half)
    assert sampler.strategy is half and sampler.settings.strategy is half
    with pytest.raises(TypeError, match="cannot be written as data: register it"):
        sampler.settings.to_dict()
    # A registered class built directly is data: its registered name is found.
    assert Sampler(dyntemp.strategies.EDT(theta=0.4)).settings.strategy.params["theta"] == 0.4


def test_from_settings_draws_what_the_keyword_constructor_draws():
    logits = np.random.default_rng(1).standard_normal((30, 500)).astype(np.float32)
    a = Sampler("edt", top_k=10, presence_penalty=0.3, seed=9)
    b = Sampler.from_settings(a.settings)
    history = []
    for x in logits:
        token = a.sample(x, history)
        assert b.sample(x, history) == token
        history.append(token)
    assert a.top_k == 10 and a.seed == 9 and a.logit_bias == {}


class TestOneSpecParser:
    def test_lists_and_inner_strategies_read_alike_as_text_and_as_tables(self):
        text = parse_spec('clamp:strategy={"name":"sentence","temperatures":[0.2,0.9]}:max_temp=1.2')
        table = StrategySpec.from_dict({"name": "clamp", "strategy": {"name": "sentence", "temperatures": [0.2, 0.9]},
                                        "max_temp": 1.2})
        assert text == table and parse_spec(text.key) == text
        strategy = text.make()
        assert strategy.strategy.temperatures == [0.2, 0.9] and strategy.max_temp == 1.2

    def test_a_comma_means_alternatives_everywhere_and_one_setting_refuses_them(self):
        assert [s.to_dict()["temperatures"] for s in parse_grid("sentence:temperatures=[0.2,0.9],[1.0]")] == [
            [0.2, 0.9], [1.0]]
        with pytest.raises(SpecError, match=r"temperatures has 2 values \(0.2,0.9\) where one setting takes one; "
                                            r"write a list in brackets: temperatures=\[0.2,0.9\]"):
            parse_params(["temperatures=0.2,0.9"])
        with pytest.raises(SpecError, match="theta has 2 values"):
            parse_spec("edt:theta=0.3,0.6")

    def test_the_cli_and_a_sweep_file_take_the_same_specs(self, tmp_path):
        from dyntemp.eval.spec import load_sweep

        (tmp_path / "s.toml").write_text(textwrap.dedent("""
            [[strategy]]
            name = "choose"
            condition = "in_code_block"
            otherwise = { name = "edt", theta = 0.6 }
            grid = { then = [0.2, 0.4] }
        """))
        from_file = load_sweep(tmp_path / "s.toml").settings
        from_text = parse_grid('choose:condition=in_code_block:otherwise={"name":"edt","theta":0.6}:then=0.2,0.4')
        assert [s.key for s in from_file] == [s.key for s in from_text]
        assert [s.make().then.value for s in from_file] == [0.2, 0.4]
        assert [s.make().otherwise.theta for s in from_file] == [0.6, 0.6]


class TestRecords:
    def test_a_legacy_run_folder_reads_as_typed_records_with_the_runs_sampler_settings(self):
        from dyntemp.eval import read_generations

        records = read_generations(LEGACY_RUN)
        header = json.loads((LEGACY_RUN / "sweep.json").read_text())
        assert records and all(isinstance(r, GenerationRecord) for r in records)
        first = records[0]
        assert first.setting == "constant:temperature=0.0" and first.seed == 0 and first.suite == "qa"
        assert first.settings.top_k == header["sampler"].get("top_k", 40)
        assert len(first.trace) == first.completion_tokens + (first.finish_reason == "eos")
        assert first.trace.text.startswith(first.text)

    def test_a_record_round_trips_and_a_newer_schema_is_refused(self):
        from dyntemp.eval import read_generations

        record = read_generations(LEGACY_RUN)[0]
        data = json.loads(json.dumps(record.to_dict()))
        assert data["schema"] == 1 and GenerationRecord.from_dict(data) == record
        with pytest.raises(ValueError, match="schema 2, newer than this dyntemp reads"):
            GenerationRecord.from_dict({**data, "schema": 2})


@pytest.mark.parametrize("old", ["dyntemp.model", "dyntemp.sampler", "dyntemp.sampler.loop", "dyntemp.native"])
def test_the_names_of_earlier_versions_are_gone(old):
    # Their homes are dyntemp.llama.model, dyntemp.core, dyntemp.llama.logits and dyntemp.llama.native.
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(old)


def test_a_legacy_run_folder_resumes_and_keeps_its_lines(tmp_path):
    from dyntemp.eval import Sweep, parse_strategy, read_generations, run_sweep
    from dyntemp.llama.model import default_model_path

    run = tmp_path / "run"
    shutil.copytree(LEGACY_RUN, run)
    header = json.loads((run / "sweep.json").read_text())
    (run / "sweep.json").write_text(json.dumps({**header, "model": default_model_path()}))  # this machine's path
    old = (run / "generations.jsonl").read_bytes()
    sweep = Sweep(["qa"], parse_strategy("constant:temperature=0.0") + parse_strategy("edt:theta=0.6"), seeds=2,
                  limit=2, max_tokens=8, sampler={"top_k": 20})
    run_sweep(sweep, run, progress=False)
    data = (run / "generations.jsonl").read_bytes()
    assert data.startswith(old)
    new = [json.loads(line) for line in data[len(old):].splitlines()]
    assert len(new) == 4 and {r["seed"] for r in new} == {1} and all(r["schema"] == 1 for r in new)
    records = read_generations(run)
    assert len({(r.item, r.setting, r.seed) for r in records}) == 8
    assert all(r.settings.top_k == 20 for r in records)


class TestSettingsStayWhatTheySay:
    def test_a_spec_never_changes_and_equal_specs_hash_alike(self):
        spec = parse_spec("sentence:temperatures=[0.2,0.9]")
        with pytest.raises(TypeError, match="cannot change"):
            spec.params["temperatures"] = [1.0]
        assert spec.params["temperatures"] == (0.2, 0.9) and spec.key == "sentence:temperatures=[0.2,0.9]"
        a, b = StrategySpec("edt", {"theta": 1, "t0": 0.5}), StrategySpec("edt", {"t0": 0.5, "theta": 1.0})
        assert a == b and hash(a) == hash(b) and len({a, b}) == 1
        with pytest.raises(SpecError, match="is not data"):
            StrategySpec("choose", {"condition": len, "then": 0.1, "otherwise": 1.0})

    def test_a_strategy_whose_params_do_not_rebuild_it_is_kept_as_itself(self):
        @dyntemp.register_strategy("renamed-doc-test")
        class Renamed(dyntemp.Strategy):
            def __init__(self, level: float = 1.0) -> None:
                self._level = level  # params() cannot see it

            def temperature(self, step):
                return self._level

        try:
            strategy = Renamed(level=1.7)
            settings = Sampler(strategy).settings
            assert settings.strategy is strategy  # not a spec that would rebuild level=1.0
            with pytest.raises(TypeError, match="cannot be written as data"):
                settings.to_dict()
        finally:
            dyntemp.unregister_strategy("renamed-doc-test")
        # A built-in's spec holds what differs from its defaults.
        assert Sampler(dyntemp.get_strategy("edt", theta=0.4)).settings.strategy.to_dict() == {"name": "edt",
                                                                                            "theta": 0.4}

    def test_sampler_settings_cannot_be_assigned_and_unknown_names_say_what_they_are_here(self):
        sampler = Sampler("edt", seed=1)
        with pytest.raises(AttributeError, match=r"seed is one of the sampler's settings.*replace\(seed=...\)"):
            sampler.seed = 5
        with pytest.raises(TypeError, match="Sampler has no setting 'repeat_last_n': here it is penalty_last_n"):
            Sampler("edt", repeat_last_n=32)
        with pytest.raises(TypeError, match=r"Sampler has no setting 'temperature': here it is the strategy"):
            Sampler("edt", temperature=0.7)
        with pytest.raises(TypeError, match="unknown setting 'top_kk'. Did you mean 'top_k'"):
            Sampler("edt", top_kk=3)
        with pytest.raises(TypeError, match="Sampler has no setting 'typical': here it is typical_p"):
            SamplerSettings("edt", typical=0.9)

    def test_settings_to_dict_is_strict_json(self):
        settings = SamplerSettings("edt", logit_bias={2: -float("inf")}, order=["top_k", "temperature"], top_p=1.0,
                                   min_p=0.0)
        text = json.dumps(settings.to_dict(), allow_nan=False)
        assert SamplerSettings.from_dict(json.loads(text)) == settings
        with pytest.raises(TypeError, match="order must hold stage names, got 5"):
            SamplerSettings("edt", order=["top_k", 5, "temperature"])
        with pytest.raises(TypeError, match=r"logit_bias must be a mapping of token id to bias or \(token, bias\)"):
            SamplerSettings("edt", logit_bias=[(1, 2, 3)])

    def test_records_read_without_their_strategy_registered_and_errors_cross_processes(self):
        from dyntemp.strategies.spec import UnknownStrategySpecError

        data = GenerationRecord("x", "length", SamplerSettings(0.5, seed=1), dyntemp.Trace()).to_dict()
        data["settings"]["strategy"] = {"name": "a-plugin-not-installed-here", "level": 2}
        record = GenerationRecord.from_dict(data)
        assert record.setting == "a-plugin-not-installed-here:level=2"
        try:
            parse_spec("edtt")
        except UnknownStrategySpecError as exc:
            again = pickle.loads(pickle.dumps(exc))
            assert str(again) == str(exc) and isinstance(again, dyntemp.UnknownStrategyError)
