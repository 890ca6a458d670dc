"""Wires the store, services, deployers and reconciler together; the handlers' one entry point."""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

from .deployers import Deployers
from .deployers.base import DeployerContext
from .entities import Environment, ModelEndpoint, VersionEndpoint
from .errors import Conflict
from .leadership import Leadership, is_postgresql
from .reconciler import Reconciler
from .restarts import RestartPolicy
from .services import logger_config, validation
from .services.access import AccessService
from .services.deployments import DeploymentStateService
from .services.endpoints import EndpointService, _settings
from .services.environments import EnvironmentService
from .services.events import EventService
from .services.request_logs import RequestLogService
from .deployers.local_request_log import retention
from .services.mlflow_gateway import MlflowGateway
from .services.model_endpoints import ModelEndpointService
from .services.models import ModelService
from .services.projects import ProjectService
from .services.schemas import ModelSchemaService
from .services.versions import VersionService
from .store.db import Database


REACHABILITY_TTL = 10.0
log = logging.getLogger("merlin_jupyter_server.control_plane")


@dataclass
class Settings:
    db_url: str
    tracking_uri: str  # what clients log to (shown as each project's mlflow_tracking_url)
    state_dir: str
    mlflow_host: Any = None  # the hosted tracking server (MlflowHost), when there is one
    environments: list[dict[str, Any]] = field(default_factory=list)
    local_environment: dict[str, Any] = field(default_factory=dict)
    python: str = ""
    host: str = "127.0.0.1"
    pending_timeout: float = 600.0
    restart_backoff: float = 1.0
    undeploy_wait: float = 60.0
    route_wait: float = 30.0
    deployer_options: dict[str, Any] = field(default_factory=dict)
    # The machine's name, recorded with the local endpoints it runs: a replica on another host
    # never looks after them (MerlinApp.hostname).
    hostname: str = field(default_factory=socket.gethostname)
    leader_poll: float = 1.0  # seconds between a replica's asks for the reconciler's lock
    team_mode: bool = False  # project membership enforced (services/access.py)
    metrics_interval: float = 5.0
    metrics_retention: float = 3600.0


