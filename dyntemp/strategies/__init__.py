"""Strategies: the registry and the built-in strategies, one small module each."""

from .adapt import AdapT
from .base import Strategy
from .combinators import Choose, Clamp, Scale
from .constant import Constant
from .dynatemp import DynaTemp
from .edt import EDT
from .position import Position
from .registry import (
    ENTRY_POINT_GROUP,
    UnknownStrategyError,
    get_strategy,
    list_strategies,
    register_strategy,
    strategy_factory,
    strategy_parameters,
    unregister_strategy,
)
from .rules import Rule, Rules, RulesError, load_rules_file
from .sentence import Sentence, SentencePosition
from .softmax_adaptive import SoftmaxAdaptive
from .search import Range, search_space
from .spec import SpecError, StrategySpec, as_strategy, parse_grid, parse_params, parse_spec
from .target_entropy import TargetEntropy

__all__ = [
    "AdapT", "Choose", "Clamp", "Constant", "DynaTemp", "EDT", "ENTRY_POINT_GROUP", "Position", "Range", "Rule", "Rules",
    "RulesError", "Scale", "Sentence", "SentencePosition", "SoftmaxAdaptive", "SpecError", "Strategy", "StrategySpec",
    "TargetEntropy", "UnknownStrategyError", "as_strategy", "get_strategy", "list_strategies", "load_rules_file",
    "parse_grid", "parse_params", "parse_spec", "register_strategy", "search_space", "strategy_factory", "strategy_parameters",
    "unregister_strategy",
]
