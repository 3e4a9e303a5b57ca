"""Plots of one generation and of a sweep, in one namespace.

``plot_generation`` draws the temperature schedule of a trace with the entropy and the chosen
token's probability (:mod:`.trace_plots`); ``plot_tokens`` and ``tokens_html`` show the text with
each token coloured by its temperature (:mod:`.token_view`); ``plot_quality_vs_temperature`` and
``plot_quality_vs_diversity`` compare the strategy settings of a sweep from its summary rows
(:mod:`.sweep_plots`).

The plots only read what they are given: a :class:`~dyntemp.core.trace.Trace` (or a list of
``TraceRecord``), or summary rows. Each plot takes ``ax=None`` (a new figure when None) and
returns the Axes it drew on; save it with ``ax.figure.savefig(path)``. matplotlib is imported
when a plot is drawn, not with this module.

>>> from dyntemp.eval import plots
>>> plots.pareto_frontier([(0.3, 0.8), (0.5, 0.7), (0.4, 0.6)]), sorted(plots.LOWER_IS_BETTER)[:2]
([0, 1], ['loop_rate', 'nll'])
"""

from .metric_info import LOWER_IS_BETTER
from .sweep_plots import pareto_frontier, plot_quality_vs_diversity, plot_quality_vs_temperature, strategy_styles
from .token_view import plot_tokens, tokens_html
from .trace_plots import plot_generation

__all__ = [
    "LOWER_IS_BETTER", "pareto_frontier", "plot_generation", "plot_quality_vs_diversity",
    "plot_quality_vs_temperature", "plot_tokens", "strategy_styles", "tokens_html",
]
