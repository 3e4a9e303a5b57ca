"""``dyntemp.sampler`` is now ``dyntemp.core``; this name keeps old imports working and warns once."""

import warnings

from dyntemp.core import DEFAULT_ORDER, STAGES, Sampler, Step, TextTracker, Trace, TraceRecord, apply_penalties, min_p, top_k, top_n_sigma, top_p, typical_p  # noqa: F401

warnings.warn("dyntemp.sampler is now dyntemp.core", DeprecationWarning, stacklevel=2)
