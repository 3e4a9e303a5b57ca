"""The sampling core, in numpy alone: filters, penalties, numerics, text tracking, the ``Step``, the
trace, the ``Sampler`` and its ``SamplerSettings``. Nothing here imports llama.cpp."""

from .filters import min_p, top_k, top_n_sigma, top_p, typical_p, xtc
from .penalties import apply_penalties
from .results import GenerationResult, StreamPiece
from .sampler import Sampler
from .settings import DEFAULT_ORDER, STAGES, SamplerSettings
from .step import Step
from .text import TextTracker
from .trace import Trace, TraceRecord

__all__ = [
    "DEFAULT_ORDER", "GenerationResult", "STAGES", "Sampler", "SamplerSettings", "Step", "StreamPiece", "TextTracker",
    "Trace", "TraceRecord", "apply_penalties", "min_p", "top_k", "top_n_sigma", "top_p", "typical_p", "xtc",
]
