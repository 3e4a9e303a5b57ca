"""The sampler's stages as objects: each built-in and user stage a ``Stage`` class declaring its
settings (``Setting``), registered by name (``register_stage``) in a default order. Everything that
lists or takes settings — ``SamplerSettings``, the command line's flags, the server's request
schema, ``dyntemp strategies`` — is made from the declarations here."""

from .base import Candidates, Stage, StepContext
from .declare import Declared, Setting, SettingError, SettingTypeError, choice, integer, number
from .general import stage_name
from .registry import (UnknownStageError, default_order, groups, list_stages, register_stage, settings, stage_class,
                       stage_of_setting, unregister_stage)

__all__ = ["Candidates", "Declared", "Setting", "SettingError", "SettingTypeError", "Stage", "StepContext",
           "UnknownStageError", "choice", "default_order", "groups", "integer", "list_stages", "number", "register_stage",
           "settings", "stage_class", "stage_name", "stage_of_setting", "unregister_stage"]
