"""How many threads llama.cpp should use here: the physical cores this process may run on (as
llama.cpp counts them), split between worker processes."""

from __future__ import annotations

import os
from pathlib import Path


def physical_cores() -> int:
    """Physical cores among the CPUs this process may run on, as llama.cpp counts its default
    threads: hyperthread siblings count once. Falls back to the CPU count without sysfs.

    >>> 1 <= physical_cores() <= os.cpu_count()
    True
    """
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            siblings = (topology / "core_cpus_list").read_text() if (topology / "core_cpus_list").exists() \
                else (topology / "thread_siblings_list").read_text()
        except OSError:
            return max(1, len(cpus))
        cores.add(siblings.strip())
    return max(1, len(cores))


def default_threads(workers: int = 1) -> int:
    """Threads for each of ``workers`` processes so that together they fill the physical cores once.

    >>> default_threads() == physical_cores()
    True
    >>> default_threads(workers=10**6)
    1
    """
    return max(1, physical_cores() // max(1, workers))
