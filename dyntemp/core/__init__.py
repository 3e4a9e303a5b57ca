"""The sampling core, in numpy and a small C kernel for the full-vocabulary work (``kernel``, which
falls back to numpy): filters, penalties, DRY, smoothing, mirostat and adaptive-p, numerics, text tracking, the ``Step``, the trace, the ``Sampler``, its ``SamplerSettings`` and the
stages they are made of (``dyntemp.core.stages``, where a user registers their own).
Nothing here imports llama.cpp."""

from .dry import dry
from .filters import min_p, top_k, top_n_sigma, top_p, typical_p, xtc
from .penalties import apply_penalties
from .selectors import AdaptiveP, Mirostat
from .results import GenerationResult, StreamPiece
from .sampler import Sampler
from .settings import DEFAULT_ORDER, STAGES, SamplerSettings
from .smoothing import quadratic_smoothing
from .stages import Setting, SettingError, Stage, list_stages, register_stage, unregister_stage
from .step import Step
from .text import TextTracker
from .trace import Trace, TraceRecord

__all__ = [
    "AdaptiveP", "DEFAULT_ORDER", "GenerationResult", "Mirostat", "STAGES", "Sampler", "SamplerSettings", "Setting",
    "SettingError", "Stage", "Step", "StreamPiece", "TextTracker", "Trace", "TraceRecord", "apply_penalties", "dry",
    "list_stages", "min_p", "quadratic_smoothing", "register_stage", "top_k", "top_n_sigma", "top_p", "typical_p",
    "unregister_stage", "xtc",
]
