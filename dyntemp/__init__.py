"""dyntemp: token-adaptive dynamic temperature sampling for local LLMs on llama.cpp.

>>> import dyntemp
>>> "edt" in dyntemp.list_strategies()
True
"""

from .sampler import DEFAULT_ORDER, STAGES, Sampler, Step, Trace, TraceRecord
from .strategies import (
    Strategy,
    UnknownStrategyError,
    get_strategy,
    list_strategies,
    register_strategy,
    unregister_strategy,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_ORDER", "STAGES", "Sampler", "Step", "Strategy", "Trace", "TraceRecord", "UnknownStrategyError",
    "get_strategy", "list_strategies", "register_strategy", "unregister_strategy",
]
