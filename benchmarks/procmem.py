"""Memory of a set of processes, as the benchmarks report it (MiB, processes gone meanwhile skipped).

PSS shares each page among the processes mapping it, so a model server's pages shared after fork
count once over the server and its workers; USS is what ending the processes gives back.
"""
from __future__ import annotations

import psutil

MiB = 2**20


def _sum(procs: list[psutil.Process], field: str) -> float:
    total = 0
    for proc in procs:
        try:
            total += getattr(proc.memory_full_info(), field)
        except psutil.Error:
            continue
    return total / MiB


def pss_mib(procs: list[psutil.Process]) -> float:
    """Proportional set size summed over ``procs``: shared pages count once."""
    return _sum(procs, "pss")


def uss_mib(procs: list[psutil.Process]) -> float:
    """Private memory: what ending these processes gives back."""
    return _sum(procs, "uss")


def tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]
