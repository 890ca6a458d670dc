"""Serving benchmark: this model server (1 and N workers), `mlflow models serve`, the router, and
the in-process `predict` floor, on the same scikit-learn model, machine and run.

Load comes from `wrk` (C, event-driven: little CPU of its own) aimed at 127.0.0.1 only, for a
fixed time per cell. Run by ``make bench`` or alone: ``python -m benchmarks.serving``.
Returns Markdown tables.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
DURATION = int(os.environ.get("MERLIN_BENCH_SECONDS", "5"))
CONCURRENCY = (1, 8, 64)
# mlflow models serve runs `uvicorn` by name: the venv's bin must be on PATH.
BIN_PATH = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train(path: Path):
    """A scikit-learn classifier logged the way a user logs one: signature and input example.

    A plain LogisticRegression (one-row predict ~0.1-0.3 ms in process, the floor row shows it):
    the benchmark compares the servers around a model, so the model should not dominate."""
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    X = pd.DataFrame(X.to_numpy(), columns=COLUMNS)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    mlflow.sklearn.save_model(model, str(path), input_example=X[:3], pip_requirements=["scikit-learn"],
                              signature=infer_signature(X[:3], model.predict(X[:3])))
    return model, X


@dataclass
class Target:
    name: str
    cmd: list[str]
    predict_url: str
    ready_url: str
    body: callable  # rows -> JSON body


class Running:
    def __init__(self, target: Target, log: Path):
        self.target = target
        self.started = time.perf_counter()
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(target.cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                         start_new_session=True,
                                         env=dict(os.environ, PYTHONUNBUFFERED="1", PATH=BIN_PATH))
        self.log = log

    def wait_first_prediction(self, rows, timeout: float = 120) -> float:
        """Seconds from process start to the first successful prediction (cold start)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.target.name} exited:\n{self.log.read_text()[-2000:]}")
            try:
                answer = httpx.post(self.target.predict_url, json=self.target.body(rows), timeout=5)
                if answer.status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"{self.target.name} never answered:\n{self.log.read_text()[-2000:]}")

    def pss_mib(self) -> float:
        """PSS summed over the server and its workers: shared pages after fork count once."""
        procs = [psutil.Process(self.proc.pid)]
        procs += procs[0].children(recursive=True)
        total = 0
        for proc in procs:
            try:
                total += proc.memory_full_info().pss
            except psutil.Error:
                pass
        return total / 2**20

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def wrk(url: str, body: dict, connections: int, seconds: int = DURATION) -> dict:
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                 f"wrk.body = {json.dumps(json.dumps(body))}\n")
    script.close()
    threads = min(connections, 2)
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
                          "--latency", "-s", script.name, url], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    os.unlink(script.name)
    if "Requests/sec" not in out:
        raise RuntimeError(f"wrk did not report on {url}:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1)),
            "p99": _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1)),
            "errors": int(errors.group(1)) if errors else 0}


def _ms(value: str) -> float:
    match = re.match(r"([\d.]+)([a-z]+)", value)
    if match is None:
        raise RuntimeError(f"unreadable wrk latency {value!r}")
    number, unit = match.groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def floor(model, X) -> dict[int, float]:
    """In-process ``predict`` latency (ms, median of many) for 1 and 100 rows: the floor."""
    result = {}
    for rows in (1, 100):
        frame = X[:rows]
        samples = []
        for _ in range(300):
            start = time.perf_counter()
            model.predict(frame)
            samples.append((time.perf_counter() - start) * 1000)
        result[rows] = statistics.median(samples)
    return result


