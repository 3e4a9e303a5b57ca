"""``dyntemp.model`` is now ``dyntemp.llama.model``; this name keeps old imports working and warns once."""

import warnings

from dyntemp.llama.model import DEFAULT_MODEL_FILE, DEFAULT_MODEL_PACKAGE, ModelNotFoundError, default_model_path, load_model  # noqa: F401

warnings.warn("dyntemp.model is now dyntemp.llama.model", DeprecationWarning, stacklevel=2)
