"""The strategy registry: lookup, user registration, entry-point plugins, parameter errors."""

from __future__ import annotations

import sys
import textwrap

import pytest

import dyntemp
from dyntemp.strategies import registry

BUILT_INS = ["adapt", "choose", "clamp", "constant", "dynatemp", "edt", "position", "rules", "scale", "sentence",
             "sentence-position", "target-entropy"]


def test_every_built_in_is_listed_sorted():
    names = dyntemp.list_strategies()
    assert names == sorted(names)
    assert set(BUILT_INS) <= set(names)


def test_pattern_query():
    assert dyntemp.list_strategies("sentence*") == ["sentence", "sentence-position"]


def test_get_strategy_builds_with_parameters():
    edt = dyntemp.get_strategy("edt", theta=0.6)
    assert isinstance(edt, dyntemp.Strategy) and edt.theta == 0.6 and edt.name == "edt"


def test_unknown_name_is_a_key_error_listing_names_and_the_closest():
    with pytest.raises(KeyError) as info:
        dyntemp.get_strategy("edtt")
    assert isinstance(info.value, dyntemp.UnknownStrategyError)
    message = str(info.value)
    assert "Did you mean 'edt'?" in message and "dynatemp" in message and "sentence-position" in message


def test_the_closest_match_ignores_case():
    with pytest.raises(dyntemp.UnknownStrategyError, match="Did you mean 'edt'"):
        dyntemp.get_strategy("EDT")


def test_unknown_parameter_names_the_parameter_and_the_closest():
    with pytest.raises(TypeError, match="strategy 'edt': unknown parameter 'thta'. Did you mean 'theta'"):
        dyntemp.get_strategy("edt", thta=0.5)


def test_missing_required_parameter():
    with pytest.raises(TypeError, match="strategy 'sentence' needs parameter\\(s\\) temperatures"):
        dyntemp.get_strategy("sentence")


def test_register_and_unregister_a_throwaway_strategy():
    @dyntemp.register_strategy("throwaway-test")
    class Throwaway(dyntemp.Strategy):
        def __init__(self, t: float = 0.3):
            self.t = t

        def temperature(self, step):
            return self.t

    try:
        assert "throwaway-test" in dyntemp.list_strategies()
        throwaway = dyntemp.get_strategy("throwaway-test", t=0.4)
        assert throwaway.temperature(None) == 0.4 and throwaway.name == "throwaway-test"
        assert Throwaway.name == "" and Throwaway(0.1).name == ""
    finally:
        dyntemp.unregister_strategy("throwaway-test")
    assert "throwaway-test" not in dyntemp.list_strategies()
    with pytest.raises(dyntemp.UnknownStrategyError):
        dyntemp.get_strategy("throwaway-test")


def test_a_factory_function_registers_too():
    @dyntemp.register_strategy("factory-test")
    def make(level: float = 0.5):
        return dyntemp.get_strategy("constant", temperature=level)

    try:
        assert dyntemp.get_strategy("factory-test", level=0.9).temperature(None) == 0.9
    finally:
        dyntemp.unregister_strategy("factory-test")


def test_duplicate_names_are_refused():
    with pytest.raises(ValueError, match="'edt' is already registered"):
        dyntemp.register_strategy("edt")(dyntemp.strategies.Constant)


@pytest.mark.parametrize("name", ["", "has space", "a:b", "-lead", 3])
def test_bad_names_are_refused(name):
    with pytest.raises(ValueError, match="strategy name"):
        dyntemp.register_strategy(name)


def test_a_class_that_is_not_a_strategy_is_refused():
    class NotAStrategy:
        pass

    with pytest.raises(TypeError, match="not a subclass of dyntemp.Strategy"):
        dyntemp.register_strategy("not-a-strategy")(NotAStrategy)
    assert "not-a-strategy" not in dyntemp.list_strategies()


def test_a_factory_returning_something_else_is_refused():
    dyntemp.register_strategy("bad-factory")(lambda: 0.7)
    try:
        with pytest.raises(TypeError, match="not a dyntemp.Strategy"):
            dyntemp.get_strategy("bad-factory")
    finally:
        dyntemp.unregister_strategy("bad-factory")


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """An installed third-party package declaring a strategy in the ``dyntemp.strategies`` group."""
    (tmp_path / "cool_plugin.py").write_text(textwrap.dedent("""
        import dyntemp

        class Cool(dyntemp.Strategy):
            def __init__(self, chill: float = 0.25):
                self.chill = chill

            def temperature(self, step):
                return self.chill
    """))
    info = tmp_path / "cool_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cool-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[dyntemp.strategies]\ncool = cool_plugin:Cool\nbroken = cool_plugin:Missing\nedt = cool_plugin:Cool\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(UserWarning, match="declares strategy 'edt', a name already taken"):
        registry._plugins(refresh=True)
    yield
    for name in ("cool", "broken"):
        registry._registry.pop(name, None)
    sys.modules.pop("cool_plugin", None)
    monkeypatch.undo()
    registry._plugins(refresh=True)


def test_entry_point_strategies_are_listed_and_load_like_built_ins(plugin):
    assert "cool" in dyntemp.list_strategies()
    cool = dyntemp.get_strategy("cool", chill=0.4)
    assert cool.temperature(None) == 0.4 and cool.name == "cool"
    assert dyntemp.Sampler("cool").strategy.temperature(None) == 0.25


def test_a_plugin_cannot_take_a_built_in_name(plugin):
    assert type(dyntemp.get_strategy("edt")).__name__ == "EDT"


def test_an_entry_point_that_fails_to_load_says_which(plugin):
    with pytest.raises(ImportError, match="strategy 'broken' from entry point 'cool_plugin:Missing' failed to load"):
        dyntemp.get_strategy("broken")
