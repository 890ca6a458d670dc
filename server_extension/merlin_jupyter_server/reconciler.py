"""Drives every endpoint towards what was asked for, and survives restarts.

All intent lives in the database (``desired``, ``revision``, the traffic rule's ``generation``),
and all a deployer needs to find its work again lives in the endpoint's ``handle``. So after a
restart the first pass re-adopts what still runs, restarts what was lost, and finishes what was
half done. Database calls run in worker threads; deployer calls are coroutines: the Jupyter
event loop is never blocked.
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from .deployers import Deployers
from .deployers.base import DeploymentSpec, DeploymentStatus
from .entities import EndpointStatus as S
from .errors import MerlinError, Unavailable
from .services.deployments import DeploymentStateService, EndpointWork, RouteWork

log = logging.getLogger("merlin_jupyter_server.reconciler")
LOG_LINES_IN_MESSAGE = 20


class Reconciler:
    def __init__(
        self,
        state: DeploymentStateService,
        deployers: Deployers,
        idle_interval: float = 2.0,
        busy_interval: float = 0.05,
        pending_timeout: float = 600.0,
        call_timeout: float = 60.0,
    ):
        self.state = state
        self.deployers = deployers
        self.idle_interval = idle_interval
        self.busy_interval = busy_interval
        self.pending_timeout = pending_timeout
        self.call_timeout = call_timeout
        self._wake = asyncio.Event()
        self._passes = asyncio.Condition()
        self._task: asyncio.Task | None = None
        self._busy = False
        # Rules that could not be applied because the cluster was unreachable:
        # (model endpoint, generation) -> [when that began, last try]. Retried once per idle interval.
        self._routes_waiting: dict[tuple[int, int], list[float]] = {}
        self._redeploys: dict[tuple[str, int], float] = {}  # (endpoint, revision) -> wait began
        self._checked: dict[str, float] = {}  # settled endpoint -> its last status check

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="merlin-reconciler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def kick(self) -> None:
        """Run a pass now instead of at the next interval."""
        self._wake.set()

    async def wait_until(self, check: Callable[[], Awaitable[bool]], timeout: float) -> bool:
        """Kick passes until ``check()`` holds or ``timeout`` seconds pass; returns the outcome."""
        deadline = time.monotonic() + timeout
        while True:
            if await check():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.kick()
            async with self._passes:
                try:
                    await asyncio.wait_for(self._passes.wait(), remaining)
                except asyncio.TimeoutError:
                    pass

    async def _run(self) -> None:
        await self._guard(self.deployers.resume(), "resuming deployers")
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad pass must not stop reconciling
                log.exception("reconciler pass failed; retrying")
            async with self._passes:
                self._passes.notify_all()
            interval = self.busy_interval if self._busy else self.idle_interval
            try:
                await asyncio.wait_for(self._wake.wait(), interval)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def run_once(self) -> None:
        work = await asyncio.to_thread(self.state.endpoint_work)
        self._busy = any(not _settled(w) for w in work)
        # Waits of redeploys that ended (undeployed, superseded) are forgotten here.
        redeploying = {(w.endpoint.id, w.spec.revision) for w in work if w.previous_handle}
        self._redeploys = {k: v for k, v in self._redeploys.items() if k in redeploying}
        work = self._due(work)
        await asyncio.gather(*(self._guard(self._endpoint(w), w.spec.endpoint_id) for w in work))
        routes = await asyncio.to_thread(self.state.route_work)
        unapplied = {(r.model_endpoint_id, r.generation) for r in routes}
        self._routes_waiting = {k: v for k, v in self._routes_waiting.items() if k in unapplied}
        routes = [r for r in routes if self._route_due(r)]
        self._busy = self._busy or any(
            (r.model_endpoint_id, r.generation) not in self._routes_waiting for r in routes)
        await asyncio.gather(*(self._guard(self._route(r), f"route {r.model_endpoint_id}") for r in routes))

    def _due(self, work: list[EndpointWork]) -> list[EndpointWork]:
        """Endpoints in transition on every pass; settled ones once per idle interval, however
        busy the reconciler is with others (a status check probes the model server)."""
        now = time.monotonic()
        self._checked = {w.spec.endpoint_id: self._checked.get(w.spec.endpoint_id, float("-inf"))
                         for w in work if _settled(w)}
        due = []
        for w in work:
            if _settled(w):
                if now - self._checked[w.spec.endpoint_id] < self.idle_interval:
                    continue
                self._checked[w.spec.endpoint_id] = now
            due.append(w)
        return due

    async def _guard(self, job: Awaitable[Any], what: str) -> None:
        try:
            await asyncio.wait_for(job, self.call_timeout)
        except asyncio.TimeoutError:
            log.warning("reconciling %s took longer than %ss; will retry", what, self.call_timeout)
        except Exception:  # noqa: BLE001
            log.exception("reconciling %s failed; will retry", what)

    # -- version endpoints ---------------------------------------------------------------
    async def _endpoint(self, work: EndpointWork) -> None:
        endpoint, spec = work.endpoint, work.spec
        deployer = self.deployers.get(spec.environment)
        if endpoint.desired == "terminated":
            for handle in (work.handle, work.previous_handle):
                if handle:
                    await deployer.undeploy(spec, handle)
            await asyncio.to_thread(self.state.record_terminated, endpoint.id)
            return
        if work.previous_handle and endpoint.status in (S.PENDING, S.FAILED):
            await deployer.undeploy(spec, work.previous_handle)
            await asyncio.to_thread(self.state.clear_previous, endpoint.id)
        if not work.handle:
            await self._deploy(deployer, spec)
            return
        status = await deployer.status(spec, work.handle)
        await self._observe(deployer, work, status)

    async def _deploy(self, deployer, spec: DeploymentSpec, note: str | None = None) -> None:
        try:
            spec = await asyncio.to_thread(self.state.resolve_model, spec)
            status = await deployer.deploy(spec)
        except MerlinError as exc:
            await self._fail(deployer, spec, exc.message)
            return
        if status.state == "failed":
            await self._fail(deployer, spec, describe_failure(status))
        elif not await asyncio.to_thread(
            self.state.record_started, spec.endpoint_id, spec.revision, status.handle, note
        ):
            await deployer.undeploy(spec, status.handle)  # intent changed while we deployed

    async def _observe(self, deployer, work: EndpointWork, status: DeploymentStatus) -> None:
        endpoint, spec = work.endpoint, work.spec
        redeploying = bool(work.previous_handle)
        if status.state != "pending":
            self._redeploys.pop((endpoint.id, spec.revision), None)
        if status.state == "ready":
            if endpoint.status == S.PENDING or redeploying or status.url != endpoint.url:
                previous = await asyncio.to_thread(
                    self.state.record_ready, endpoint.id, spec.revision, status.url, status.handle or work.handle
                )
                if previous:
                    await deployer.undeploy(spec, previous)
        elif status.state == "failed":
            await self._fail(deployer, spec, describe_failure(status))
        elif status.state == "gone":
            # Lost with the machine or the process table: deploy again, never drop silently.
            log.warning("endpoint %s is gone from %s; deploying it again", endpoint.id, spec.environment.name)
            note = None
            if endpoint.status in (S.RUNNING, S.SERVING):
                note = f"The model server was no longer running ({status.message}); starting it again."
            await self._deploy(deployer, spec, note)
        elif redeploying:
            await self._watch_redeploy(deployer, work, status)
        elif endpoint.status != S.PENDING:
            return
        elif _age(work.status_changed_at) <= self.pending_timeout:
            if status.message != endpoint.message:
                await asyncio.to_thread(
                    self.state.record_progress, endpoint.id, spec.revision, status.message, status.milestone)
        else:
            message = (
                f"The endpoint did not become ready within {int(self.pending_timeout)} s. "
                f"Last seen: {status.message or 'still starting'}"
            )
            await self._fail(deployer, spec, describe_failure(DeploymentStatus("failed", message=message, logs=status.logs)))

    async def _watch_redeploy(self, deployer, work: EndpointWork, status: DeploymentStatus) -> None:
        """A new revision that never gets ready fails after pending_timeout; the old one stays.

        The endpoint's own status does not change during a redeploy (the old revision serves),
        so the start of the wait is kept here; after a restart the wait begins again."""
        key = (work.endpoint.id, work.spec.revision)
        since = self._redeploys.setdefault(key, time.monotonic())
        if time.monotonic() - since <= self.pending_timeout:
            return
        del self._redeploys[key]
        message = (f"Revision {work.spec.revision} did not become ready within {int(self.pending_timeout)} s. "
                   f"Last seen: {status.message or 'still starting'}")
        await self._fail(deployer, work.spec, describe_failure(
            DeploymentStatus("failed", message=message, logs=status.logs)))

    async def _fail(self, deployer, spec: DeploymentSpec, message: str) -> None:
        leftovers = await asyncio.to_thread(self.state.record_failed, spec.endpoint_id, spec.revision, message)
        for handle in leftovers:
            if handle:
                await deployer.undeploy(spec, handle)

    # -- model endpoints ---------------------------------------------------------------
    async def _route(self, work: RouteWork) -> None:
        deployer = self.deployers.get(work.spec.environment)
        try:
            if work.stop:
                await deployer.unroute(work.spec)
                url = None
            else:
                url = await deployer.route(work.spec)
        except Unavailable as exc:
            await self._route_unavailable(work, exc.message)
            return
        except MerlinError as exc:
            await asyncio.to_thread(self.state.record_route_failed, work.model_endpoint_id, work.generation, exc.message)
            return
        self._routes_waiting.pop((work.model_endpoint_id, work.generation), None)
        await asyncio.to_thread(self.state.record_routed, work.model_endpoint_id, work.generation, url)

    def _route_due(self, work: RouteWork) -> bool:
        waiting = self._routes_waiting.get((work.model_endpoint_id, work.generation))
        return waiting is None or time.monotonic() - waiting[1] >= self.idle_interval

    async def _route_unavailable(self, work: RouteWork, message: str) -> None:
        """The cluster could not be asked: keep the rule pending and retry, up to pending_timeout."""
        key, now = (work.model_endpoint_id, work.generation), time.monotonic()
        waiting = self._routes_waiting.setdefault(key, [now, now])
        waiting[1] = now
        if now - waiting[0] <= self.pending_timeout:
            await asyncio.to_thread(self.state.record_route_waiting, work.model_endpoint_id, work.generation, message)
            return
        del self._routes_waiting[key]
        message = f"The traffic rule could not be applied within {int(self.pending_timeout)} s. Last seen: {message}"
        await asyncio.to_thread(self.state.record_route_failed, work.model_endpoint_id, work.generation, message)


def _settled(work: EndpointWork) -> bool:
    """Live, with nothing asked of it: only its health needs watching."""
    endpoint = work.endpoint
    return (endpoint.status in (S.RUNNING, S.SERVING) and not work.previous_handle
            and endpoint.desired != "terminated")


def describe_failure(status: DeploymentStatus) -> str:
    """The reason in words, then the log lines that explain it."""
    message = status.message or "The model server stopped without saying why."
    lines = [line.rstrip() for line in status.logs if line.strip()][-LOG_LINES_IN_MESSAGE:]
    if lines:
        message += "\n\nLast log lines:\n" + "\n".join(lines)
    return message


def _age(ts: datetime) -> float:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - ts).total_seconds()
