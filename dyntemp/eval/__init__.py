"""Eval: run strategies over prompt suites, measure quality and diversity, plot the schedule.

>>> from dyntemp.eval import list_suites, parse_strategy
>>> list_suites(), [s.key for s in parse_strategy("constant:temperature=0.3,1.0")]
(['code', 'creative', 'humaneval', 'humaneval-chat', 'qa'], ['constant:temperature=0.3', 'constant:temperature=1.0'])
"""

from .compare import compare, format_rows
from .report import plot_run
from .runner import RunError, read_generations, run_sweep, trace_of
from .scorer import Scorer
from .spec import Setting, Sweep, SweepSpecError, load_sweep, parse_strategy
from .suites import Item, Suite, SuiteError, list_suites, load_suite
from .summary import format_table, summarize, write_csv

__all__ = [
    "Item", "RunError", "Scorer", "Setting", "Suite", "SuiteError", "Sweep", "SweepSpecError", "compare",
    "format_rows", "format_table",
    "list_suites", "load_suite", "load_sweep", "parse_strategy", "plot_run", "read_generations", "run_sweep",
    "summarize", "trace_of", "write_csv",
]
