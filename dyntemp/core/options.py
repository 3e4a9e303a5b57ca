"""How front ends take sampler settings from their users: the stage each setting belongs to, the
value that turns it off, llama.cpp's rules for which stages run (``as_llama_cpp``), and which of
the user's values an error is about (``blame``). The command line and the server use them, so that
their users get llama.cpp's behaviour; the library takes settings as they are."""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

from .. import _validate
from . import filters
from .settings import STAGES, SamplerSettings, stage_name

#: The stage each setting belongs to.
SETTING_STAGE = {"top_k": "top_k", "top_p": "top_p", "min_p": "min_p", "typical_p": "typical_p",
                 "top_n_sigma": "top_n_sigma", "repeat_penalty": "penalties", "frequency_penalty": "penalties",
                 "presence_penalty": "penalties", "penalty_last_n": "penalties", "xtc_probability": "xtc",
                 "xtc_threshold": "xtc", "dry_multiplier": "dry", "dry_base": "dry", "dry_allowed_length": "dry",
                 "dry_penalty_last_n": "dry", "dry_sequence_breakers": "dry", "smoothing_factor": "smoothing",
                 "smoothing_curve": "smoothing", "mirostat": "mirostat", "mirostat_eta": "mirostat",
                 "mirostat_tau": "mirostat", "adaptive_target": "adaptive_p", "adaptive_decay": "adaptive_p"}
#: The settings whose value turns their stage off, and that value (llama.cpp's neutral ones).
OFF_VALUES = {"top_k": 0, "top_p": 1.0, "min_p": 0.0, "typical_p": 1.0, "top_n_sigma": -1.0, "repeat_penalty": 1.0,
              "frequency_penalty": 0.0, "presence_penalty": 0.0, "xtc_probability": 0.0, "dry_multiplier": 0.0,
              "smoothing_factor": 0.0, "mirostat": 0, "adaptive_target": -1.0}


def as_llama_cpp(given: Mapping[str, Any]) -> dict:
    """``given`` settings with the stages turned off that llama.cpp would not run: with ``mirostat``
    1 or 2 the truncating filters (llama.cpp's mirostat replaces the chain), with an ``order`` the
    stages it leaves out (llama.cpp runs only the samplers listed); a stage with a setting in
    ``given`` stays as given. Used by the command line and the server, so that their users get
    llama.cpp's behaviour; the library itself takes settings as they are.

    >>> as_llama_cpp({"mirostat": 2, "top_k": 20})["top_p"], as_llama_cpp({"order": "top_k;temperature"})["min_p"]
    (1.0, 0.0)
    """
    out = dict(given)
    off = set()
    if given.get("mirostat") in (1, 2):
        off.update(stage for stage in STAGES if stage in filters.KEEP)
    if given.get("order") is not None:
        off.update(stage for stage in STAGES if stage not in _stages_in(given["order"]))
    for stage in off:
        settings = [name for name, of in SETTING_STAGE.items() if of == stage]
        if not any(name in given for name in settings):
            out.update({name: OFF_VALUES[name] for name in settings if name in OFF_VALUES})
    return out


def blame(given: Mapping[str, tuple[str, Any]], error: BaseException) -> str | None:
    """Which of ``given`` (a label such as a flag or a request field → ``(setting, value)``) makes
    ``error``, the error the settings made, on its own: the one to name in the message.

    >>> try:
    ...     SamplerSettings(1.0, top_k=5, top_p=2.0)
    ... except ValueError as exc:
    ...     blame({"--top-k": ("top_k", 5), "--top-p": ("top_p", 2.0)}, exc)
    '--top-p'
    """
    message = _validate.message_of(error)
    for label, (setting, value) in given.items():
        try:
            with warnings.catch_warnings():  # only a check: the settings made for the work warn
                warnings.simplefilter("ignore")
                SamplerSettings(1.0, **{setting: value})
        except (TypeError, ValueError) as alone:
            if _validate.message_of(alone) == message:
                return label
    return None


def _stages_in(order: "Sequence[str] | str") -> set[str]:
    """The stages ``order`` names (an unknown name is reported when the settings are checked)."""
    names = set()
    for name in order.replace(",", ";").split(";") if isinstance(order, str) else order:
        try:
            names.add(stage_name(name))
        except (ValueError, AttributeError):
            pass
    return names
