"""dyntemp: token-adaptive dynamic temperature sampling for local LLMs on llama.cpp.

The sampling core (``dyntemp.core``) and the strategies (``dyntemp.strategies``) need numpy
alone; ``load_model`` and generation on a model live in ``dyntemp.llama``.

>>> import dyntemp
>>> "edt" in dyntemp.list_strategies()
True
"""

from .core import (
    DEFAULT_ORDER,
    STAGES,
    GenerationResult,
    Sampler,
    SamplerSettings,
    Setting,
    SettingError,
    Stage,
    Step,
    StreamPiece,
    Trace,
    TraceRecord,
    list_stages,
    register_stage,
    unregister_stage,
)
from .strategies import (
    Strategy,
    StrategySpec,
    UnknownStrategyError,
    get_strategy,
    list_strategies,
    register_strategy,
    unregister_strategy,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_ORDER", "GenerationResult", "STAGES", "Sampler", "SamplerSettings", "Setting", "SettingError", "Stage",
    "Step", "Strategy", "StrategySpec", "StreamPiece", "Trace", "TraceRecord", "UnknownStrategyError",
    "get_strategy", "list_stages", "list_strategies", "load_model", "register_stage", "register_strategy",
    "unregister_stage", "unregister_strategy",
]


def __getattr__(name: str):
    # load_model is imported on first use, so that importing dyntemp never needs llama.cpp's package.
    if name == "load_model":
        from .llama.model import load_model

        return load_model
    raise AttributeError(f"module 'dyntemp' has no attribute {name!r}")
