"""Batch generation (``dyntemp batch``): a JSONL file of prompts in, one generation record per line
out, resumable, on local worker processes or Ray actors.

>>> from dyntemp.batch import BatchOptions, run_batch
>>> BatchOptions().backend
'local'
"""

from .lines import BatchError, BatchJob, read_jobs
from .runner import BACKENDS, BatchOptions, run_batch

__all__ = ["BACKENDS", "BatchError", "BatchJob", "BatchOptions", "read_jobs", "run_batch"]
