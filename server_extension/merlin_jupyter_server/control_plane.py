"""Wires the store, services, deployers and reconciler together; the handlers' one entry point."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

from .deployers import Deployers
from .deployers.base import DeployerContext
from .entities import Environment, ModelEndpoint, VersionEndpoint
from .errors import InvalidInput
from .reconciler import Reconciler
from .services.deployments import DeploymentStateService
from .services.endpoints import EndpointService, _settings
from .services.environments import EnvironmentService
from .services.events import EventService
from .services.mlflow_gateway import MlflowGateway
from .services.model_endpoints import ModelEndpointService
from .services.models import ModelService
from .services.projects import ProjectService
from .services.versions import VersionService
from .store.db import Database


REACHABILITY_TTL = 10.0


@dataclass
class Settings:
    db_url: str
    tracking_uri: str  # what clients log to (shown as each project's mlflow_tracking_url)
    state_dir: str
    mlflow_store_uri: str | None = None  # set when the control plane hosts the tracking store
    mlflow_artifact_root: str | None = None
    mlflow_wait_ready: Callable[[], None] | None = None
    environments: list[dict[str, Any]] = field(default_factory=list)
    local_environment: dict[str, Any] = field(default_factory=dict)
    python: str = ""
    host: str = "127.0.0.1"
    pending_timeout: float = 600.0
    undeploy_wait: float = 60.0
    route_wait: float = 30.0
    deployer_options: dict[str, Any] = field(default_factory=dict)


class ControlPlane:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.db = Database(settings.db_url)
        self.mlflow = MlflowGateway(
            settings.tracking_uri, settings.mlflow_store_uri, settings.mlflow_artifact_root,
            settings.mlflow_wait_ready,
        )
        self.environments = EnvironmentService(self.db)
        self.environments.sync_from_config(settings.environments, settings.local_environment)
        self.projects = ProjectService(self.db, settings.tracking_uri)
        self.models = ModelService(self.db, self.mlflow)
        self.versions = VersionService(self.db, self.mlflow)
        self.endpoints = EndpointService(self.db)
        self.model_endpoints = ModelEndpointService(self.db)
        self.events = EventService(self.db)
        self.state = DeploymentStateService(self.db, settings.tracking_uri, self.mlflow)
        self.deployers = Deployers(
            DeployerContext(settings.state_dir, settings.python, settings.host, settings.deployer_options)
        )
        self.reconciler = Reconciler(self.state, self.deployers, pending_timeout=settings.pending_timeout)
        self.undeploy_wait = settings.undeploy_wait
        # The panel polls environments: a slow cluster is asked at most every few seconds.
        self._reachability: dict[str, tuple[float, tuple[bool, str]]] = {}

    def start(self) -> None:
        if not self.reconciler.running:
            # Creating the local deployer starts its warm stand-by: the first deploy is fast too.
            self.deployers.get(self.environments.get("local"))
        self.reconciler.start()

    async def stop(self) -> None:
        """Stop reconciling; deployments keep running and are re-adopted on the next start."""
        await self.reconciler.stop()
        await self.deployers.close()
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
        env_name = body.get("environment_name")
        env = await asyncio.to_thread(self.environments.get, env_name) if env_name else None
        if env is None:
            env = next(e for e in await asyncio.to_thread(self.environments.list) if e.is_default)
        spec = await asyncio.to_thread(self.state.preview_spec, model_id, number, env, _settings(
            body, env.default_resource_request, env.deployment_mode
        ))
        manifests = await self.deployers.get(env).render(spec)
        if not manifests:
            raise InvalidInput(
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
        await asyncio.to_thread(self.endpoints.get, model_id, number, endpoint_id)
        spec, handle = await asyncio.to_thread(self.state.spec_for, endpoint_id)
        return await self.deployers.get(spec.environment).logs(spec, handle, tail)

    async def follow_endpoint_logs(
        self, model_id: int, number: int, endpoint_id: str, tail: int
    ) -> AsyncIterator[str]:
        await asyncio.to_thread(self.endpoints.get, model_id, number, endpoint_id)
        spec, handle = await asyncio.to_thread(self.state.spec_for, endpoint_id)
        async for line in self.deployers.get(spec.environment).follow_logs(spec, handle, tail):
            yield line

