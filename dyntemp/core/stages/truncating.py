"""The stages that remove candidates: top-nσ, top-k, typical-p, top-p, min-p and XTC, as llama.cpp's
samplers (the cut functions are ``dyntemp.core.filters``'; their neutral values turn them off)."""

from __future__ import annotations

from .. import filters
from .base import Candidates, Stage, StepContext
from .declare import Setting, integer, number

_PROBABILITY = number(low=0.0, high=1.0)


class _Cut(Stage):
    """A filter whose one setting is its parameter and switch."""

    truncates = True

    @classmethod
    def is_off(cls, settings) -> bool:
        return filters.is_off(cls.name, getattr(settings, cls.name))

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.keep_fn = filters.KEEP[self.name]
        self.value = getattr(settings, self.name)

    def apply(self, cand: Candidates, ctx: StepContext) -> None:
        keep, now_sorted = self.keep_fn(cand.logits, self.value, ctx.min_keep, cand.sorted)
        cand.keep(keep, now_sorted)


class TopK(_Cut):
    """Keep the ``top_k`` most likely tokens."""

    settings = (Setting("top_k", 40, "top-k", integer(low=0), off=0, flag="--top-k"),)

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.k = max(self.value, settings.min_keep, 1)

    def apply(self, cand: Candidates, ctx: StepContext) -> None:
        if ctx.top_ids is not None and cand.ids is None:  # the step's scan ranked these very logits
            cand.ids, cand.logits, cand.sorted = ctx.top_ids, ctx.top_logits, True
        else:
            super().apply(cand, ctx)


class TopP(_Cut):
    """Keep the smallest most-likely set whose probability reaches ``top_p``."""

    settings = (Setting("top_p", 0.95, "top-p", _PROBABILITY, off=1.0, flag="--top-p", metavar="P"),)


class MinP(_Cut):
    """Keep tokens at least ``min_p`` times as likely as the most likely one."""

    settings = (Setting("min_p", 0.05, "min-p", _PROBABILITY, off=0.0, flag="--min-p", metavar="P"),)


class TypicalP(_Cut):
    """Keep the tokens whose surprise is closest to the entropy, up to mass ``typical_p``."""

    settings = (Setting("typical_p", 1.0, "typical-p", _PROBABILITY, off=1.0, flag="--typical", metavar="P"),)


class TopNSigma(_Cut):
    """Keep tokens within ``top_n_sigma`` standard deviations of the largest logit."""

    settings = (Setting("top_n_sigma", -1.0, "top-nσ", number(), off=-1.0, flag="--top-n-sigma"),)


class XTC(Stage):
    """Exclude Top Choices: with probability ``xtc_probability`` a token, remove the tokens at least
    ``xtc_threshold`` likely but the least likely of them."""

    truncates = True
    settings = (
        Setting("xtc_probability", 0.0, "XTC: the chance, per token, of removing the top choices", _PROBABILITY,
                off=0.0, flag="--xtc-probability", metavar="P"),
        Setting("xtc_threshold", 0.1, "XTC: the probability a top choice has at least", _PROBABILITY,
                flag="--xtc-threshold", metavar="T", note="above 0.5: off"),
    )

    @classmethod
    def is_off(cls, settings) -> bool:
        return settings.xtc_probability <= 0.0 or filters.is_off("xtc", settings.xtc_threshold)

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.probability, self.threshold = settings.xtc_probability, settings.xtc_threshold

    def apply(self, cand: Candidates, ctx: StepContext) -> None:
        # XTC's coin comes first: when it does not come up (chance > probability), the stage passes.
        if ctx.rng.random() > self.probability:
            return
        keep, now_sorted = filters.xtc_keep(cand.logits, self.threshold, ctx.min_keep, cand.sorted)
        cand.keep(keep, now_sorted)
