"""Tuning strategies on equal budgets: every strategy gets the same number of trials.

Each trial is one setting of a strategy, drawn from its search space (``dyntemp.strategies.search``;
with ``tune_filters`` also top-k, top-p and min-p) by Optuna: TPE for one objective, NSGA-II for
two (quality and diversity: a Pareto front). A constant temperature is always among the
strategies, tuned the same way: it is what the others must beat.

No tuning on the test: the suite's items are split once (seeded, recorded) into a tuning part and
a held-out part. Trials score on the tuning part only; the best setting of each strategy (for two
objectives, its Pareto front) is then run on the held-out part and compared, paired by item, with
the best constant (``dyntemp.eval.compare``), in ``dyntemp.eval.tune_results``.

The folder holds ``tune.json`` (what the tune is: a resumed tune must be the same), ``optuna.db``
(the trials, Optuna's SQLite storage: a killed tune resumes where it was) and ``tuning/``, the run
folder of the trials' generations (one per filter setting with ``tune_filters``), which resume as
an eval's do. A second tune on the same folder is refused while one runs.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import _validate
from ..files import replace_file
from ..strategies.search import Range, search_space
from ..strategies.spec import StrategySpec
from . import metric_info
from .compare import item_values
from .run_folder import locked, read_generations
from .spec import Sweep

#: What ``tune_filters`` searches: the values users set (categorical, so trials share run folders).
FILTER_CHOICES = {"top_k": (0, 10, 20, 40, 100), "top_p": (0.8, 0.9, 0.95, 1.0), "min_p": (0.0, 0.02, 0.05, 0.1, 0.2)}
HEADER = "tune.json"
TUNING, HELD_OUT = "tuning", "held-out"  # the run folders of the trials and of the held-out runs
STORAGE = "optuna.db"
BASELINE = "constant"
_DIGITS = 4  # suggested values are rounded to this many significant digits: short labels, same effect


class TuneError(ValueError):
    """A tune that cannot start or resume; the message says why."""


@dataclass
class Tune:
    """A tune: ``strategies`` (names) each get ``trials`` trials on the tuning part of ``suite``,
    scored by ``objectives`` (one or two metric names of ``dyntemp.eval.metric_info``); the last
    ``held_out`` share of the items, shuffled by ``split_seed``, is held out. ``sampler``: the
    ``Sampler`` settings every trial shares (with ``tune_filters``, top-k, top-p and min-p are
    searched instead). The rest is as in ``Sweep``.

    >>> Tune("qa", ["edt"], trials=4, objectives=["accuracy"]).strategies
    ['constant', 'edt']
    """

    suite: str
    strategies: list[str]
    trials: int
    objectives: list[str]
    seeds: int = 1
    limit: int | None = None
    held_out: float = 0.3
    split_seed: int = 0
    search_seed: int = 0
    sampler: dict = field(default_factory=dict)
    tune_filters: bool = False
    model: str | None = None
    scorer: str | None = None
    max_tokens: int | None = None
    n_ctx: int = 2048
    workers: int = 1
    batch_size: int = 1
    backend: str = "local"
    n_threads: int | None = None
    imports: list[str] = field(default_factory=list)
    chat_template: str | None = None
    stop: Sequence[str] = ()

    def __post_init__(self) -> None:
        self.trials = _validate.integer("trials", self.trials, low=1)
        self.seeds = _validate.integer("seeds", self.seeds, low=1)
        self.held_out = _validate.number("held_out", self.held_out, low=0.0, high=1.0, low_open=True, high_open=True)
        if not 1 <= len(self.objectives) <= 2 or len(set(self.objectives)) != len(self.objectives):
            raise TuneError(f"objectives: one metric, or two different ones (quality and diversity), got "
                            f"{list(self.objectives)!r}")
        for name in self.objectives:
            metric_info.check(name)
            k = name.partition("@")[2]
            if k.isdigit() and int(k) > self.seeds:
                raise TuneError(f"objective {name} needs at least {k} samples an item: give seeds >= {k}")
        self.strategies = [BASELINE, *(name for name in dict.fromkeys(self.strategies) if name != BASELINE)]
        for name in self.strategies:
            if not search_space(name):
                raise TuneError(f"strategy {name!r} declares no search space, so it cannot be tuned (see "
                                f"dyntemp strategies {name}; a strategy declares one as search_space)")
        fixed = [k for k in FILTER_CHOICES if k in self.sampler]
        if self.tune_filters and fixed:
            raise TuneError(f"tune_filters searches {', '.join(FILTER_CHOICES)}; {fixed[0]} is also given a fixed "
                            f"value: leave it out, or leave out tune_filters")
        self.sweep([], None, {})  # checks the rest as an eval would, before any work

    @property
    def directions(self) -> list[str]:
        return ["minimize" if m in metric_info.LOWER_IS_BETTER else "maximize" for m in self.objectives]

    def sweep(self, settings: Sequence[StrategySpec], items: Sequence[str] | None, filters: dict) -> Sweep:
        """The eval sweep of ``settings`` on ``items`` of the suite, with ``filters`` added to the sampler."""
        return Sweep([self.suite], list(settings) or [StrategySpec(BASELINE, {})], seeds=self.seeds,
                     limit=self.limit, max_tokens=self.max_tokens, sampler={**self.sampler, **filters},
                     model=self.model, scorer=self.scorer, workers=self.workers, n_ctx=self.n_ctx,
                     n_threads=self.n_threads, imports=self.imports, backend=self.backend,
                     batch_size=self.batch_size, chat_template=self.chat_template, stop=self.stop,
                     items=None if items is None else {self.suite_name: list(items)})

    @functools.cached_property
    def suite_name(self) -> str:
        """The suite's name in a run (a file's stem): loaded once, not for every trial's sweep."""
        from .suites import load_suite

        return load_suite(self.suite).name

    def header(self, tuning: list[str], held_out: list[str]) -> dict:
        """What ``tune.json`` records: everything that decides a trial's score, and the split."""
        from .runner import _run_header

        run = _run_header(self.sweep([], None, {}))
        return {"suite": self.suite_name, "objectives": list(self.objectives), "seeds": self.seeds,
                "tune_filters": self.tune_filters, "split_seed": self.split_seed, "held_out": self.held_out,
                **run, "tuning_items": tuning, "held_out_items": held_out}


