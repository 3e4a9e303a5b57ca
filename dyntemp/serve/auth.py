"""API keys: who may use the server, which models, and how many requests at once.

Keys come from ``--api-key KEY`` (or ``$DYNTEMP_API_KEY``), which may use everything, or a TOML keys
file, one table per key::

    [keys.alice]
    key = "sk-alice-..."
    models = ["SmolLM2-135M-Instruct.Q4_1"]   # optional: the models this key may use (default: all)
    max_concurrent = 2                        # optional: requests at once, queued ones included

A key is compared with every known key in constant time (``hmac.compare_digest`` of their SHA-256
digests), and never logged or echoed back.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Mapping, Sequence

from .. import _validate
from ..api.errors import APIError

_KEY_FIELDS = ("key", "models", "max_concurrent")
RETRY_AFTER_SECONDS = 1  # what a 429 or a 503 tells the client to wait


@dataclass(frozen=True)
class Key:
    """One key's name (for the operator; the key itself is kept only as its digest) and its limits."""

    name: str
    digest: bytes
    models: frozenset[str] | None = None
    max_concurrent: int | None = None


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class Keyring:
    """The keys the server takes, and the requests each has running.

    >>> ring = Keyring.of_keys(["s3cret"])
    >>> ring.check("Bearer s3cret").name, ring.check("Bearer nope")
    Traceback (most recent call last):
    ...
    dyntemp.api.errors.APIError: invalid API key: give the server's key as Authorization: Bearer KEY
    """

    def __init__(self, keys: Sequence[Key]) -> None:
        self.keys = tuple(keys)
        self.running: dict[str, int] = {}

    @classmethod
    def of_keys(cls, keys: Sequence[str]) -> "Keyring":
        return cls([Key(f"key {i + 1}", _digest(key)) for i, key in enumerate(keys)])

    @classmethod
    def from_toml(cls, text: str, where: str, models: Sequence[str]) -> "Keyring":
        """The keys of a keys file's ``text``; a ``ValueError`` naming ``where`` and the key when malformed."""
        try:
            data = _validate.load_toml(text)
        except _validate.TOMLDecodeError as exc:
            raise ValueError(f"{where}: not valid TOML: {exc}") from None
        tables = data.get("keys")
        if set(data) - {"keys"} or not isinstance(tables, Mapping) or not tables:
            raise ValueError(f"{where}: a keys file has one [keys.NAME] table per key, with key = \"...\"")
        keys, seen = [], set()
        for name, table in tables.items():
            at = f"{where}: [keys.{name}]"
            if not isinstance(table, Mapping):
                raise ValueError(f"{at} must be a table")
            for field in table:
                if field not in _KEY_FIELDS:
                    raise ValueError(f"{at}: {_validate.unknown('field', field, _KEY_FIELDS)}")
            key = table.get("key")
            if not isinstance(key, str) or not key:
                raise ValueError(f"{at} needs key = \"...\", a non-empty string")
            if key in seen:
                raise ValueError(f"{at}: this key is given twice")
            seen.add(key)
            allowed = table.get("models")
            if allowed is not None:
                if not isinstance(allowed, list) or not all(isinstance(m, str) for m in allowed):
                    raise ValueError(f"{at}: models must be a list of model names")
                for model in allowed:
                    if model not in models:
                        raise ValueError(f"{at}: {_validate.unknown('model', model, models)}")
                allowed = frozenset(allowed)
            limit = table.get("max_concurrent")
            if limit is not None:
                try:
                    limit = _validate.integer("max_concurrent", limit, low=1)
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"{at}: {exc}") from None
            keys.append(Key(str(name), _digest(key), allowed, limit))
        return cls(keys)

    def check(self, authorization: str | None) -> Key:
        """The key of an ``Authorization`` header, or a 401."""
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise APIError("no API key: give it as Authorization: Bearer KEY", status=401, code="invalid_api_key")
        digest = _digest(given.strip())
        found = None
        for key in self.keys:  # every key compared, so that the time says nothing of which matched
            if hmac.compare_digest(digest, key.digest):
                found = key
        if found is None:
            raise APIError("invalid API key: give the server's key as Authorization: Bearer KEY", status=401,
                           code="invalid_api_key")
        return found

    def allow_model(self, key: Key, model: str) -> None:
        """A 403 when ``key`` may not use ``model``."""
        if key.models is not None and model not in key.models:
            raise APIError(f"this API key may not use model {model!r}; it may use: {', '.join(sorted(key.models))}",
                           status=403, param="model", code="model_not_allowed")

    def enter(self, key: Key) -> None:
        """Count a request of ``key``; a 429 beyond its ``max_concurrent``."""
        running = self.running.get(key.name, 0)
        if key.max_concurrent is not None and running >= key.max_concurrent:
            raise APIError(f"this API key has {running} requests running, its limit (max_concurrent); retry when "
                           f"one ends", status=429, code="rate_limit_exceeded",
                           headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        self.running[key.name] = running + 1

    def leave(self, key: Key) -> None:
        self.running[key.name] -= 1
