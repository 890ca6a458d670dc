"""The one seam that reads live metrics on this machine: each local model server's Prometheus
``/metrics``, the local router's ``/-/metrics`` (per model endpoint and version) and each model
server's process group (CPU seconds and memory, with psutil). Feeds :class:`MetricsHistory`.

Keys in the history: ``("endpoint", version_endpoint_id)`` and
``("route", "project/model", version)``.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace

import httpx
from sqlalchemy import select

from ..deployers.local_process import client_host
from ..deployers.local_zero import asleep, read_state
from ..store.db import Database
from ..store.models import EnvironmentRow, VersionEndpointRow
from .metrics_history import MetricsHistory, Sample, parse_exposition

log = logging.getLogger("merlin_jupyter_server.metrics")
LIVE = ("running", "serving")
SCRAPE_TIMEOUT = 2.0


@dataclass(frozen=True)
class ServerTarget:
    endpoint_id: str
    port: int
    pid: int | None
    state: str = ""  # the autoscaler's state file (local_zero): at zero, a scrape would wake it


def endpoint_key(endpoint_id: str) -> tuple:
    return ("endpoint", endpoint_id)


def route_key(project: str, model: str, version: int) -> tuple:
    return ("route", f"{project}/{model}", int(version))


class MetricsScraper:
    def __init__(self, db: Database, history: MetricsHistory, host: str, router_states: list[str]):
        self.db, self.history, self.host = db, history, client_host(host)
        self.router_states = router_states  # router.json of each local environment's router
        self._http: httpx.AsyncClient | None = None

    def targets(self) -> list[ServerTarget]:
        """Live version endpoints of local environments, with their port and process group."""
        with self.db.read() as session:
            local = select(EnvironmentRow.name).where(EnvironmentRow.kind == "local")
            rows = session.execute(
                select(VersionEndpointRow.id, VersionEndpointRow.handle)
                .where(VersionEndpointRow.status.in_(LIVE), VersionEndpointRow.environment_name.in_(local))
            ).all()
        found = []
        for endpoint_id, handle in rows:
            handle = handle or {}
            if isinstance(handle.get("port"), int):
                pid = handle.get("pid")
                found.append(ServerTarget(endpoint_id, handle["port"], pid if isinstance(pid, int) else None,
                                          str(handle.get("state") or "")))
        return found

    async def scrape_once(self) -> None:
        targets = await asyncio.to_thread(self.targets)
        now = time.time()
        await asyncio.gather(*(self._server(t, now) for t in targets),
                             *(self._router(path, now) for path in self.router_states))
        self.history.forget_older_than(now)

    async def _get(self, url: str) -> str | None:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=SCRAPE_TIMEOUT, trust_env=False)
        try:
            response = await self._http.get(url)
        except httpx.HTTPError as exc:
            log.debug("scraping %s failed: %s", url, exc)
            return None
        return response.text if response.status_code == 200 else None

    async def _server(self, target: ServerTarget, now: float) -> None:
        if asleep(read_state(target.state)):  # looked at just before: it may have just gone to zero
            return
        text = await self._get(f"http://{self.host}:{target.port}/metrics")
        if text is None:
            return
        counts = parse_exposition(text, "merlin_requests", "merlin_request_duration_seconds").get(
            (), Sample(0.0, 0.0, 0.0))
        cpu, memory = await asyncio.to_thread(process_group_usage, target.pid)
        self.history.record(endpoint_key(target.endpoint_id),
                            replace(counts, ts=now, cpu_seconds=cpu, memory_bytes=memory))

    async def _router(self, state_path: str, now: float) -> None:
        state = read_state(state_path)
        if not isinstance(state.get("port"), int):
            return
        text = await self._get(f"http://{self.host}:{state['port']}/-/metrics")
        if text is None:
            return
        by_route = parse_exposition(text, "merlin_router_requests", "merlin_router_request_duration_seconds",
                                    ("route", "version"))
        for (route, version), sample in by_route.items():
            if version.isdigit():
                self.history.record(("route", route, int(version)), replace(sample, ts=now))

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def process_group_usage(pid: int | None) -> tuple[float | None, float | None]:
    """CPU seconds (user + system) and resident memory of a model server and its workers."""
    if pid is None:
        return None, None
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None, None
    cpu = memory = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            cpu += times.user + times.system
            memory += process.memory_info().rss
        except psutil.Error:
            continue
    return cpu, memory
