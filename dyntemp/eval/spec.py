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

import importlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .. import _validate
from ..core.settings import SamplerSettings
from ..core.stops import check_stop
from ..strategies.spec import SpecError, StrategySpec, grid, parse_grid

if TYPE_CHECKING:
    from .suites import Suite

_SWEEP_KEYS = ("suites", "strategy", "seeds", "limit", "max_tokens", "sampler", "model", "scorer", "workers", "out",
               "n_ctx", "n_threads", "n_gpu_layers", "imports", "unisolated_code", "backend", "ray_address",
               "batch_size", "chat_template", "stop")

#: A sweep or strategy spec that cannot be run; the message says where and why.
SweepSpecError = SpecError
#: One point of a strategy's grid: a strategy spec.
Setting = StrategySpec


def parse_strategy(spec: str) -> list[StrategySpec]:
    """The settings of one ``--strategy`` spec: ``NAME[:KEY=V1,V2,...]...`` (see ``dyntemp.strategies.spec``).

    >>> [s.label for s in parse_strategy("edt:theta=0.3,0.6:t0=1.0")]
    ['theta=0.3, t0=1.0', 'theta=0.6, t0=1.0']
    >>> parse_strategy("dynatemp")[0].key
    'dynatemp'
    """
    return parse_grid(spec, where=f"--strategy {spec!r}")


