"""``dyntemp.native`` is now ``dyntemp.llama.native``; this name keeps old imports working and warns once."""

import warnings

from dyntemp.llama.native import NativeChain  # noqa: F401

warnings.warn("dyntemp.native is now dyntemp.llama.native", DeprecationWarning, stacklevel=2)
