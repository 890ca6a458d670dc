"""Cost on one machine: memory of 1, 5 and 10 local endpoints (running and scaled to zero),
back-to-back deploy times, wake-from-zero latency and autoscaling under a load step.

Run by ``make bench`` (through benchmarks.run) or alone: ``python -m benchmarks.cost``.
Memory is PSS (a page shared by n processes counts 1/n in each), summed over the control
plane's template and every model-server process (supervisors and workers), so shared pages
count once. Prints a Markdown table beside the figures measured before the template existed.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.control_plane import deploy_until_answered as deploy, wait_for_warm_standby  # noqa: E402
from benchmarks.procmem import pss_mib as pss, uss_mib as uss  # noqa: E402
from tests.conftest import ControlPlaneProcess, log_version, sklearn_model  # noqa: E402

IDLE = 2.0  # scale_to_zero_after for this run
MLFLOW_IDLE = 5.0  # mlflow_idle_stop for this run
WINDOW = 4.0  # autoscale_window for this run
BEFORE = {"running 10": "2,048 MiB", "running 1": "205 MiB", "back to back": "~0.5 s / ~9 s alternating"}


def owned(cp) -> dict[str, list[psutil.Process]]:
    """This control plane's processes by role: template, model servers (by group), router."""
    from merlin_jupyter_server.deployers.local_ownership import OWNER, owner_id

    owner = owner_id(str(cp.home / "data" / "merlin"))
    found: dict[str, list[psutil.Process]] = {}
    for proc in psutil.process_iter(["pid"]):
        try:
            env = proc.environ()
            if env.get(OWNER) != owner:
                continue
            pgid = _pgid(proc.pid)
            role = env.get("MERLIN_ROLE", "")
            key = "template" if role == "standby" and pgid == _template_pgid(cp) else f"{role}:{pgid}"
            found.setdefault(key, []).append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def _pgid(pid: int) -> int:
    import os

    return os.getpgid(pid)


def _template_pgid(cp) -> int:
    for child in psutil.Process(cp.proc.pid).children():
        try:
            if "--template" in child.cmdline():
                return child.pid
        except psutil.Error:
            continue
    return -1


def server_groups(cp) -> dict[int, list[psutil.Process]]:
    groups = {}
    for key, procs in owned(cp).items():
        if key != "template" and not key.startswith("router"):
            groups[int(key.rpartition(":")[2])] = procs
    return groups


