"""What a sweep runs: strategy settings (a grid per strategy), suites, seeds and sampler settings.

A strategy spec on the command line is ``NAME`` or ``NAME:KEY=V1,V2,...[:KEY=V1,...]``; each key
with several values is an axis of the strategy's grid. The same sweep can be written as a TOML file:

.. code-block:: toml

    suites = ["qa", "creative"]
    seeds = 3
    limit = 40           # or per suite: limit = { qa = 60, creative = 12 }

    [sampler]            # Sampler keyword arguments, the same for every setting
    top_k = 40

    [[strategy]]
    name = "constant"
    grid = { temperature = [0.3, 0.7, 1.0, 1.5] }

    [[strategy]]
    name = "edt"
    theta = 0.6          # a fixed parameter
    grid = { t0 = [0.5, 1.0] }

Everything is checked when the spec is read, before a model is loaded.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .. import _validate
from ..sampler import Sampler
from ..strategies import get_strategy

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

_SWEEP_KEYS = ("suites", "strategy", "seeds", "limit", "max_tokens", "sampler", "model", "scorer", "workers", "out",
               "n_ctx", "n_threads", "n_gpu_layers")


class SweepSpecError(ValueError):
    """A strategy spec or sweep file that cannot be run; the message says where and why."""


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True)
class Setting:
    """One strategy with one set of parameters: a point of a strategy's grid.

    >>> s = Setting("edt", {"theta": 0.6})
    >>> s.key, s.label
    ('edt:theta=0.6', 'theta=0.6')
    >>> s.make().temperature  # doctest: +ELLIPSIS
    <bound method ...>
    """

    strategy: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The setting's identity in a run, e.g. ``constant:temperature=0.7``."""
        return ":".join([self.strategy, *(f"{k}={_dump(v)}" for k, v in self.params.items())])

    @property
    def label(self) -> str:
        """A short label for plots: the parameters (``defaults`` when there are none)."""
        return ", ".join(f"{k}={_dump(v)}" for k, v in self.params.items()) or "defaults"

    def make(self):
        """A fresh strategy instance for this setting."""
        return get_strategy(self.strategy, **self.params)

    def __hash__(self) -> int:
        return hash(self.key)


def grid(strategy: str, axes: Mapping[str, Sequence] | None = None, fixed: Mapping[str, Any] | None = None,
         *, where: str = "strategy") -> list[Setting]:
    """Every combination of the ``axes`` values (with the ``fixed`` parameters), checked by building
    each strategy once.

    >>> [s.key for s in grid("constant", {"temperature": [0.5, 1.0]})]
    ['constant:temperature=0.5', 'constant:temperature=1.0']
    """
    axes, fixed = dict(axes or {}), dict(fixed or {})
    for key, values in axes.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise SweepSpecError(f"{where}: grid values of {key!r} must be a non-empty list, got {values!r}")
    both = sorted(set(axes) & set(fixed))
    if both:
        raise SweepSpecError(f"{where}: {', '.join(both)} given both as fixed and in the grid")
    settings = []
    for values in itertools.product(*axes.values()):
        setting = Setting(strategy, {**fixed, **dict(zip(axes, values))})
        try:
            setting.make()
        except (KeyError, TypeError, ValueError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            raise SweepSpecError(f"{where}: {message}") from None
        settings.append(setting)
    return settings


def _value(text: str, where: str) -> Any:
    if not text:
        raise SweepSpecError(f"{where}: empty value")
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_strategy(spec: str) -> list[Setting]:
    """The settings of one ``--strategy`` spec: ``NAME[:KEY=V1,V2,...]...``.

    >>> [s.label for s in parse_strategy("edt:theta=0.3,0.6:t0=1.0")]
    ['theta=0.3, t0=1.0', 'theta=0.6, t0=1.0']
    >>> parse_strategy("dynatemp")[0].key
    'dynatemp'
    """
    where = f"--strategy {spec!r}"
    if not isinstance(spec, str) or not spec.strip():
        raise SweepSpecError(f"--strategy needs a strategy name, got {spec!r}")
    name, *parts = spec.strip().split(":")
    axes: dict[str, list] = {}
    for part in parts:
        key, sep, values = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SweepSpecError(f"{where}: expected KEY=V1,V2,... after ':', got {part!r}")
        if key in axes:
            raise SweepSpecError(f"{where}: {key!r} is given twice")
        axes[key] = [_value(v.strip(), where) for v in values.split(",")]
    return grid(name.strip(), axes, where=where)


@dataclass
class Sweep:
    """A whole sweep: every setting on every item of every suite with every seed.

    ``sampler`` holds ``Sampler`` keyword arguments shared by all settings (filters, penalties);
    ``limit`` takes the first N items of each suite (a dict: per suite name); ``max_tokens`` caps
    each item's own token budget (for a quick look); seeds are ``0 .. seeds-1``; ``model`` and
    ``scorer`` are GGUF paths (``None``: the default model, no scorer). ``n_threads`` is each
    worker's llama.cpp threads (``None``: the physical cores split between the workers);
    ``n_gpu_layers`` as in ``load_model``. Neither changes what is generated, so a run folder does
    not record them.

    >>> sweep = Sweep(["qa"], parse_strategy("constant:temperature=0.3,1.0"), seeds=2, limit=5)
    >>> len(sweep.settings), sweep.seeds
    (2, 2)
    """

    suites: list[str]
    settings: list[Setting]
    seeds: int = 3
    limit: int | Mapping[str, int] | None = None
    max_tokens: int | None = None
    sampler: dict = field(default_factory=dict)
    model: str | None = None
    scorer: str | None = None
    workers: int = 1
    n_ctx: int = 2048
    n_threads: int | None = None
    n_gpu_layers: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.suites, str) or not self.suites or not all(isinstance(s, (str, os.PathLike))
                                                                      for s in self.suites):
            raise SweepSpecError(f"suites must be a non-empty list of suite names or files, got {self.suites!r}")
        self.suites = [os.fspath(s) for s in self.suites]
        if not self.settings:
            raise SweepSpecError("a sweep needs at least one strategy")
        keys = [s.key for s in self.settings]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise SweepSpecError(f"setting(s) given twice: {', '.join(repeated)}")
        try:
            self.seeds = _validate.integer("seeds", self.seeds, low=1)
            if isinstance(self.limit, Mapping):
                self.limit = {str(k): _validate.integer(f"limit.{k}", v, low=1) for k, v in self.limit.items()}
            elif self.limit is not None:
                self.limit = _validate.integer("limit", self.limit, low=1)
            if self.max_tokens is not None:
                self.max_tokens = _validate.integer("max_tokens", self.max_tokens, low=1)
            self.workers = _validate.integer("workers", self.workers, low=1)
            self.n_ctx = _validate.integer("n_ctx", self.n_ctx, low=64)
            if self.n_threads is not None:
                self.n_threads = _validate.integer("n_threads", self.n_threads, low=1)
            self.n_gpu_layers = _validate.integer("n_gpu_layers", self.n_gpu_layers, low=-1)
            if not isinstance(self.sampler, Mapping):
                raise TypeError(f"sampler must be a table of Sampler settings, got {self.sampler!r}")
            if "seed" in self.sampler:
                raise ValueError("sampler.seed cannot be set: each generation's seed comes from seeds")
            Sampler(1.0, **self.sampler)
        except (TypeError, ValueError) as exc:
            raise SweepSpecError(str(exc)) from None
        for name in ("model", "scorer"):
            path = getattr(self, name)
            if path is not None:
                setattr(self, name, os.fspath(path))

    def threads_per_worker(self) -> int:
        """llama.cpp threads of each worker: ``n_threads``, or the physical cores split between them.

        >>> Sweep(["qa"], parse_strategy("dynatemp"), workers=10**6).threads_per_worker()
        1
        """
        from ..host import default_threads

        return self.n_threads or default_threads(self.workers)

    def limit_for(self, suite: str) -> int | None:
        """How many items of ``suite`` (its name) the sweep takes; ``None``: all.

        >>> Sweep(["qa"], parse_strategy("dynatemp"), limit={"qa": 5}).limit_for("creative") is None
        True
        """
        return self.limit.get(suite) if isinstance(self.limit, Mapping) else self.limit

    def strategy_counts(self) -> dict[str, int]:
        """How many settings each strategy has (equal counts make a fair comparison)."""
        counts: dict[str, int] = {}
        for setting in self.settings:
            counts[setting.strategy] = counts.get(setting.strategy, 0) + 1
        return counts


