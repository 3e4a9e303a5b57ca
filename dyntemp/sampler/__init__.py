"""The per-token sampling pipeline: filters, penalties, the Step view, drawing, the trace."""

from .filters import min_p, top_k, top_n_sigma, top_p, typical_p
from .penalties import apply_penalties
from .pipeline import DEFAULT_ORDER, STAGES, Sampler
from .step import Step
from .text import TextTracker
from .trace import Trace, TraceRecord

__all__ = [
    "DEFAULT_ORDER", "STAGES", "Sampler", "Step", "TextTracker", "Trace", "TraceRecord", "apply_penalties",
    "min_p", "top_k", "top_n_sigma", "top_p", "typical_p",
]