def wait(check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out; last seen {LAST_SEEN}")
        time.sleep(0.1)


LAST_SEEN: list = []


def scaled_to_zero(api, model_id: int, endpoints: list[dict]) -> bool:
    for endpoint in endpoints:
        _, now = api.get(f"/models/{model_id}/versions/{endpoint['version_id']}/endpoint/{endpoint['id']}")
        if not (now.get("serving") or {}).get("scaled_to_zero"):
            LAST_SEEN[:] = [now]
            return False
    return True


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def load_step(url: str, sample, seconds: float, clients: int) -> list[tuple[float, float]]:
    """(time, latency) of every request ``clients`` threads send for ``seconds``."""
    out: list[tuple[float, float]] = []
    stop = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client() as http:
            while time.monotonic() < stop:
                t = time.perf_counter()
                http.post(url, json={"instances": sample.tolist()})
                out.append((time.monotonic(), time.perf_counter() - t))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def main() -> str:
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as home:
        cp = ControlPlaneProcess(Path(home), extra_args=[
            f"--MerlinApp.scale_to_zero_after={IDLE}", f"--MerlinApp.autoscale_window={WINDOW}",
            f"--MerlinApp.mlflow_idle_stop={MLFLOW_IDLE}"]).start()
        try:
            api = cp.client()
            wait_for_warm_standby(cp)
            time.sleep(1)
            roles = owned(cp)
            alone = pss(roles.get("template", []))  # the template before any server shares it
            plane = pss([psutil.Process(cp.proc.pid)])
            rows.append(("idle control plane + template, MLflow not used yet", f"{plane + alone:,.0f} MiB "
                         f"(control plane {plane:,.0f}, template {alone:,.0f})", "target ≤ 400 MiB"))
            _, project = api.post("/projects", json={"name": "cost-bench"})
            _, model = api.post(f"/projects/{project['id']}/models", json={"name": "cost", "type": "sklearn"})
            clf, sample = sklearn_model()
            versions = [log_version(cp, api, model["id"], clf, sample)["id"] for _ in range(10)]
            used = pss(cp.mlflow_servers())
            wait(lambda: not cp.mlflow_servers(), MLFLOW_IDLE * 10)  # its idle stop
            time.sleep(1)
            plane, alone = pss([psutil.Process(cp.proc.pid)]), pss(owned(cp).get("template", []))
            rows.append((f"  the same after 10 versions were logged and MLflow idled {MLFLOW_IDLE:g} s",
                         f"{plane + alone:,.0f} MiB (control plane {plane:,.0f}, template {alone:,.0f}); "
                         f"the MLflow server's process, while it ran: {used:,.0f} MiB",
                         "455 MiB (MLflow inside the control plane, for good)"))

            # Running: ten endpoints (one worker each, the default replica range 1-1).
            times, running = [], []
            for i, version in enumerate(versions, 1):
                elapsed, endpoint = deploy(api, model["id"], version, sample)
                times.append(elapsed)
                running.append(endpoint)
                if i in (1, 5, 10):
                    time.sleep(0.5)
                    total = sum(pss(g) for g in server_groups(cp).values()) + pss(owned(cp).get("template", []))
                    rows.append((f"{i} running endpoint{'s' if i > 1 else ''} (model servers + template)",
                                 f"{total:,.0f} MiB ({(total - alone) / i:,.0f} each above the template alone)",
                                 BEFORE.get(f"running {i}", f"{205 * i:,} MiB")))
            rows.append(("10 deploys back to back, deploy → first prediction",
                         f"median {statistics.median(times):.2f} s, max {max(times):.2f} s "
                         f"({', '.join(f'{t:.2f}' for t in times)})", BEFORE["back to back"]))
            for endpoint in running:
                api.delete(f"/models/{model['id']}/versions/{endpoint['version_id']}/endpoint/{endpoint['id']}")

            # Scaled to zero: the same ten with min_replica 0, idle.
            zero = [deploy(api, model["id"], v, sample, {"resource_request": {"min_replica": 0, "max_replica": 1}})[1]
                    for v in versions]
            wait(lambda: scaled_to_zero(api, model["id"], zero), 60)
            # scaled_to_zero is reported once no worker serves; the retired ones may still be
            # draining for a few seconds, and are not what an idle endpoint costs.
            wait(lambda: all(len(g) == 1 for g in server_groups(cp).values()), 30)
            time.sleep(0.5)
            groups = server_groups(cp)
            template = pss(owned(cp).get("template", []))
            total = sum(pss(g) for g in groups.values()) + template
            private = [uss(g) for g in groups.values()]
            own = [pss(g) for g in groups.values()]
            for n in (1, 5, 10):
                rows.append((f"{n} endpoint{'s' if n > 1 else ''} scaled to zero",
                             f"{sum(private[:n]):,.1f} MiB private ({sum(private[:n]) / n:,.1f} each)",
                             f"{205 * n:,} MiB (no scale to zero)"))
            rows.append(("  10 scaled to zero, PSS with the template",
                         f"{total:,.0f} MiB: {(total - alone) / len(groups):,.1f} MiB each above the "
                         f"template alone (each supervisor's own PSS {statistics.mean(own):,.1f}, "
                         "its share of the template's pages included)", "target ≤ 15 MiB each"))

            # Wake from zero: each idle endpoint woken by one request, twice round.
            wakes = []
            for _ in range(2):
                wait(lambda: scaled_to_zero(api, model["id"], zero), 60)
                for endpoint in zero:
                    t = time.perf_counter()
                    assert httpx.post(endpoint["url"], json={"instances": sample.tolist()}, timeout=30).status_code == 200
                    wakes.append(time.perf_counter() - t)
            rows.append((f"wake from zero → answer ({len(wakes)} wakes)",
                         f"p50 {pct(wakes, 0.5) * 1000:.0f} ms, p99 {pct(wakes, 0.99) * 1000:.0f} ms",
                         "not possible (target ≤ 1 s)"))
            for endpoint in zero:
                api.delete(f"/models/{model['id']}/versions/{endpoint['version_id']}/endpoint/{endpoint['id']}")

            # Autoscaling: 1-2 workers by concurrency (target 1) under a step of 4 clients.
            _, scaled = deploy(api, model["id"], versions[0], sample,
                               {"resource_request": {"min_replica": 1, "max_replica": 2}})
            path = f"/models/{model['id']}/versions/{versions[0]}/endpoint/{scaled['id']}"
            trace: list[tuple[float, int]] = []
            watching = threading.Event()

            def watch() -> None:
                while not watching.is_set():
                    groups_now = server_groups(cp)
                    workers = max((len(g) - 1 for g in groups_now.values()), default=0)
                    trace.append((time.monotonic(), workers))
                    time.sleep(0.5)

            watcher = threading.Thread(target=watch)
            start = time.monotonic()
            watcher.start()
            samples = load_step(scaled["url"], sample, 10, 4)
            time.sleep(WINDOW + 3)
            watching.set()
            watcher.join()
            early = [lat for t, lat in samples if t - start < 1.5]
            late = [lat for t, lat in samples if t - start > 7]
            grew = next((t - start for t, w in trace if w >= 2), None)
            shrank = next((t - start for t, w in trace if w == 1 and t - start > 10), None)
            steps = " → ".join(f"{w}" for _, w in _changes(trace))
            rows.append(("autoscaling 1-2 workers, 4 clients for 10 s",
                         f"workers {steps}; 2nd worker at {grew:.1f} s" if grew is not None else f"workers {steps}",
                         "workers fixed"))
            rows.append(("  p99 before / after the second worker",
                         f"{pct(early, 0.99) * 1000:.1f} ms / {pct(late, 0.99) * 1000:.1f} ms"
                         if early and late else "n/a",
                         f"back to 1 worker at {shrank:.1f} s" if shrank is not None else ""))
            _, serving = api.get(path)
            api.delete(path)
        finally:
            cp.stop()
            from tests.conftest import _stop_model_servers

            _stop_model_servers(Path(home))
    lines = ["| what | now | before (no template, no scale to zero) |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def _changes(trace: list[tuple[float, int]]) -> list[tuple[float, int]]:
    out: list[tuple[float, int]] = []
    for t, w in trace:
        if not out or out[-1][1] != w:
            out.append((t, w))
    return out


if __name__ == "__main__":
    print(main())
