"""The control plane at a team's scale, on SQLite and on PostgreSQL.

A real `jupyter merlin` per store. A model with 10,000 versions (seeded straight into the store:
MLflow runs are not what is measured) is listed a page of 50 at a time, the first page and a
late one; then 50 concurrent API clients mix reads and writes. PostgreSQL is a throw-away
cluster on 127.0.0.1 (tests/postgres.py) with fsync off, like the tests'.

Run by ``make bench`` (through benchmarks.run) or alone: ``python -m benchmarks.team``.
"""
from __future__ import annotations

import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import ControlPlaneProcess  # noqa: E402

VERSIONS = 10_000
PAGE = 50
PAGE_SAMPLES = 100
CLIENTS = 50
REQUESTS_PER_CLIENT = 10
WRITE_SHARE = 0.25


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def seed(url: str) -> tuple[int, int, int]:
    """(project id, model id, id of a second model) with VERSIONS versions on the first."""
    from sqlalchemy import insert

    from merlin_jupyter_server.store.db import Database
    from merlin_jupyter_server.store.models import ModelRow, ProjectRow, VersionRow, utcnow

    db = Database(url)
    with db.session() as session:
        project = ProjectRow(name="team-bench")
        session.add(project)
        session.flush()
        big = ModelRow(project_id=project.id, name="big", type="sklearn")
        writes = ModelRow(project_id=project.id, name="writes", type="sklearn")
        session.add_all([big, writes])
        session.flush()
        now = utcnow()
        session.execute(insert(VersionRow), [
            {"model_id": big.id, "number": n, "mlflow_run_id": f"{n:032x}", "labels": {"n": str(n)},
             "properties": {}, "created_at": now, "updated_at": now} for n in range(1, VERSIONS + 1)])
        ids = project.id, big.id, writes.id
    db.close()
    return ids


def page_latencies(api: httpx.Client, model_id: int, cursor: int | None) -> list[float]:
    params = {"limit": PAGE, **({"cursor": cursor} if cursor else {})}
    samples = []
    for _ in range(PAGE_SAMPLES):
        start = time.perf_counter()
        response = api.get(f"/models/{model_id}/versions", params=params)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200 and len(response.json()) == PAGE, response.text[:300]
    return samples


def mixed_load(cp: ControlPlaneProcess, project_id: int, big: int, writes: int) -> dict[str, float]:
    """CLIENTS threads, each its own client, released together; a quarter of requests write."""
    latencies: list[float] = []
    errors: list[str] = []
    barrier = threading.Barrier(CLIENTS)
    lock = threading.Lock()

    def client(i: int) -> None:
        rng = random.Random(i)
        with httpx.Client(base_url=cp.api_url, headers=cp.headers, timeout=60) as http:
            barrier.wait()
            for j in range(REQUESTS_PER_CLIENT):
                if rng.random() < WRITE_SHARE:
                    if j % 2:
                        request = ("POST", f"/models/{writes}/versions", {"labels": {"client": str(i)}})
                    else:
                        request = ("PUT", f"/projects/{project_id}", {"team": f"t{i}-{j}"})
                else:
                    request = rng.choice([
                        ("GET", f"/models/{big}/versions?limit={PAGE}", None),
                        ("GET", f"/models/{big}/versions?limit={PAGE}&cursor={rng.randint(PAGE + 1, VERSIONS)}", None),
                        ("GET", f"/projects/{project_id}/models", None),
                        ("GET", f"/models/{big}/versions/{rng.randint(1, VERSIONS)}", None),
                    ])
                start = time.perf_counter()
                try:
                    response = http.request(request[0], request[1], json=request[2])
                    ok = response.status_code < 400
                    what = f"{request[0]} {request[1]}: {response.status_code} {response.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, what = False, f"{request[0]} {request[1]}: {exc!r}"
                elapsed = (time.perf_counter() - start) * 1000
                with lock:
                    latencies.append(elapsed)
                    if not ok:
                        errors.append(what)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors:
        print(f"{len(errors)} errors, the first: {errors[0]}", file=sys.stderr)
    return {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
            "errors": len(errors), "requests": len(latencies), "rps": len(latencies) / wall}


def run_on(backend: str, home: Path, cluster=None) -> dict[str, object]:
    if backend == "sqlite":
        url = f"sqlite:///{home}/data/merlin/merlin.db"
        (home / "data" / "merlin").mkdir(parents=True)
    else:
        url = cluster.fresh_database("bench")
    started = time.perf_counter()
    project_id, big, writes = seed(url)
    seeded = time.perf_counter() - started
    cp = ControlPlaneProcess(home, app="merlin", extra_args=[f"--MerlinApp.db_url={url}"]).start()
    try:
        # MLflow's server is imported in a background thread after the start: measured after it.
        httpx.get(cp.url + "merlin/mlflow/api/2.0/mlflow/experiments/get-by-name",
                  params={"experiment_name": "none"}, headers=cp.headers, timeout=300)
        with httpx.Client(base_url=cp.api_url, headers=cp.headers, timeout=60) as api:
            for _ in range(20):  # warm: connections, the first queries
                api.get(f"/models/{big}/versions", params={"limit": PAGE})
            first = page_latencies(api, big, None)
            late = page_latencies(api, big, PAGE * 3)  # the last pages: versions 150..101
            api.post(f"/models/{writes}/versions", json={})  # MLflow's store is open before the load
        load = mixed_load(cp, project_id, big, writes)
    finally:
        cp.stop()
        if cluster is not None:
            cluster.drop_database(url)
    return {"seeded": seeded, "first": first, "late": late, "load": load}


def main() -> str:
    from tests.postgres import PostgresCluster, wait_ready

    results = {}
    cluster = PostgresCluster().start()
    try:
        wait_ready(cluster)
        for backend in ("sqlite", "postgresql"):
            with tempfile.TemporaryDirectory() as home:
                results[backend] = run_on(backend, Path(home), cluster if backend != "sqlite" else None)
    finally:
        cluster.stop()
    rows = [
        "| store | first page of 50 (p50 / p99) | late page of 50 (p50 / p99) | "
        f"{CLIENTS} clients, {int(WRITE_SHARE * 100)}% writes (p50 / p99) | errors | requests/s |",
        "|---|---|---|---|---|---|",
    ]
    for backend, r in results.items():
        load = r["load"]
        rows.append(
            f"| {backend} | {statistics.median(r['first']):.1f} / {percentile(r['first'], 99):.1f} ms "
            f"| {statistics.median(r['late']):.1f} / {percentile(r['late'], 99):.1f} ms "
            f"| {load['p50']:.1f} / {load['p99']:.1f} ms | {load['errors']} of {load['requests']} "
            f"| {load['rps']:.0f} |")
    return "\n".join([
        f"A model with {VERSIONS:,} versions (seeded in the store in "
        f"{results['sqlite']['seeded']:.1f} s on SQLite, {results['postgresql']['seeded']:.1f} s on "
        f"PostgreSQL), `GET /models/{{id}}/versions?limit={PAGE}` {PAGE_SAMPLES} times one after "
        f"another (the late page: `cursor={PAGE * 3}`); then {CLIENTS} concurrent clients, "
        f"{REQUESTS_PER_CLIENT} requests each: pages of the versions, a model list, single versions, "
        "and as writes version creates (each makes its MLflow run) and project updates. Target: "
        "p50 ≤ 50 ms for a page, zero errors.",
        "",
        *rows,
    ])


if __name__ == "__main__":
    print(main())
