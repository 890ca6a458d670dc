"""Control-plane latency and deploy time, measured against a real control plane process.

Run by ``make bench`` (through benchmarks.run) or alone: ``python -m benchmarks.control_plane``.
Prints a Markdown table.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import ControlPlaneProcess, log_version, sklearn_model  # noqa: E402


def timed(fn, n: int) -> list[float]:
    samples = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def deploy_until_answered(api, model_id: int, version: int, sample, body: dict | None = None) -> tuple[float, dict]:
    """Deploy to local; seconds from the request to the first successful prediction, and the endpoint."""
    start = time.perf_counter()
    status, endpoint = api.post(f"/models/{model_id}/versions/{version}/endpoint",
                                json={"environment_name": "local", **(body or {})})
    assert status == 201, endpoint
    while True:
        _, endpoint = api.get(f"/models/{model_id}/versions/{version}/endpoint/{endpoint['id']}")
        if endpoint["status"] == "failed":
            raise RuntimeError(endpoint["message"])
        if endpoint["status"] == "running":
            try:
                if httpx.post(endpoint["url"], json={"instances": sample.tolist()}).status_code == 200:
                    return time.perf_counter() - start, endpoint
            except httpx.HTTPError:
                pass
        time.sleep(0.01)


def deploy_to_first_prediction(cp, api, model_id: int, version: int, sample) -> float:
    """Seconds from the deploy request to the first successful prediction (then undeployed)."""
    elapsed, endpoint = deploy_until_answered(api, model_id, version, sample)
    api.delete(f"/models/{model_id}/versions/{version}/endpoint/{endpoint['id']}")
    return elapsed


def wait_for_warm_standby(cp, timeout: float = 120) -> None:
    """Wait until the control plane's stand-by model server has finished its imports.

    A user deploys again minutes later, not milliseconds: the warm case is the common one.
    """
    deadline = time.monotonic() + timeout
    tmp = Path(tempfile.gettempdir())
    while time.monotonic() < deadline:
        if any((cp.home / "data").rglob("standby/*.sock")) or any(tmp.glob(f"merlin-standby-*-{cp.proc.pid}-*.sock")):
            return
        time.sleep(0.05)
    raise RuntimeError("the warm stand-by never became ready")


def main(runs: int = 5) -> str:
    with tempfile.TemporaryDirectory() as home:
        cp = ControlPlaneProcess(Path(home)).start()
        try:
            api = cp.client()
            create_project = timed(lambda i: api.post("/projects", json={"name": f"bench-{i:03d}"}), 50)
            list_projects = timed(lambda i: api.get("/projects"), 100)
            _, project = api.get("/projects?name=bench-000")
            _, model = api.post(f"/projects/{project[0]['id']}/models", json={"name": "bench", "type": "sklearn"})
            create_version = timed(lambda i: api.post(f"/models/{model['id']}/versions", json={}), 20)
            list_versions = timed(lambda i: api.get(f"/models/{model['id']}/versions"), 100)
            clf, sample = sklearn_model()
            version = log_version(cp, api, model["id"], clf, sample)["id"]
            back_to_back = [deploy_to_first_prediction(cp, api, model["id"], version, sample) for _ in range(runs)]
            warm = []
            for _ in range(runs):
                wait_for_warm_standby(cp)
                warm.append(deploy_to_first_prediction(cp, api, model["id"], version, sample))
        finally:
            cp.stop()
    rows = [
        ("POST /projects (create)", create_project),
        ("GET /projects (list)", list_projects),
        ("POST /models/{id}/versions (create, with MLflow run)", create_version),
        ("GET /models/{id}/versions (list)", list_versions),
    ]
    lines = ["| API call | p50 ms | p90 ms | n |", "|---|---|---|---|"]
    for name, samples in rows:
        q = statistics.quantiles(samples, n=10)
        lines.append(f"| {name} | {statistics.median(samples):.1f} | {q[8]:.1f} | {len(samples)} |")
    lines += ["", "| deploy → first prediction (local, scikit-learn) | median s | min s | max s | runs |",
              "|---|---|---|---|---|"]
    for name, samples in (("stand-by warm (the next deploy seconds later)", warm),
                          ("back to back (stand-by still warming: cold start)", back_to_back)):
        lines.append(f"| {name} | {statistics.median(samples):.2f} | {min(samples):.2f} | "
                     f"{max(samples):.2f} | {len(samples)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
