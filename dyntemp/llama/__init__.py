"""Everything that touches llama.cpp (through llama-cpp-python): loading a model, reading its
logits, the generation loop, the logits hook for ``create_completion`` and llama.cpp's own sampler
chain as a reference. ``llama_cpp`` is imported when one of these is used, not with the package."""

from .generation import chat_prompt, generate, stream
from .hook import NEUTRAL_LLAMA_KWARGS, LogitsHook, logits_processor
from .logits import LogitsReader, last_logits, piece_decoder
from .model import DEFAULT_MODEL_FILE, DEFAULT_MODEL_PACKAGE, ModelNotFoundError, default_model_path, load_model

__all__ = [
    "DEFAULT_MODEL_FILE", "DEFAULT_MODEL_PACKAGE", "LogitsHook", "LogitsReader", "ModelNotFoundError",
    "NEUTRAL_LLAMA_KWARGS", "chat_prompt", "default_model_path", "generate", "last_logits", "load_model",
    "logits_processor", "piece_decoder", "stream",
]
