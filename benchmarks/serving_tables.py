"""The serving benchmark's tables (benchmarks/serving.py measures, this draws)."""
from __future__ import annotations

import os
from pathlib import Path

CONCURRENCY = tuple(int(c) for c in os.environ.get("MERLIN_BENCH_CONCURRENCY", "1,8,64").split(","))
# The two floors of benchmarks/floor_server.py: what a pyfunc-only server must do, and the least
# any server can do around this model.
FLOORS = {"pyfunc": "floor: tornado + pyfunc", "native": "floor: tornado + estimator on numpy"}


def render(results, cold, memory, failed, floor_ms, router, cores, rules: tuple[int, int, float]) -> str:
    """The serving section: one row per server, protocol and batch; the ratios; cold starts and
    memory; the router's hop; the profile. ``rules`` is (seconds per cell, runs at most, the
    others' CPU above which a cell is run again)."""
    duration, runs, quiet = rules
    rows_seen = list(dict.fromkeys((name, protocol, batch) for name, protocol, batch, _ in results))
    head = " | ".join(f"c={c} req/s | c={c} p50 ms | c={c} p99 ms | c={c} others' CPU" for c in CONCURRENCY)
    lines = [f"| server | protocol | rows/request | {head} | runs (max) | errors |",
             "|---|---|---|" + "---|" * (4 * len(CONCURRENCY)) + "---|---|"]
    for name, protocol, batch in rows_seen:
        cells = [results[(name, protocol, batch, c)] for c in CONCURRENCY]
        numbers = " | ".join(f"{c['rps']:.0f} | {c['p50']:.2f} | {c['p99']:.2f} | {c['others']:.2f}" for c in cells)
        lines.append(f"| {name} | {protocol} | {batch} | {numbers} | "
                     f"{max(c['runs'] for c in cells)} | {sum(c['errors'] for c in cells)} |")
    for name, why in failed.items():  # a server that never answered keeps its row, and says why
        lines.append(f"| {name} | | | did not start: {why} |" + " |" * (4 * len(CONCURRENCY) + 1))
    for batch in (1, 100):
        lines.append(f"| in-process `predict` (1 thread) | | {batch} | {1000 / floor_ms[batch]:.0f} | "
                     f"{floor_ms[batch]:.2f} |" + " |" * (4 * len(CONCURRENCY) - 2) + " | |")
    lines += ["", f"Each cell ran `wrk` for {duration} s, and again (up to {runs} runs, the quietest kept) "
              f"while other processes used more than {quiet} cores; \"others' CPU\" (cores) is what they used "
              f"during the kept run: above {quiet} the cell's numbers are not those of a quiet machine."]
    lines += ["", *ratios(results, cores)]
    lines += ["", "| server | cold start → first prediction (s) | memory after load, PSS MiB |", "|---|---|---|"]
    lines += [f"| {name} | {cold[name]:.2f} | {memory.get(name, 0):.0f} |" for name in cold]
    if router:
        d, r = router["direct"], router["routed"]
        lines += ["", f"| router overhead (c=1, 1 row, {cores}-worker server; best of {router['runs']} "
                      "alternated runs) | req/s | p50 ms | p99 ms |",
                  "|---|---|---|---|",
                  f"| straight to the endpoint | {d['rps']:.0f} | {d['p50']:.2f} | {d['p99']:.2f} |",
                  f"| through the local router | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} |",
                  f"| added by the router | | {r['p50'] - d['p50']:+.2f} | {r['p99'] - d['p99']:+.2f} |"]
        if "cpu_us" in r:
            lines += ["", f"The router's CPU per request in that run: {r['cpu_us']:.0f} µs (psutil user + system)."]
    profile = Path(__file__).with_name("PROFILE.md")
    if profile.exists():
        lines += ["", profile.read_text(encoding="utf-8").strip()]
    return "\n".join(lines)


def ratios(results, cores) -> list[str]:
    """Ours against the floor with as many processes and against KServe, at the issue's cells:
    c=1 against one process, c=8 and c=64 against ``cores`` of them; V2 against the floor's V1
    (the floor speaks one protocol) and KServe's V2."""
    ours1, oursn = "merlin-jupyter, 1 worker", f"merlin-jupyter, {cores} workers"
    kserve = next((name for name, *_ in results if name.startswith("KServe")), None)
    out = ["| ours ÷ peer | rows | req/s | p99 | target |", "|---|---|---|---|---|"]

    def line(mine, protocol, theirs, their_protocol, c, batch, target):
        a, b = results.get((mine, protocol, batch, c)), results.get((theirs, their_protocol, batch, c))
        if a and b and b["rps"] and b["p99"]:
            out.append(f"| {mine} {protocol} vs {theirs} {their_protocol}, c={c} | {batch} | "
                       f"{a['rps'] / b['rps']:.2f}× | {a['p99'] / b['p99']:.2f}× | {target} |")

    for batch in (1, 100):
        for floor in FLOORS.values():
            line(ours1, "V1", f"{floor}, 1 process", "V1", 1, batch, "req/s ≥ 0.9×")
            for protocol in ("V1", "V2"):
                line(oursn, protocol, f"{floor}, {cores} processes", "V1", 8, batch, "req/s ≥ 0.9×, p99 ≤ 1.2×")
                line(oursn, protocol, f"{floor}, {cores} processes", "V1", 64, batch, "")
        if kserve:
            for protocol in ("V1", "V2"):
                line(oursn, protocol, kserve, protocol, 8, batch, "p99 < 1×")
    return out

