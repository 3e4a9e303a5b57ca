"""What one server holds, on ``app.state.server``: its models, the request defaults and limits,
the keys, the metrics, and the running requests (stopped at shutdown)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .. import _validate
from ..api.errors import APIError
from ..api.jobs import Defaults
from ..api.limits import Limits
from .auth import Key, Keyring
from .metrics import Metrics
from .slots import ServedModel


@dataclass
class Server:
    models: dict[str, ServedModel]
    defaults: Defaults
    limits: Limits
    keys: Keyring | None
    metrics: Metrics
    running: set[threading.Event] = field(default_factory=set)

    def served(self, name: str | None, key: Key | None) -> ServedModel:
        """The model a request names (the only one when it names none), if its key may use it."""
        if name is None:
            if len(self.models) > 1:
                raise APIError(f"model is required: this server has {', '.join(self.models)}", param="model")
            name = next(iter(self.models))
        if name not in self.models:
            raise APIError(_validate.unknown("model", name, self.models, listing="This server has"), param="model",
                           code="model_not_found")
        if key is not None:
            self.keys.allow_model(key, name)
        return self.models[name]

    def close(self) -> None:
        for cancelled in list(self.running):  # what the grace period did not finish stops at its next piece
            cancelled.set()
        for model in self.models.values():
            model.close()
