"""``make bench``: run every benchmark and write ``benchmarks/RESULTS.md``.

The machine and its load are recorded with the numbers, and every comparison (the baseline
`mlflow models serve`, the in-process floor) is measured in the same run on the same machine.
"""
from __future__ import annotations

import datetime
import os
import platform
import sys
import time
from pathlib import Path

import psutil

from . import control_plane, cost, obslog, serving, team

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{cpu}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM; "
            f"{platform.system()} {platform.release()}; Python {platform.python_version()}; "
            f"load average at start {load}")


def main() -> None:
    started = time.monotonic()
    header = [
        "# Benchmark results",
        "",
        f"Written by `make bench` on {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}.",
        f"Machine: {machine()}.",
        "",
    ]
    sections = [
        ("Serving", "Same scikit-learn model (LogisticRegression on iris, logged with "
                    f"signature and input example) for every server, `wrk` for {serving.DURATION} s per cell at "
                    "127.0.0.1. The load generator shares the machine's cores with the server.",
         serving.main),
        ("Control plane", "A real control plane process (`jupyter merlin`), SQLite store, local "
                          "environment with the warm stand-by.", control_plane.main),
        ("Control plane at a team's scale", "`benchmarks/team.py`: a real `jupyter merlin` on SQLite "
                                            "and on PostgreSQL (a throw-away local cluster).", team.main),
        ("Request logging", "The same model server with and without `--log-requests all` (every "
                            "prediction written to Parquet), side by side, loaded in turn.", obslog.main),
        ("Cost", "A real control plane (`jupyter merlin`) deploying small scikit-learn models to the "
                 "local environment; memory is PSS summed over the template and every model-server "
                 f"process (shared pages count once); scale to zero after {cost.IDLE:g} s idle, autoscale "
                 f"window {cost.WINDOW:g} s.", cost.main),
    ]
    body = []
    for title, note, run in sections:
        print(f"running the {title.lower()} benchmark...", file=sys.stderr, flush=True)
        body += [f"## {title}", "", note, "", run(), ""]
    body.append(f"Total benchmark time: {time.monotonic() - started:.0f} s.")
    RESULTS.write_text("\n".join(header + body) + "\n", encoding="utf-8")
    print(RESULTS.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
