"""``softmax-adaptive``: the entropy-driven temperature of "softmax is not enough" (arXiv 2410.01104)."""

from __future__ import annotations

from typing import Sequence

from .. import _validate
from .base import Strategy
from .registry import register_strategy

#: The paper's degree-4 fit of the inverse temperature to the entropy (its Figure 5), highest power first.
PAPER_COEFFICIENTS = (-0.037, 0.481, -2.3, 4.917, -1.791)


@register_strategy("softmax-adaptive")
class SoftmaxAdaptive(Strategy):
    """``T = temperature / β`` with ``β = max(polyval(coefficients, H), 1)`` when ``H > threshold``, else
    ``β = 1``; ``H`` is the entropy (nats) of the full next-token distribution.

    The adaptive-temperature softmax of Veličković et al., "softmax is not enough (for sharp
    out-of-distribution)" (arXiv 2410.01104), whose reference code returns ``softmax(logits · β)``:
    a temperature of ``1/β``. llama.cpp PR #10057 (not merged) proposed it as ``--temp-adaptive``,
    which ignores ``--temp``; here ``β`` divides a base ``temperature``, and the default 1.0 is the
    paper's. Since ``β >= 1`` the temperature is never raised. The fit is below 1 for ``H < 0.85``
    and ``H > 5.94`` nats (a 49,152-token vocabulary reaches 10.8): there ``T = temperature``.

    >>> from dyntemp import Step
    >>> s = SoftmaxAdaptive()
    >>> round(s.temperature(Step.from_text("", logits=[0.0] * 4)), 4)  # H = ln 4: β = 1.7501
    0.5714
    >>> s.temperature(Step.from_text("", logits=[0.0, -9.0]))  # H ≈ 0.001 <= 0.5: β = 1
    1.0
    """

    def __init__(self, temperature: float = 1.0, threshold: float = 0.5,
                 coefficients: Sequence[float] = PAPER_COEFFICIENTS) -> None:
        self.value = _validate.number("temperature", temperature, low=0.0)
        self.threshold = _validate.number("threshold", threshold, low=0.0)
        if isinstance(coefficients, (str, bytes)) or not isinstance(coefficients, Sequence) or not coefficients:
            raise ValueError(f"coefficients must be a non-empty list of numbers, highest power first, "
                             f"got {coefficients!r}")
        # A tuple of floats: it pickles, and params() rebuilds an equal strategy from it.
        self.coefficients = tuple(_validate.number(f"coefficients[{i}]", c) for i, c in enumerate(coefficients))

    def temperature(self, step) -> float:
        h = step.entropy
        if h <= self.threshold:
            return self.value
        beta = 0.0
        for c in self.coefficients:  # Horner's rule, as numpy.polyval evaluates it
            beta = beta * h + c
        return self.value / max(beta, 1.0)

    def params(self) -> dict:
        return {"temperature": self.value, "threshold": self.threshold, "coefficients": self.coefficients}