def load_sweep(path: str | os.PathLike, **overrides: Any) -> Sweep:
    """Read a sweep TOML file (see the module docstring); ``overrides`` that are not ``None``
    replace the file's values (``settings`` replaces its strategies).

    Relative ``suites`` files, ``model`` and ``scorer`` paths are taken from the file's folder.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"sweep file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SweepSpecError(f"{path}: not valid TOML: {exc}") from None
    unknown = [k for k in data if k not in _SWEEP_KEYS]
    if unknown:
        close = _validate.closest(unknown[0], _SWEEP_KEYS)
        hint = f" Did you mean {close!r}?" if close else ""
        raise SweepSpecError(f"{path}: unknown key {unknown[0]!r}.{hint} Allowed: {', '.join(_SWEEP_KEYS)}")
    here = os.path.dirname(os.path.abspath(path))

    def local(p: str) -> str:
        return p if os.path.isabs(p) else os.path.join(here, p) if os.path.exists(os.path.join(here, p)) else p

    settings = []
    tables = data.pop("strategy", [])
    if not isinstance(tables, list):
        raise SweepSpecError(f"{path}: strategies are [[strategy]] tables")
    for i, table in enumerate(tables, 1):
        where = f"{path}: [[strategy]] #{i}"
        table = dict(table)
        name = table.pop("name", None)
        if not isinstance(name, str):
            raise SweepSpecError(f"{where} needs a name = \"...\"")
        axes = table.pop("grid", {})
        if not isinstance(axes, dict):
            raise SweepSpecError(f"{where}: grid must be a table of lists, got {axes!r}")
        settings += grid(name, axes, table, where=where)
    suites = data.pop("suites", ["qa"])
    if isinstance(suites, list):
        suites = [local(s) if isinstance(s, str) and s.endswith(".jsonl") else s for s in suites]
    for name in ("model", "scorer"):
        if isinstance(data.get(name), str):
            data[name] = local(data[name])
    data.pop("out", None)
    values = {"suites": suites, "settings": settings, **data}
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Sweep(**values)
    except SweepSpecError as exc:
        raise SweepSpecError(f"{path}: {exc}") from None


def sweep_out(path: str | os.PathLike) -> str | None:
    """The ``out`` folder a sweep file names, if any (relative to the current folder, like ``--out``)."""
    with open(path, "rb") as f:
        out = tomllib.load(f).get("out")
    if out is None:
        return None
    if not isinstance(out, str):
        raise SweepSpecError(f"{os.fspath(path)}: out must be a folder path, got {out!r}")
    return out
