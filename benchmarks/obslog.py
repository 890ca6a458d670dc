"""Request logging overhead: the same model server with and without ``--log-requests all``.

Both servers (same model, one worker per core) run side by side and are loaded in turn, off,
on, on, off, ... (the order turns each round, so neither always goes first), with `wrk` on one
row for ``DURATION`` s per cell, so drift in the machine's load falls on both. Reported: req/s
and p99 per concurrency (the median round of each: one 3 s cell of either server swings by
10-20 % between rounds, both ways, and the best of a few rounds keeps one lucky cell), the
loss, the loss of each round's back-to-back pair (median and range: what the noise is), and
that every logged request is in the Parquet files (rows read back with DuckDB,
drops counted by the server). Run by ``make bench`` or alone: ``python -m benchmarks.obslog``.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

from .serving import DURATION, Running, Target, free_port, train, wrk

CONCURRENCY = (1, 8, 64)
ROUNDS = int(os.environ.get("MERLIN_BENCH_ROUNDS", "9"))


def target(model: Path, log_dir: Path | None) -> Target:
    port = free_port()
    cmd = [sys.executable, "-m", "merlin_jupyter.serving", "--model-uri", str(model), "--model-name", "iris-1",
           "--port", str(port), "--workers", str(os.cpu_count() or 1)]
    if log_dir is not None:
        cmd += ["--log-requests", "all", "--log-dir", str(log_dir), "--log-version", "1"]
    return Target("logging on" if log_dir else "logging off", cmd,
                  f"http://127.0.0.1:{port}/v1/models/iris-1:predict", f"http://127.0.0.1:{port}/v2/health/ready",
                  lambda rows: {"instances": rows})


def logged_rows(directory: Path) -> int:
    import duckdb

    from merlin_jupyter.serving.request_log import readable_files

    files = readable_files(str(directory))
    if not files:
        return 0
    with duckdb.connect() as connection:
        return connection.execute("SELECT count(*) FROM read_parquet(?)", [files]).fetchone()[0]


def counted(metrics_url: str) -> tuple[int, int]:
    """(predictions answered, predictions the request log dropped), from the server's /metrics,
    once the requests wrk left in flight when it stopped are answered (they are logged too)."""
    deadline = time.monotonic() + 30
    while True:
        text = httpx.get(metrics_url, timeout=10).text
        inflight = re.search(r"^merlin_inflight_requests\s+([\d.e+]+)", text, re.M)
        if not inflight or float(inflight.group(1)) <= 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    answered = sum(float(n) for n in re.findall(r"^merlin_requests_total\{[^}]*\}\s+([\d.e+]+)", text, re.M))
    match = re.search(r"^merlin_request_log_dropped_total\s+([\d.e+]+)", text, re.M)
    return int(answered), int(float(match.group(1))) if match else 0


def main() -> str:
    work = Path(tempfile.mkdtemp(prefix="merlin-bench-obslog-"))
    try:
        return _run(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(work: Path) -> str:
    _, X = train(work / "model")
    row = X[:1].to_numpy().tolist()
    off, on = target(work / "model", None), target(work / "model", work / "requests")
    # The servers' metrics directories under this run's directory, out of other processes' reach.
    (work / "tmp").mkdir()
    saved, os.environ["TMPDIR"] = os.environ.get("TMPDIR"), str(work / "tmp")
    try:
        servers = [Running(off, work / "off.log"), Running(on, work / "on.log")]
    finally:
        os.environ.pop("TMPDIR") if saved is None else os.environ.__setitem__("TMPDIR", saved)
    results: dict[tuple[str, int], list[dict]] = {}
    cpu = {server.target.name: 0.0 for server in servers}
    try:
        for server in servers:
            server.wait_first_prediction(row)
        load_before = os.getloadavg()[0]
        for round_ in range(ROUNDS):
            for connections in CONCURRENCY:
                for server in (servers if round_ % 2 == 0 else servers[::-1]):
                    before = cpu_seconds(server)
                    cell = wrk(server.target.predict_url, {"instances": row}, connections)
                    cpu[server.target.name] += cpu_seconds(server) - before
                    results.setdefault((server.target.name, connections), []).append(cell)
        answered, lost = counted(on.predict_url.split("/v1/")[0] + "/metrics")
        answered_off, _ = counted(off.predict_url.split("/v1/")[0] + "/metrics")
        per_request = {off.name: cpu[off.name] / max(answered_off, 1), on.name: cpu[on.name] / max(answered, 1)}
    finally:
        for server in servers:
            server.stop()  # a stopping worker writes what it still holds
    time.sleep(0.5)
    return render(results, answered, logged_rows(work / "requests"), lost, per_request,
                  (load_before, os.getloadavg()[0]))


def cpu_seconds(server: Running) -> float:
    """CPU time (user + system) of the server and its workers so far: unlike req/s on a shared
    machine, what each request costs the server does not depend on what else runs."""
    import psutil

    total = 0.0
    try:
        root = psutil.Process(server.proc.pid)
        for proc in [root, *root.children(recursive=True)]:
            times = proc.cpu_times()
            total += times.user + times.system
    except psutil.Error:
        pass
    return total


def render(results, answered: int, rows: int, lost: int, per_request: dict[str, float],
           load: tuple[float, float]) -> str:
    lines = ["| connections | req/s off | req/s on | loss | loss, paired rounds: median (range) | "
             "p99 off (ms) | p99 on (ms) | non-2xx off / on |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for connections in CONCURRENCY:
        cells = {name: results[(name, connections)] for name in ("logging off", "logging on")}
        best = {name: sorted(cells[name], key=lambda c: c["rps"])[ROUNDS // 2] for name in cells}
        a, b = best["logging off"], best["logging on"]
        loss = 100 * (a["rps"] - b["rps"]) / a["rps"] if a["rps"] else 0.0
        # Each round loads the two servers back to back: its own loss sees the same machine twice.
        paired = sorted(100 * (x["rps"] - y["rps"]) / x["rps"]
                        for x, y in zip(cells["logging off"], cells["logging on"]) if x["rps"])
        spread = (f"{paired[len(paired) // 2]:.1f} % ({paired[0]:.1f} to {paired[-1]:.1f} %)"
                  if paired else "")
        # every answer of every round: an error answered fast would pass for throughput
        errors = [sum(c["errors"] for c in cells[name]) for name in ("logging off", "logging on")]
        lines.append(f"| {connections} | {a['rps']:.0f} | {b['rps']:.0f} | {loss:.1f} % | {spread} | "
                     f"{a['p99']:.2f} | {b['p99']:.2f} | {errors[0]} / {errors[1]} |")
    off_us, on_us = (1e6 * per_request[name] for name in ("logging off", "logging on"))
    lines += ["", f"Server CPU per prediction (all cells, the server's processes' user + system time over "
                  f"the predictions its /metrics counted): {off_us:.0f} µs off, {on_us:.0f} µs on "
                  f"({100 * (on_us - off_us) / off_us:+.1f} %)."]
    lines += ["", f"The logging server (mode all, sample 1) answered {answered} predictions (its /metrics), "
                  f"{rows} rows in the Parquet files, {lost} dropped by a full queue. "
                  f"The median of {ROUNDS} rounds per cell, {DURATION} s each, servers loaded in turn; "
                  f"load average {load[0]:.2f} before, {load[1]:.2f} after."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
