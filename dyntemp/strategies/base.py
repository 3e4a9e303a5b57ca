"""The ``Strategy`` interface: a temperature per step, state updated on accept, cleared on reset."""

from __future__ import annotations

import abc
import inspect
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core.step import Step


class Strategy(abc.ABC):
    """Picks the temperature of each token.

    Implement ``temperature(step)``: return a number ``>= 0`` (0 means greedy). It must not change
    the strategy's state, because the sampler also calls it to show a distribution without sampling.
    State that depends on the sampled token belongs in ``accept(step, token)``; ``reset()`` clears it
    for a new generation. A strategy never sees llama.cpp: only the ``Step``.

    >>> class Half(Strategy):
    ...     def temperature(self, step):
    ...         return 0.5
    >>> Half().temperature(None)
    0.5
    """

    #: The registered name, set on the instances ``get_strategy`` builds ("" for one built directly).
    name: str = ""
    #: True when ``temperature`` reads the text so far (``step.text``, ``sentence``, ``line``, code
    #: blocks, sentence counts): a sampler then refuses to run it without a detokenizer, where the text
    #: would stay empty. A strategy of your own that reads the text sets it too.
    reads_text: bool = False

    @abc.abstractmethod
    def temperature(self, step: "Step") -> float:
        """The temperature of the token being sampled at ``step``."""

    def accept(self, step: "Step", token: int) -> None:
        """Called after ``token`` was sampled at ``step``; stateless strategies do nothing."""

    def reset(self) -> None:
        """Forget all state: ready for a new generation."""

    def params(self) -> dict:
        """The parameters this strategy was built with (for display and traces)."""
        sig = inspect.signature(type(self).__init__)
        return {name: getattr(self, name) for name in sig.parameters if name != "self" and hasattr(self, name)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"
