"""``dyntemp.sampler.loop`` is now ``dyntemp.llama.logits``; this name keeps old imports working and warns once."""

import warnings

from dyntemp.llama.logits import LogitsReader, last_logits, piece_decoder  # noqa: F401

warnings.warn("dyntemp.sampler.loop is now dyntemp.llama.logits", DeprecationWarning, stacklevel=2)
