"""Everything that touches llama.cpp (through llama-cpp-python): loading a model, reading its
logits, the generation loop, the logits hook for ``create_completion`` and llama.cpp's own sampler
chain as a reference. ``llama_cpp`` is imported when one of these is used, not with the package."""

import warnings

from .dry import dry_breakers
from .generation import chat_prompt, chat_tokens, generate, prompt_tokens, stream
from .hook import NEUTRAL_LLAMA_KWARGS, LogitsHook, logits_processor
from .logits import LogitsReader, eog_tokens, last_logits, piece_decoder
from .model import DEFAULT_MODEL_FILE, DEFAULT_MODEL_PACKAGE, ModelNotFoundError, default_model_path, load_model

__all__ = [
    "DEFAULT_MODEL_FILE", "DEFAULT_MODEL_PACKAGE", "LogitsHook", "LogitsReader", "ModelNotFoundError", "dry_breakers",
    "eog_tokens",
    "NEUTRAL_LLAMA_KWARGS", "chat_prompt", "chat_tokens", "default_model_path", "generate", "last_logits", "load_model",
    "logits_processor", "piece_decoder", "prompt_tokens", "stream", "GrammarConstraint", "json_schema_grammar",
]

# llama-cpp-python opens /dev/null twice when imported (llama_cpp._utils) and never closes it, for its
# destructors to write to while Python shuts down: every process that loads a model would say so at
# exit where ResourceWarnings show (python -X dev, test runs). Those two files alone are not reported.
warnings.filterwarnings("ignore", r"unclosed file <_io\.TextIOWrapper name='/dev/null' mode='w'", ResourceWarning)


def __getattr__(name: str):
    # The grammar module loads llama.cpp's library: only when a grammar is used.
    if name in ("GrammarConstraint", "json_schema_grammar"):
        from . import grammar

        return getattr(grammar, name)
    raise AttributeError(f"module 'dyntemp.llama' has no attribute {name!r}")
