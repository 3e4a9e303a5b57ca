"""Sweep specs: strategy grids from flags and from TOML files, and their errors."""

from __future__ import annotations

import pytest

from dyntemp.eval.spec import Setting, Sweep, SweepSpecError, grid, load_sweep, parse_strategy


def test_a_spec_is_the_grid_of_its_values():
    settings = parse_strategy("edt:theta=0.3,0.6:t0=0.5,1.0")
    assert [s.key for s in settings] == [
        "edt:theta=0.3:t0=0.5", "edt:theta=0.3:t0=1.0", "edt:theta=0.6:t0=0.5", "edt:theta=0.6:t0=1.0"]
    assert settings[0].params == {"theta": 0.3, "t0": 0.5} and settings[0].label == "theta=0.3, t0=0.5"
    assert parse_strategy("dynatemp") == [Setting("dynatemp", {})]
    assert parse_strategy("dynatemp")[0].label == "defaults"


def test_settings_make_fresh_strategies_with_their_parameters():
    setting = parse_strategy("constant:temperature=0.7")[0]
    a, b = setting.make(), setting.make()
    assert a is not b and a.temperature(None) == 0.7


@pytest.mark.parametrize("spec, message", [
    ("edt:theta", "expected KEY=VALUE, got 'theta'"),
    ("edtt", "unknown strategy 'edtt'. Did you mean 'edt'?"),
    ("edt:thta=1", "unknown parameter 'thta'. Did you mean 'theta'?"),
    ("constant:temperature=-1", "temperature must be >= 0"),
    ("constant:temperature=0.5,", "empty value"),
    ("edt:theta=1:theta=2", "'theta' is given twice"),
    ("", "--strategy '': needs a strategy name"),
])
def test_bad_specs_say_what_is_wrong(spec, message):
    with pytest.raises(SweepSpecError, match="^.*" + message.replace("(", r"\(").replace(".", r"\.")):
        parse_strategy(spec)


def test_a_sweep_checks_its_settings_before_any_work():
    settings = parse_strategy("constant:temperature=0.5")
    with pytest.raises(SweepSpecError, match="chat_template: not a valid Jinja template: line 1"):
        Sweep(["qa"], settings, chat_template="{% for m in messages %}")
    with pytest.raises(SweepSpecError, match="seeds must be >= 1, got 0"):
        Sweep(["qa"], settings, seeds=0)
    with pytest.raises(SweepSpecError, match="top_p must be <= 1.0, got 2"):
        Sweep(["qa"], settings, sampler={"top_p": 2})
    with pytest.raises(SweepSpecError, match="sampler.seed cannot be set"):
        Sweep(["qa"], settings, sampler={"seed": 1})
    with pytest.raises(SweepSpecError, match="given twice: constant:temperature=0.5"):
        Sweep(["qa"], settings * 2)
    with pytest.raises(SweepSpecError, match="at least one strategy"):
        Sweep(["qa"], [])
    with pytest.raises(SweepSpecError, match="suites must be a non-empty list"):
        Sweep("qa", settings)


def test_sweep_file(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text("""
suites = ["qa", "creative"]
seeds = 2
limit = 10
workers = 2

[sampler]
top_k = 20

[[strategy]]
name = "constant"
grid = { temperature = [0.3, 1.0] }

[[strategy]]
name = "sentence"
temperatures = [0.2, 0.9]

[[strategy]]
name = "edt"
theta = 0.6
grid = { t0 = [0.5, 1.0] }
""")
    sweep = load_sweep(path)
    assert sweep.suites == ["qa", "creative"] and (sweep.seeds, sweep.limit, sweep.workers) == (2, 10, 2)
    assert sweep.sampler == {"top_k": 20}
    assert [s.key for s in sweep.settings] == [
        "constant:temperature=0.3", "constant:temperature=1.0", "sentence:temperatures=[0.2,0.9]",
        "edt:theta=0.6:t0=0.5", "edt:theta=0.6:t0=1.0"]
    assert sweep.strategy_counts() == {"constant": 2, "sentence": 1, "edt": 2}
    assert (sweep.limit_for("qa"), Sweep(["qa"], sweep.settings, limit={"qa": 4}).limit_for("qa")) == (10, 4)
    with pytest.raises(SweepSpecError, match="limit.qa must be >= 1, got 0"):
        Sweep(["qa"], sweep.settings, limit={"qa": 0})
    overridden = load_sweep(path, seeds=5, limit=None, settings=parse_strategy("dynatemp"))
    assert overridden.seeds == 5 and overridden.limit == 10 and [s.key for s in overridden.settings] == ["dynatemp"]


def test_a_sweep_file_names_a_chat_template_beside_it_and_stop_strings(tmp_path):
    (tmp_path / "qa.jinja").write_text("{% for m in messages %}Q: {{ m['content'] }}\nA:{% endfor %}")
    path = tmp_path / "sweep.toml"
    path.write_text('chat_template = "qa.jinja"\nstop = ["\\nQ:"]\n[[strategy]]\nname = "edt"\n')
    sweep = load_sweep(path)
    assert sweep.chat_template.startswith("{% for m in messages %}Q:") and sweep.stop == ("\nQ:",)
    assert load_sweep(path, stop=["."]).stop == (".",)


@pytest.mark.parametrize("text, message", [
    ("chat_template = 'nowhere.jinja'", "chat_template: cannot read nowhere.jinja"),
    ("chat_template = 3", "chat_template must be the text of a Jinja chat template, got 3"),
    ("stop = ['']", "stop must be a string or a list of non-empty strings"),
    ("seeds = ", "not valid TOML"),
    ("seed = 3", "unknown key 'seed'. Did you mean 'seeds'?"),
    ("[[strategy]]\ngrid = { t0 = [1.0] }", r"\[\[strategy\]\] #1: a strategy table needs name"),
    ("[[strategy]]\nname = 'edt'\ngrid = [1, 2]", "grid must be a table of lists"),
    ("[[strategy]]\nname = 'edt'\ngrid = { t0 = 1.0 }", "grid values of 't0' must be a non-empty list, got 1.0"),
    ("[[strategy]]\nname = 'edt'\nt0 = 1\ngrid = { t0 = [1.0] }", "t0 given both as fixed and in the grid"),
    ("[[strategy]]\nname = 'edt'\ngrid = { theta = [-1.0] }", r"\[\[strategy\]\] #1: theta must be >= 0"),
    ("seeds = 0\n[[strategy]]\nname = 'edt'", "seeds must be >= 1, got 0"),
])
def test_bad_sweep_files_say_where_and_why(tmp_path, text, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bad.toml"
    path.write_text(text + "\n[[strategy]]\nname = 'edt'" if "strategy" not in text else text)
    with pytest.raises(SweepSpecError, match=message) as info:
        load_sweep(path)
    assert str(path) in str(info.value)


def test_a_missing_sweep_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="sweep file not found: .*nope.toml"):
        load_sweep(tmp_path / "nope.toml")


def test_grid_of_fixed_parameters_only():
    assert [s.key for s in grid("position", fixed={"start": 1.2, "shape": "cosine"})] == [
        'position:start=1.2:shape="cosine"']