@dataclass
class Sweep:
    """A whole sweep: every setting on every item of every suite with every seed.

    ``sampler`` holds ``Sampler`` keyword arguments shared by all settings (filters, penalties);
    ``limit`` takes the first N items of each suite (a dict: per suite name); ``max_tokens`` caps
    each item's own token budget (for a quick look); seeds are ``0 .. seeds-1``; ``model`` and
    ``scorer`` are GGUF paths (``None``: the default model, no scorer). ``n_threads`` is each
    worker's llama.cpp threads (``None``: the physical cores split between the workers);
    ``n_gpu_layers`` as in ``load_model``. Neither changes what is generated, so a run folder does
    not record them. ``imports`` names modules every worker imports before it builds a strategy:
    those that register the sweep's own strategies (``@dyntemp.register_strategy``).
    ``unisolated_code=True`` runs the code suite's generated code without the kernel's isolation
    (see ``dyntemp.eval.sandbox``), where bubblewrap cannot run. ``backend`` ``"ray"`` runs the
    generations on ``workers`` Ray actors (``ray_address``: a cluster to join; ``None``: a local
    Ray); like the threads, it changes nothing that is generated. Nor does ``batch_size``: the
    sequences each worker decodes together, one llama.cpp batch per token (the seeds of a prompt
    evaluate it once). ``chat_template`` is the text of a Jinja chat template for the chat items
    (``None``: the model's own), for a model without one such as a base model; in a TOML file it is
    the template file's path. ``stop`` holds stop strings for every item, besides the item's own:
    with a base model's template, where the reply ends. ``items`` keeps only the items of these ids
    in a suite (by its name), after ``limit``: a part of a suite, as ``dyntemp tune`` splits one.

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
    imports: list[str] = field(default_factory=list)
    unisolated_code: bool = False
    backend: str = "local"
    ray_address: str | None = None
    batch_size: int = 1
    chat_template: str | None = None
    stop: Sequence[str] = ()
    items: Mapping[str, Sequence[str]] | None = None

    def __post_init__(self) -> None:
        if self.backend not in ("local", "ray"):
            raise SweepSpecError(f"backend must be local or ray, got {self.backend!r}")
        if not isinstance(self.unisolated_code, bool):
            raise SweepSpecError(f"unisolated_code must be true or false, got {self.unisolated_code!r}")
        if isinstance(self.imports, str) or not all(isinstance(m, str) and m for m in self.imports):
            raise SweepSpecError(f"imports must be a list of module names, got {self.imports!r}")
        self.imports = list(self.imports)
        if isinstance(self.suites, str) or not self.suites or not all(isinstance(s, (str, os.PathLike))
                                                                      for s in self.suites):
            raise SweepSpecError(f"suites must be a non-empty list of suite names or files, got {self.suites!r}")
        self.suites = [os.fspath(s) for s in self.suites]
        _check_suite_names(self.suites)
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
            self.batch_size = _validate.integer("batch_size", self.batch_size, low=1)
            self.n_ctx = _validate.integer("n_ctx", self.n_ctx, low=64)
            if self.n_threads is not None:
                self.n_threads = _validate.integer("n_threads", self.n_threads, low=1)
            self.n_gpu_layers = _validate.integer("n_gpu_layers", self.n_gpu_layers, low=-1)
            if not isinstance(self.sampler, Mapping):
                raise TypeError(f"sampler must be a table of Sampler settings, got {self.sampler!r}")
            if "seed" in self.sampler:
                raise ValueError("sampler.seed cannot be set: each generation's seed comes from seeds")
            SamplerSettings(1.0, **self.sampler)
            self.stop = check_stop(self.stop)
            if self.chat_template is not None:
                _validate.chat_template("chat_template", self.chat_template)
            if self.items is not None:
                if not isinstance(self.items, Mapping) or not all(
                        isinstance(ids, (list, tuple)) and all(isinstance(i, str) for i in ids)
                        for ids in self.items.values()):
                    raise TypeError(f"items must map a suite's name to a list of item ids, got {self.items!r:.120}")
                self.items = {str(suite): tuple(ids) for suite, ids in self.items.items()}
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
        from ..threads import default_threads

        return self.n_threads or default_threads(self.workers)

    def limit_for(self, suite: str) -> int | None:
        """How many items of ``suite`` (its name) the sweep takes; ``None``: all.

        >>> Sweep(["qa"], parse_strategy("dynatemp"), limit={"qa": 5}).limit_for("creative") is None
        True
        """
        return self.limit.get(suite) if isinstance(self.limit, Mapping) else self.limit

    def items_of(self, suite: "Suite") -> list:
        """The items of ``suite`` the sweep runs: the first ``limit``, then those ``items`` names.

        >>> from dyntemp.eval.suites import load_suite
        >>> qa = load_suite("qa")
        >>> ids = [item.id for item in Sweep(["qa"], parse_strategy("dynatemp"), limit=3).items_of(qa)]
        >>> len(ids), [i.id for i in Sweep(["qa"], parse_strategy("dynatemp"), items={"qa": ids[1:2]}).items_of(qa)] == ids[1:2]
        (3, True)
        """
        items = list(suite)[:self.limit_for(suite.name)]
        wanted = None if self.items is None else self.items.get(suite.name)
        if wanted is None:
            return items
        known = {item.id for item in items}
        missing = [i for i in wanted if i not in known]
        if missing:
            raise SweepSpecError(f"items: suite {suite.name} has no item {missing[0]!r}"
                                 + (f" among its first {len(items)}" if self.limit_for(suite.name) else ""))
        chosen = set(wanted)
        return [item for item in items if item.id in chosen]

    def strategy_counts(self) -> dict[str, int]:
        """How many settings each strategy has (equal counts make a fair comparison)."""
        counts: dict[str, int] = {}
        for setting in self.settings:
            counts[setting.name] = counts.get(setting.name, 0) + 1
        return counts


def _check_suite_names(suites: list[str]) -> None:
    """A suite is known in a run by its name (a file's stem): each name once, for one suite."""
    from .suites import list_suites

    seen: dict[str, str] = {}
    for suite in suites:
        builtin = suite in list_suites()
        name = suite if builtin else os.path.splitext(os.path.basename(suite))[0]
        where = suite if builtin else os.path.realpath(suite)
        if name in seen:
            if seen[name] == where:
                raise SweepSpecError(f"suite {suite!r} is given twice")
            raise SweepSpecError(f"two suites would be named {name!r} in the run: {seen[name]} and {where}; "
                                 f"rename one of the files")
        seen[name] = where


def load_sweep(path: str | os.PathLike, **overrides: Any) -> Sweep:
    """Read a sweep TOML file (see the module docstring); ``overrides`` that are not ``None``
    replace the file's values (``settings`` replaces its strategies).

    Relative ``suites`` files, ``model``, ``scorer`` and ``chat_template`` paths are taken from the
    file's folder.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = _validate.load_toml(f.read())
    except FileNotFoundError:
        raise FileNotFoundError(f"sweep file not found: {path}") from None
    except _validate.TOMLDecodeError as exc:
        raise SweepSpecError(f"{path}: not valid TOML: {exc}") from None
    unknown = [k for k in data if k not in _SWEEP_KEYS]
    if unknown:
        raise SweepSpecError(f"{path}: {_validate.unknown('key', unknown[0], _SWEEP_KEYS)}")
    here = os.path.dirname(os.path.abspath(path))
    imports = data.get("imports", [])
    if isinstance(imports, list) and all(isinstance(m, str) for m in imports):
        for module in imports:  # before the strategies: they may be the modules' own
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise SweepSpecError(f"{path}: imports: cannot import {module!r}: {exc}") from None

    def local(p: str) -> str:
        return p if os.path.isabs(p) else os.path.join(here, p) if os.path.exists(os.path.join(here, p)) else p

    settings = []
    tables = data.pop("strategy", [])
    if not isinstance(tables, list):
        raise SweepSpecError(f"{path}: strategies are [[strategy]] tables")
    for i, table in enumerate(tables, 1):
        where = f"{path}: [[strategy]] #{i}"
        table = dict(table)
        axes = table.pop("grid", {})
        if not isinstance(axes, dict):
            raise SweepSpecError(f"{where}: grid must be a table of lists, got {axes!r}")
        fixed = StrategySpec.from_dict(table, where)
        settings += grid(fixed.name, axes, fixed.params, where=where)
    suites = data.pop("suites", ["qa"])
    if isinstance(suites, list):
        suites = [local(s) if isinstance(s, str) and s.endswith(".jsonl") else s for s in suites]
    for name in ("model", "scorer"):
        if isinstance(data.get(name), str):
            data[name] = local(data[name])
    if isinstance(data.get("chat_template"), str):
        data["chat_template"] = _template_text(path, local(data["chat_template"]))
    data.pop("out", None)
    values = {"suites": suites, "settings": settings, **data}
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Sweep(**values)
    except SweepSpecError as exc:
        raise SweepSpecError(f"{path}: {exc}") from None


def _template_text(path: str, template: str) -> str:
    """The text of the chat template file a sweep file names."""
    try:
        with open(template, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise SweepSpecError(f"{path}: chat_template: cannot read {template}: {_validate.message_of(exc)}") from None


def sweep_out(path: str | os.PathLike) -> str | None:
    """The ``out`` folder a sweep file names, if any (relative to the current folder, like ``--out``)."""
    with open(path, "rb") as f:
        out = _validate.load_toml(f.read()).get("out")
    if out is None:
        return None
    if not isinstance(out, str):
        raise SweepSpecError(f"{os.fspath(path)}: out must be a folder path, got {out!r}")
    return out
