"""Drives every endpoint towards what was asked for, and survives restarts.

All intent lives in the database (``desired``, ``revision``, the traffic rule's ``generation``),
and all a deployer needs to find its work again lives in the endpoint's ``handle``. So after a
restart the first pass re-adopts what still runs, restarts what was lost, and finishes what was
half done. Database calls run in worker threads; deployer calls are coroutines: the Jupyter
event loop is never blocked.

The intent is recorded before anything is started: ``{"intent": ..., "revision": r}`` becomes the
endpoint's handle before the deployer is called, so a control plane killed at any step leaves a
record naming the revision that may be running, and the next one adopts or stops it (a deployer
finds its own work by revision). A deployment that crashes is restarted with back-off and the
endpoint is ``pending`` until it answers again (restarts.py).
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from . import crashpoints
from .background import BackgroundLoop
from .deployers import Deployers
from .deployers.base import DeploymentSpec, DeploymentStatus
from .entities import EndpointStatus as S
from .errors import MerlinError, Unavailable
from .restarts import RestartPolicy
from .services.deployments import DeploymentStateService, EndpointWork, RouteWork

log = logging.getLogger("merlin_jupyter_server.reconciler")
LOG_LINES_IN_MESSAGE = 20
FOLLOWER_POLL = 0.25  # seconds between checks of a wait on a replica that does not reconcile


class Reconciler(BackgroundLoop):
    task_name = "merlin-reconciler"

    def __init__(
        self,
        state: DeploymentStateService,
        deployers: Deployers,
        idle_interval: float = 2.0,
        busy_interval: float = 0.05,
        pending_timeout: float = 600.0,
        call_timeout: float = 60.0,
        restarts: RestartPolicy | None = None,
    ):
        self.state = state
        self.deployers = deployers
        self.idle_interval = idle_interval
        self.busy_interval = busy_interval
        self.pending_timeout = pending_timeout
        self.call_timeout = call_timeout
        self.restarts = restarts or RestartPolicy()
        self._wake = asyncio.Event()
        self._passes = asyncio.Condition()
        self._busy = False
        # Rules that could not be applied because the cluster was unreachable:
        # (model endpoint, generation) -> [when that began, last try]. Retried once per idle interval.
        self._routes_waiting: dict[tuple[int, int], list[float]] = {}
        self._redeploys: dict[tuple[str, int], float] = {}  # (endpoint, revision) -> wait began
        self._checked: dict[str, float] = {}  # settled endpoint -> its last status check

    def kick(self, endpoint_id: str | None = None) -> None:
        """Run a pass now instead of at the next interval (checking ``endpoint_id`` in it)."""
        if endpoint_id is not None:
            self._checked.pop(endpoint_id, None)
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
                    # On a replica that does not reconcile no pass ends here: look again soon.
                    wait = remaining if self.running else min(remaining, FOLLOWER_POLL)
                    await asyncio.wait_for(self._passes.wait(), wait)
                except asyncio.TimeoutError:
                    pass

    async def _run(self) -> None:
        await self._guard(self.deployers.resume(), "resuming deployers")
        await self._guard(self._stop_unknown(), "stopping what no endpoint asks for")
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

    async def _stop_unknown(self) -> None:
        """Before the first pass: stop what a deployer runs for no recorded revision (left by a
        crash of an older control plane, or by an endpoint undeployed while it was missed)."""
        known = await asyncio.to_thread(self.state.known_revisions)
        stopped = await self.deployers.stop_unknown(known)
        if stopped:
            log.warning("stopped %d process(es) no endpoint asks for: %s", len(stopped), stopped)

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
            crashpoints.reached("undeploy:before-stop")
            for handle in (work.handle, work.previous_handle):
                if handle:
                    await deployer.undeploy(_spec_of(spec, handle), handle)
            crashpoints.reached("undeploy:after-stop")
            await asyncio.to_thread(self.state.record_terminated, endpoint.id)
            crashpoints.reached("undeploy:after-record")
            return
        if work.previous_handle and endpoint.status in (S.PENDING, S.FAILED):
            await deployer.undeploy(_spec_of(spec, work.previous_handle), work.previous_handle)
            await asyncio.to_thread(self.state.clear_previous, endpoint.id)
        if not _started(work.handle):
            restarts = work.handle.get("restarts")
            if restarts and time.time() < restarts.get("restart_at", 0):
                return  # backing off after a crash
            await self._deploy(deployer, spec, restarts=restarts)
            return
        status = await deployer.status(spec, work.handle)
        await self._observe(deployer, work, status)

    async def _deploy(self, deployer, spec: DeploymentSpec, note: str | None = None,
                      restarts: dict[str, Any] | None = None) -> None:
        carry = {"restarts": restarts} if restarts else {}
        intent = {"intent": uuid.uuid4().hex[:12], "revision": spec.revision, **carry}
        if not await asyncio.to_thread(self.state.record_intent, spec.endpoint_id, spec.revision, intent):
            return  # undeployed or superseded meanwhile
        crashpoints.reached("deploy:before-spawn")
        try:
            spec = await asyncio.to_thread(self.state.resolve_model, spec)
            status = await deployer.deploy(spec)
        except MerlinError as exc:
            await self._fail(deployer, spec, exc.message)
            return
        crashpoints.reached("deploy:after-spawn")
        if status.state == "failed":
            await self._fail(deployer, spec, describe_failure(status))
        elif not await asyncio.to_thread(
            self.state.record_started, spec.endpoint_id, spec.revision, {**status.handle, **carry}, note
        ):
            await deployer.undeploy(spec, status.handle)  # intent changed while we deployed
        else:
            crashpoints.reached("deploy:after-record")

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
            live = {k: v for k, v in (endpoint.serving or {}).items() if k not in ("enforced", "unenforced")}
            if status.details is not None and status.details != live:
                await asyncio.to_thread(self.state.record_serving, endpoint.id, spec.revision, status.details)
        elif status.state == "failed":
            await self._fail(deployer, spec, describe_failure(status))
        elif status.state == "crashed":
            await self._crashed(deployer, work, status)
        elif status.state == "gone":
            # Lost with the machine or the cluster: deploy again, never drop silently.
            log.warning("endpoint %s is gone from %s; deploying it again", endpoint.id, spec.environment.name)
            note = None
            if endpoint.status in (S.RUNNING, S.SERVING):
                note = f"The deployment was no longer there ({status.message}); deploying it again."
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

    async def _crashed(self, deployer, work: EndpointWork, status: DeploymentStatus) -> None:
        """Restart after a back-off, with the endpoint not ready meanwhile; fail after repeated
        crashes, with how it ended and its last log lines."""
        spec, policy = work.spec, self.restarts
        restarts = policy.after_crash(work.handle.get("restarts"), time.time(), status.message or "")
        crashes = len(restarts["crashes"])
        if policy.gives_up(restarts):
            message = (f"The model server crashed {crashes} times within {policy.window_words()} and "
                       f"is not restarted again. The last time, {status.message}.")
            await self._fail(deployer, spec, describe_failure(
                DeploymentStatus("failed", message=message, logs=status.logs)))
            return
        message = (f"Restarting after a crash: {status.message}. Next try in {restarts['delay']:g} s "
                   f"(crash {crashes}; {policy.limit} within {policy.window_words()} fail the endpoint).")
        log.warning("endpoint %s: %s", spec.endpoint_id, message)
        # Not ready, first; then what is left of it goes (e.g. workers of a killed supervisor).
        await asyncio.to_thread(self.state.record_crashed, spec.endpoint_id, spec.revision,
                                {"revision": spec.revision, "restarts": restarts}, message)
        await deployer.undeploy(spec, work.handle)

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


RECONCILER_KEYS = {"intent", "revision", "restarts"}


def _started(handle: dict[str, Any]) -> bool:
    """Whether a deployer recorded anything in the handle (not just the intent or restarts)."""
    return bool(set(handle) - RECONCILER_KEYS)


def _spec_of(spec: DeploymentSpec, handle: dict[str, Any]) -> DeploymentSpec:
    """The spec of the revision ``handle`` belongs to (a previous revision's intent)."""
    revision = handle.get("revision")
    if isinstance(revision, int) and revision != spec.revision:
        return dataclasses.replace(spec, revision=revision)
    return spec


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