def split(ids: Sequence[str], held_out: float, seed: int) -> tuple[list[str], list[str]]:
    """``(tuning, held out)``: a seeded shuffle of ``ids`` puts a ``held_out`` share (at least one)
    in the second part; each part keeps the suite's order.

    >>> split(["a", "b", "c", "d"], 0.5, seed=0)
    (['b', 'd'], ['a', 'c'])
    """
    if len(ids) < 2:
        raise TuneError(f"a tune needs at least 2 items to split into tuning and held-out parts, got {len(ids)}")
    order = np.random.default_rng(seed).permutation(len(ids))
    n_held = min(max(1, round(len(ids) * held_out)), len(ids) - 1)
    held = {ids[i] for i in order[:n_held]}
    return [i for i in ids if i not in held], [i for i in ids if i in held]


def _rounded(value: float, space: Range) -> float | int:
    if space.integer:
        return int(value)
    return float(f"{value:.{_DIGITS}g}")


def _suggest(trial, name: str, space: Range):
    if space.integer:
        return trial.suggest_int(name, int(space.low), int(space.high), log=space.log)
    return trial.suggest_float(name, space.low, space.high, log=space.log)


def filter_folder(base: Path, filters: dict) -> Path:
    """The run folder under ``base`` of the generations with ``filters`` (``base`` itself without
    ``tune_filters``: one sampler for all).

    >>> filter_folder(Path("t/tuning"), {"top_k": 40, "top_p": 0.95}).as_posix()
    't/tuning/top_k=40,top_p=0.95'
    """
    return base if not filters else base / ",".join(f"{k}={v}" for k, v in filters.items())


def objective_values(records, objectives: Sequence[str]) -> list[float]:
    """Each objective's mean over items (each item's value over its seeds first), as compare pairs them."""
    by_item: dict[str, list] = {}
    for record in records:
        by_item.setdefault(record.item, []).append(record)
    values = []
    for metric in objectives:
        per_item = item_values(by_item, metric)
        values.append(float(np.mean(list(per_item.values()))) if per_item else math.nan)
    return values


