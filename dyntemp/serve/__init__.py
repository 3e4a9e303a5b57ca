"""The OpenAI-compatible server (``dyntemp serve``): requests → settings → slots → responses.

Every strategy is reachable from any OpenAI client (the ``openai`` package, curl, SillyTavern, Open
WebUI, LangChain) through dyntemp's request fields, next to OpenAI's and llama-server's.

>>> from dyntemp.serve import ModelFile, create_app, load_models
>>> models = load_models([ModelFile("smol", None)], parallel=1, threads=1, n_ctx=256, max_queue=4)
>>> create_app(models).title
'dyntemp'
"""

from .app import create_app
from .auth import Keyring
from ..api.jobs import Defaults
from .slots import ModelFile, load_models, model_name

__all__ = ["Defaults", "Keyring", "ModelFile", "create_app", "load_models", "model_name"]
