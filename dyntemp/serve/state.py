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
    running: dict[threading.Event, Key | None] = field(default_factory=dict)  # each request's stop, its key

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

    def abort(self, key: Key | None) -> int:
        """Stop the running generations of ``key`` (without keys: all of them); how many."""
        stopped = [cancelled for cancelled, owner in list(self.running.items()) if owner is key]
        for cancelled in stopped:
            cancelled.set()
        return len(stopped)

    def close(self) -> None:
        for cancelled in list(self.running):  # what the grace period did not finish stops at its next piece
            cancelled.set()
        for model in self.models.values():
            model.close()