class Tuner:
    """Runs a ``Tune`` into a folder: ``run()`` makes the trials still missing, and returns the
    Optuna studies, one per strategy."""

    def __init__(self, tune: Tune, out: str | os.PathLike, progress: bool = True) -> None:
        self.tune, self.out, self.progress = tune, Path(out), progress
        self._spent: list[float] = []

    def run(self) -> dict:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with locked(self.out):
            header = self._header()
            storage = optuna.storages.RDBStorage(f"sqlite:///{self.out / STORAGE}")
            studies = {name: self._study(optuna, storage, name) for name in self.tune.strategies}
            left = {name: self.tune.trials - _counted(study) for name, study in studies.items()}
            total = sum(max(n, 0) for n in left.values())
            for name, study in studies.items():
                for _ in range(max(left[name], 0)):
                    self._trial(study, name, header["tuning_items"], total)
                    total -= 1
        return studies

    def _header(self) -> dict:
        from .suites import load_suite

        suite = load_suite(self.tune.suite)
        ids = [item.id for item in self.tune.sweep([], None, {}).items_of(suite)]
        header = self.tune.header(*split(ids, self.tune.held_out, self.tune.split_seed))
        path = self.out / HEADER
        if path.is_file():
            before = json.loads(path.read_text(encoding="utf-8"))
            changed = [k for k in header if before.get(k) != header[k]]
            if changed:
                raise TuneError(f"{self.out} holds a tune with {changed[0]}={before.get(changed[0])!r}, not "
                                f"{header[changed[0]]!r}: its trials would not compare; choose another --out")
        else:
            replace_file(path, json.dumps(header, indent=2))
        return header

    def _study(self, optuna, storage, name: str):
        sampler = (optuna.samplers.TPESampler(seed=self.tune.search_seed) if len(self.tune.objectives) == 1
                   else optuna.samplers.NSGAIISampler(seed=self.tune.search_seed))
        study = optuna.create_study(storage=storage, study_name=name, directions=self.tune.directions,
                                    sampler=sampler, load_if_exists=True)
        # A trial a killed tune left running is run again, with its parameters: its generations resume.
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
            study.enqueue_trial(trial.params)
        return study

    def _trial(self, study, name: str, items: list[str], left: int) -> None:
        import optuna

        from .runner import run_sweep

        start = time.monotonic()
        trial = study.ask()
        params = {k: _rounded(_suggest(trial, k, space), space) for k, space in search_space(name).items()}
        filters = ({k: trial.suggest_categorical(k, choices) for k, choices in FILTER_CHOICES.items()}
                   if self.tune.tune_filters else {})
        spec = StrategySpec(name, params)
        try:
            spec.make()
        except (TypeError, ValueError) as exc:  # a point of the space the strategy refuses: tried, not usable
            trial.set_user_attr("refused", str(exc))
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            self._report(study, name, spec, None, left, start)
            return
        trial.set_user_attr("setting", spec.to_dict())
        trial.set_user_attr("filters", filters)
        folder = filter_folder(self.out / TUNING, filters)
        run_sweep(self.tune.sweep([spec], items, filters), folder, progress=False)
        wanted = set(items)
        records = [r for r in read_generations(folder) if r.setting == spec.key and r.item in wanted]
        values = objective_values(records, self.tune.objectives)
        missing = [m for m, v in zip(self.tune.objectives, values) if math.isnan(v)]
        if missing:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise TuneError(f"objective {missing[0]} has no value on suite {self.tune.suite_name} (accuracy is for "
                            f"qa, pass@k and parses for code, scorer_nll needs --scorer)")
        study.tell(trial, values)
        self._report(study, name, spec, values, left, start)

    def _report(self, study, name: str, spec: StrategySpec, values, left: int, start: float) -> None:
        self._spent.append(time.monotonic() - start)
        if not self.progress:
            return
        done = _counted(study)
        value = "refused" if values is None else ", ".join(f"{m} {v:.4g}" for m, v in zip(self.tune.objectives, values))
        best = ""
        if len(self.tune.objectives) == 1:
            try:
                best = f"; best {study.best_value:.4g} ({_label(study.best_trial)})"
            except ValueError:  # no trial complete yet
                pass
        eta = np.mean(self._spent) * (left - 1)
        print(f"tune {name}: trial {done}/{self.tune.trials} {spec.label or 'defaults'}: {value}{best}; "
              f"about {eta / 60:.1f} min left", file=sys.stderr, flush=True)


def _counted(study) -> int:
    """Trials that used the budget: complete, or refused by the strategy."""
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def _label(trial) -> str:
    setting = trial.user_attrs.get("setting")
    return StrategySpec.from_dict(setting).label if setting else "?"
