"""How front ends take sampler settings from their users: the stage each setting belongs to, the
value that turns it off, llama.cpp's rules for which stages run (``as_llama_cpp``), and which of
the user's values an error is about (``blame``). The command line and the server use them, so that
their users get llama.cpp's behaviour; the library takes settings as they are. All of it is read
from the stages' declarations (``dyntemp.core.stages``)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .stages import SettingError, default_order, registry, stage_class, stage_name


def setting_stage() -> dict[str, str | None]:
    """The stage each setting belongs to (``None``: the sampler's own, as ``seed``)."""
    return registry.stage_of_setting()


def off_values() -> dict[str, Any]:
    """The settings whose value turns their stage off, and that value (llama.cpp's neutral ones)."""
    return {setting.name: setting.off for setting in registry.settings() if setting.off is not None}


def as_llama_cpp(given: Mapping[str, Any], *, order_wins: bool = False) -> dict:
    """``given`` settings with the stages turned off that llama.cpp would not run: with ``mirostat``
    1 or 2 the truncating filters (llama.cpp's mirostat replaces the chain), with an ``order`` the
    stages it leaves out (llama.cpp runs only the samplers listed); a stage with a setting in
    ``given`` stays as given, unless ``order_wins`` (a frontend that sends every setting, as
    llama-server reads it: a stage left out of the order does not run). Used by the command line and
    the server, so that their users get llama.cpp's behaviour; the library itself takes settings as
    they are.

    >>> as_llama_cpp({"mirostat": 2, "top_k": 20})["top_p"], as_llama_cpp({"order": "top_k;temperature"})["min_p"]
    (1.0, 0.0)
    """
    out = dict(given)
    off = set()
    if given.get("mirostat") in (1, 2):
        off.update(stage for stage in default_order() if stage_class(stage).truncates)
    left_out = set()
    if given.get("order") is not None:
        left_out = {stage for stage in default_order() if stage not in _stages_in(given["order"])}
    for stage in off | left_out:
        settings = stage_class(stage).settings
        if (order_wins and stage in left_out) or not any(setting.name in given for setting in settings):
            out.update({setting.name: setting.off for setting in settings if setting.off is not None})
    return out


def blame(given: Mapping[str, tuple[str, Any]], error: BaseException) -> str | None:
    """Which of ``given`` (a label such as a flag or a request field → ``(setting, value)``) the
    ``error`` of the settings is about: the one its ``setting`` names (``None``: an error of
    several settings together).

    >>> from dyntemp.core.settings import SamplerSettings
    >>> try:
    ...     SamplerSettings(1.0, top_k=5, top_p=2.0)
    ... except ValueError as exc:
    ...     blame({"--top-k": ("top_k", 5), "--top-p": ("top_p", 2.0)}, exc)
    '--top-p'
    """
    setting = getattr(error, "setting", None) if isinstance(error, SettingError) else None
    return next((label for label, (name, _) in given.items() if name == setting), None)


def _stages_in(order: "Sequence[str] | str") -> set[str]:
    """The stages ``order`` names (an unknown name is reported when the settings are checked)."""
    names = set()
    for name in order.replace(",", ";").split(";") if isinstance(order, str) else order:
        try:
            names.add(stage_name(name))
        except (ValueError, AttributeError):
            pass
    return names
