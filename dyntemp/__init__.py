"""dyntemp: token-adaptive dynamic temperature sampling for local LLMs on llama.cpp.

>>> import dyntemp
>>> "edt" in dyntemp.list_strategies()
True
"""

from .model import load_model
from .sampler import DEFAULT_ORDER, STAGES, Sampler, Step, Trace, TraceRecord
from .sampler.generation import GenerationResult, StreamPiece
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
    "DEFAULT_ORDER", "GenerationResult", "STAGES", "Sampler", "Step", "Strategy", "StreamPiece", "Trace",
    "TraceRecord", "UnknownStrategyError", "get_strategy", "list_strategies", "load_model", "register_strategy",
    "unregister_strategy",
]