class ControlPlane:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.db = Database(settings.db_url)
        self.mlflow = MlflowGateway(settings.tracking_uri, settings.mlflow_host)
        self.environments = EnvironmentService(self.db)
        self.environments.sync_from_config(settings.environments, settings.local_environment)
        self.projects = ProjectService(self.db, settings.tracking_uri)
        self.models = ModelService(self.db, self.mlflow)
        self.versions = VersionService(self.db, self.mlflow)
        self.schemas = ModelSchemaService(self.db)
        self.endpoints = EndpointService(self.db, admit=lambda env, request, policy:
                                         self.deployers.get(env).admit(request, policy))
        self.model_endpoints = ModelEndpointService(self.db)
        self.events = EventService(self.db)
        self.state = DeploymentStateService(self.db, settings.tracking_uri, self.mlflow,
                                            hostname=settings.hostname)
        # SQLite: this is the store's only control plane (the file lock). PostgreSQL: one of
        # several replicas, which reconciles only while it holds the advisory lock.
        self.leadership = (Leadership(settings.db_url, f"merlin {settings.hostname} pid {os.getpid()}")
                           if is_postgresql(settings.db_url) else None)
        self.access = AccessService(self.db)
        self.request_logs = RequestLogService(self.db, settings.state_dir, *retention(settings.deployer_options))
        self.deployers = Deployers(
            DeployerContext(settings.state_dir, settings.python, settings.host, settings.deployer_options,
                            active=self.leadership is None)
        )
        self.reconciler = Reconciler(self.state, self.deployers, pending_timeout=settings.pending_timeout,
                                     restarts=RestartPolicy(backoff=settings.restart_backoff))
        self.deployers.context.on_change = self.reconciler.kick
        self.undeploy_wait = settings.undeploy_wait
        self._observe(settings)
        # The panel polls environments: a slow cluster is asked at most every few seconds.
        self._reachability: dict[str, tuple[float, tuple[bool, str]]] = {}
        self._following: asyncio.Task | None = None
        self.leading_since: float | None = None  # time.time() this replica began to reconcile

    def start(self) -> None:
        if self.leadership is None:
            self._lead()
        elif self._following is None:
            self._following = asyncio.get_running_loop().create_task(self._follow(), name="merlin-leadership")

    def _lead(self) -> None:
        if not self.reconciler.running:
            self.deployers.context.active = True
            # Creating the local deployer starts its warm stand-by: the first deploy is fast too.
            self.deployers.get(self.environments.get("local"))
            self.leading_since = time.time()
        self.reconciler.start()
        self.observer.start()

    def _observe(self, settings: Settings) -> None:
        """Metrics history, guarded rollouts and alerts (observability.py wires them)."""
        from .observability import wire

        wire(self, settings)

    async def _follow(self) -> None:
        """Ask for the reconciler's lock until it is this replica's; reconcile while it holds it."""
        assert self.leadership is not None
        while True:
            try:
                leading = await asyncio.to_thread(self.leadership.try_acquire)
                if leading and not self.reconciler.running:
                    log.info("%s reconciles now (it holds the reconciler's lock)", self.leadership.name)
                    await self.deployers.close()  # the read-only ones of a follower
                    self._lead()
                elif not leading and self.reconciler.running:
                    log.warning("%s stopped reconciling: it no longer holds the lock", self.leadership.name)
                    # First: a request meanwhile must not make a deployer that starts processes.
                    self.deployers.context.active, self.leading_since = False, None
                    await self.reconciler.stop()
                    await self.deployers.close()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - asked again at the next interval
                log.exception("asking for the reconciler's lock failed; will retry")
            await asyncio.sleep(self.settings.leader_poll)

    async def stop(self) -> None:
        """Stop reconciling; deployments keep running and are re-adopted on the next start."""
        if self._following is not None:
            self._following.cancel()
            try:
                await self._following
            except asyncio.CancelledError:
                pass
            self._following = None
        await self.observer.stop()
        await self.scraper.close()
        await self.reconciler.stop()
        await self.deployers.close()
        if self.leadership is not None:
            await asyncio.to_thread(self.leadership.release)
        self.db.close()

    # -- queries that need a deployer ---------------------------------------------------------
    async def environments_with_reachability(self) -> list[Environment]:
        environments = await asyncio.to_thread(self.environments.list)

        async def check(env: Environment) -> None:
            cached = self._reachability.get(env.name)
            if cached is None or time.monotonic() - cached[0] > REACHABILITY_TTL:
                try:
                    result = await asyncio.wait_for(self.deployers.get(env).check(), 5)
                    found = (result.reachable, result.message)
                except Exception as exc:  # noqa: BLE001 - reachability is reported, never raised
                    found = (False, f"cannot check the cluster: {exc}")
                cached = self._reachability[env.name] = (time.monotonic(), found)
            env.reachable, env.reachable_message = cached[1]

        await asyncio.gather(*(check(env) for env in environments))
        return environments

    async def render_deploy(self, model_id: int, number: int, body: dict[str, Any]) -> str:
        """The manifests a deploy would apply (dry run); nothing is created."""
        env_name = validation.chosen_environment(body)
        env = await asyncio.to_thread(self.environments.get, env_name) if env_name else None
        if env is None:
            env = next(e for e in await asyncio.to_thread(self.environments.list) if e.is_default)
        settings = _settings(body, env.default_resource_request, env.deployment_mode)
        logger_config.check_environment(settings["logger"], env)
        spec = await asyncio.to_thread(self.state.preview_spec, model_id, number, env, settings)
        manifests = await self.deployers.get(env).render(spec)
        if not manifests:
            raise Conflict(
                f"Environment {env.name!r} runs model servers as local processes: there are no "
                "manifests to show. Choose a Kubernetes environment for a dry run."
            )
        return manifests

    async def wait_for_endpoint(
        self, model_id: int, number: int, endpoint_id: str,
        done: Callable[[VersionEndpoint], bool], timeout: float,
    ) -> VersionEndpoint:
        latest: list[VersionEndpoint] = []

        async def check() -> bool:
            latest[:] = [await asyncio.to_thread(self.endpoints.get, model_id, number, endpoint_id)]
            return done(latest[0])

        await self.reconciler.wait_until(check, timeout)
        return latest[0]

    async def wait_for_route(self, model_id: int, model_endpoint_id: int) -> ModelEndpoint:
        """Wait until the latest rule of the model endpoint was applied (or failed)."""
        latest: list[ModelEndpoint] = []

        async def check() -> bool:
            latest[:] = [await asyncio.to_thread(self.model_endpoints.get, model_id, model_endpoint_id)]
            return await asyncio.to_thread(self.state.route_applied, model_endpoint_id)

        await self.reconciler.wait_until(check, self.settings.route_wait)
        return latest[0]

    async def endpoint_logs(self, model_id: int, number: int, endpoint_id: str, tail: int) -> list[str]:
        endpoint = await asyncio.to_thread(self.endpoints.get, model_id, number, endpoint_id)
        spec, handle = await asyncio.to_thread(self.state.spec_for, endpoint_id)
        if not handle and spec.environment.kind != "local":
            # Nothing was ever created in the cluster for it (it failed first): no pod to ask.
            return [endpoint.message] if endpoint.message else []
        return await self.deployers.get(spec.environment).logs(spec, handle, tail)

    async def follow_endpoint_logs(
        self, model_id: int, number: int, endpoint_id: str, tail: int
    ) -> AsyncIterator[str]:
        """The tail, then new lines until the endpoint has failed or is terminated (as
        ``kubectl logs -f`` ends with its container), or the client goes away."""
        endpoint = await asyncio.to_thread(self.endpoints.get, model_id, number, endpoint_id)
        spec, handle = await asyncio.to_thread(self.state.spec_for, endpoint_id)
        if not handle and spec.environment.kind != "local" and endpoint.status.value in ("failed", "terminated"):
            for line in [endpoint.message] if endpoint.message else []:
                yield line
            return
        lines = self.deployers.get(spec.environment).follow_logs(spec, handle, tail).__aiter__()
        following = True
        while True:
            next_line = asyncio.ensure_future(lines.__anext__())
            while not next_line.done():
                await asyncio.wait({next_line}, timeout=1.0)
                if not next_line.done() and not following:
                    next_line.cancel()
                    return
                if not next_line.done():
                    endpoint = await asyncio.to_thread(self.endpoints.get, model_id, number, endpoint_id)
                    # One more second of output after the end, for the last lines written.
                    following = endpoint.status.value not in ("failed", "terminated")
            try:
                yield next_line.result()
            except StopAsyncIteration:
                return