def main() -> str:
    work = Path(tempfile.mkdtemp(prefix="merlin-bench-"))
    model, X = train(work / "model")
    rows = {1: X[:1].to_numpy().tolist(), 100: X[:100].to_numpy().tolist()}
    cores = os.cpu_count() or 1

    def ours(workers: int) -> Target:
        port = free_port()
        return Target(f"merlin-jupyter, {workers} worker{'s' if workers > 1 else ''}",
                      [sys.executable, "-m", "merlin_jupyter.serving", "--model-uri", str(work / "model"),
                       "--model-name", "iris-1", "--port", str(port), "--workers", str(workers)],
                      f"http://127.0.0.1:{port}/v1/models/iris-1:predict",
                      f"http://127.0.0.1:{port}/v2/health/ready", lambda r: {"instances": r})

    def mlflow_serve() -> Target:
        port = free_port()
        # --env-manager local: the default builds a fresh virtualenv per model (minutes, network);
        # every other setting is MLflow's default.
        return Target("mlflow models serve (defaults)",
                      [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", str(work / "model"),
                       "-p", str(port), "-h", "127.0.0.1", "--env-manager", "local"],
                      f"http://127.0.0.1:{port}/invocations", f"http://127.0.0.1:{port}/ping",
                      lambda r: {"dataframe_split": {"columns": COLUMNS, "data": r}})

    results, cold, memory = {}, {}, {}
    router = None
    for target in (ours(1), ours(cores), mlflow_serve()):
        server = Running(target, work / f"{len(results)}.log")
        try:
            cold[target.name] = server.wait_first_prediction(rows[1])
            for batch in (1, 100):
                for connections in CONCURRENCY:
                    results[(target.name, batch, connections)] = wrk(target.predict_url, target.body(rows[batch]),
                                                                     connections)
            memory[target.name] = server.pss_mib()
            if target.name.endswith(f"{cores} workers") or (cores == 1 and router is None):
                router = measure_router(target, work, rows[1])
        finally:
            server.stop()
    return render(results, cold, memory, floor(model, X), router, cores)


def measure_router(target: Target, work: Path, row) -> dict:
    """The same server straight and through the local router (c=1, one row)."""
    port, rules = free_port(), work / "routes.json"
    base = target.predict_url.split("/v1/")[0]
    rules.write_text(json.dumps({"routes": {"bench/iris": {"destinations": [
        {"base": base, "model_name": "iris-1", "version": 1, "endpoint_id": "bench", "weight": 100}]}}}))
    router = Running(Target("router", [sys.executable, "-m", "merlin_jupyter.serving.router", "--rules",
                                       str(rules), "--port", str(port)],
                            f"http://127.0.0.1:{port}/bench/iris/v1/predict", "", lambda r: {"instances": r}),
                     work / "router.log")
    try:
        router.wait_first_prediction(row)
        # One connection: the latency a request gains from the hop, without queueing behind others.
        return {"direct": wrk(target.predict_url, {"instances": row}, 1),
                "routed": wrk(router.target.predict_url, {"instances": row}, 1)}
    finally:
        router.stop()


def render(results, cold, memory, floor_ms, router, cores) -> str:
    names = list(dict.fromkeys(name for name, _, _ in results))
    lines = ["| server | rows/request | c=1 req/s | c=8 req/s | c=64 req/s | p50 ms (c=8) | p99 ms (c=8) "
             "| p99 ms (c=64) | errors |", "|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        for batch in (1, 100):
            cells = [results[(name, batch, c)] for c in CONCURRENCY]
            lines.append(f"| {name} | {batch} | " + " | ".join(f"{c['rps']:.0f}" for c in cells)
                         + f" | {cells[1]['p50']:.2f} | {cells[1]['p99']:.2f} | {cells[2]['p99']:.2f} | "
                         + f"{sum(c['errors'] for c in cells)} |")
    for batch in (1, 100):
        lines.append(f"| in-process `predict` (floor, 1 thread) | {batch} | {1000 / floor_ms[batch]:.0f} | | "
                     f"| {floor_ms[batch]:.2f} | | | |")
    lines += ["", "| server | cold start → first prediction (s) | memory after load, PSS MiB |", "|---|---|---|"]
    lines += [f"| {name} | {cold[name]:.2f} | {memory[name]:.0f} |" for name in names]
    if router:
        d, r = router["direct"], router["routed"]
        lines += ["", f"| router overhead (c=1, 1 row, {cores}-worker server) | req/s | p50 ms | p99 ms |",
                  "|---|---|---|---|",
                  f"| straight to the endpoint | {d['rps']:.0f} | {d['p50']:.2f} | {d['p99']:.2f} |",
                  f"| through the local router | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} |",
                  f"| added by the router | | {r['p50'] - d['p50']:+.2f} | {r['p99'] - d['p99']:+.2f} |"]
    return "\n".join(lines)


if __name__ == "__main__":
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: run `make system-deps` (Debian package wrk).")
    print(main())
