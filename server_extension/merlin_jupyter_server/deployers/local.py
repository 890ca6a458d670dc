"""The ``local`` environment: each version endpoint is a model-server process on this machine."""
from __future__ import annotations

import asyncio
import os
import sys
from typing import Any, AsyncIterator

import httpx

from ..errors import DeploymentError
from . import local_envs
from .artifact_store import local_path
from .base import Deployer, DeploymentSpec, DeploymentStatus, RouteSpec
from .local_process import ProcessTable, client_host, free_port, port_free, tail
from .local_router import LocalRouter
from .local_standby import StandbyPool

# Lines the model server prints when it gives up; everything after the marker is the reason.
FAILURE_MARKER = "merlin-serving: failed:"
LOG_TAIL_ON_FAILURE = 40


class LocalDeployer(Deployer):
    """Runs ``python -m merlin_jupyter.serving`` per endpoint, bound to 127.0.0.1 by default."""

    kind = "local"

    def __init__(self, environment, context=None):
        super().__init__(environment, context)
        self.processes = ProcessTable()
        self.host = self.context.host or "127.0.0.1"
        self.python = self.context.python or sys.executable
        self.state_dir = self.context.state_dir or os.path.join(os.getcwd(), ".merlin")
        # Isolated model environments; MerlinApp.deployer_options {"envs_dir": ...} can share
        # them across data dirs (the compatibility tests build merlin-sdk's only once).
        self.envs_root = (self.context.options.get("envs_dir")
                          or os.path.join(self.state_dir, "envs"))
        self._http = httpx.AsyncClient(timeout=2.0, trust_env=False)
        self.standby = StandbyPool(self.processes, self.python, self.state_dir)
        self.router = LocalRouter(self.processes, self.python, self.host, self.state_dir,
                                  port=int(self.context.options.get("router_port") or 0))
        if self.context.options.get("standby", True):
            self.standby.ensure()

    # -- deploy --------------------------------------------------------------------------
    def command(self, spec: DeploymentSpec, port: int) -> list[str]:
        """The model server's command line (a pure function of the spec and the port)."""
        cmd = [
            self.python, "-m", "merlin_jupyter.serving",
            "--model-uri", spec.model_uri,
            "--model-name", spec.model_name,
            "--host", self.host,
            "--port", str(port),
            "--share-port",
        ]
        if spec.resource_request.workers:
            cmd += ["--workers", str(spec.resource_request.workers)]
        return cmd

    def _endpoint_env(self, spec: DeploymentSpec) -> dict[str, str]:
        """What an endpoint's process gets on top of this server's environment."""
        env = {item["name"]: item["value"] for item in spec.env_vars}
        if spec.tracking_uri:
            env.setdefault("MLFLOW_TRACKING_URI", spec.tracking_uri)
        return env

    def environ(self, spec: DeploymentSpec) -> dict[str, str]:
        return {**os.environ, **self._endpoint_env(spec), "PYTHONUNBUFFERED": "1"}

    def log_path(self, spec: DeploymentSpec) -> str:
        return os.path.join(self.state_dir, "endpoints", spec.endpoint_id, f"r{spec.revision}.log")

    async def _port_for(self, spec: DeploymentSpec) -> int:
        """The endpoint's port, kept across redeploys so its URL never changes.

        While the previous revision still listens there, the new one shares the port
        (SO_REUSEPORT) until it is ready and the old one drains and exits.
        """
        path = os.path.join(self.state_dir, "endpoints", spec.endpoint_id, "port")
        try:
            with open(path, encoding="utf-8") as handle:
                port = int(handle.read().strip())
            if port_free(self.host, port) or await self._serves(port, spec):
                return port
        except (OSError, ValueError):
            pass
        port = free_port(self.host)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(str(port))
        return port

    async def _serves(self, port: int, spec: DeploymentSpec) -> bool:
        """Whether a revision of this endpoint answers on ``port`` (and not some other program)."""
        try:
            response = await self._http.get(
                f"http://{client_host(self.host)}:{port}/v1/models/{spec.model_name}")
        except httpx.HTTPError:
            return False
        return "X-Merlin-Server" in response.headers

    async def deploy(self, spec: DeploymentSpec) -> DeploymentStatus:
        port = await self._port_for(spec)
        log = self.log_path(spec)
        os.makedirs(os.path.dirname(log), exist_ok=True)
        command = self.command(spec, port)
        # A model whose recorded requirements this environment does not meet gets its own.
        env = await asyncio.to_thread(local_envs.plan, local_path(spec.model_uri), self.envs_root)
        try:
            if env is not None:
                command = local_envs.builder_command(self.python, env, command[3:])
                warm = None
            else:
                warm = await self.standby.take(command[3:], self._endpoint_env(spec), log)
            pid, started = warm or await asyncio.to_thread(
                self.processes.spawn, command, self.environ(spec), log
            )
        except OSError as exc:
            raise DeploymentError(f"Could not start the model server: {exc}.") from exc
        handle = {"pid": pid, "started": started, "port": port, "log": log, "revision": spec.revision}
        if env is not None:
            handle["env"] = env.path
            return DeploymentStatus(
                "pending", message="preparing the model's own Python environment", handle=handle)
        return DeploymentStatus("pending", message="starting the model server", handle=handle)

    # -- observe -------------------------------------------------------------------------
    def url(self, spec: DeploymentSpec, handle: dict[str, Any]) -> str:
        return f"http://{client_host(self.host)}:{handle['port']}/v1/models/{spec.model_name}:predict"

    async def status(self, spec: DeploymentSpec, handle: dict[str, Any]) -> DeploymentStatus:
        pid, started = int(handle["pid"]), handle.get("started")
        exit_ = self.processes.exit_of(pid)
        if exit_ is not None:
            return self._failed(handle, f"The model server {exit_.describe()}.")
        if not self.processes.alive(pid, started):
            return DeploymentStatus("gone", message="the model server process is not running", handle=handle)
        ready_url = f"http://{client_host(self.host)}:{handle['port']}/v1/models/{spec.model_name}"
        try:
            # A new connection per probe: during a redeploy the old revision shares the port,
            # and only an answer from this revision's own server counts.
            response = await self._http.get(ready_url, headers={"Connection": "close"})
        except httpx.HTTPError:
            step = self._progress(handle)
            return DeploymentStatus("pending", message=step or "the model server is starting",
                                    handle=handle, milestone=step is not None)
        if response.status_code == 200 and response.headers.get("X-Merlin-Server") == str(pid):
            return DeploymentStatus("ready", url=self.url(spec, handle), handle=handle)
        return DeploymentStatus("pending", message="the model is loading", handle=handle)

    def _progress(self, handle: dict[str, Any]) -> str | None:
        """The last step an environment build reported (None for a plain model server)."""
        if not handle.get("env"):
            return None
        lines = [line for line in tail(handle.get("log", ""), 200)
                 if line.startswith(local_envs.PROGRESS)]
        return lines[-1][len(local_envs.PROGRESS):].strip() if lines else None

    def _failed(self, handle: dict[str, Any], fallback: str) -> DeploymentStatus:
        lines = tail(handle.get("log", ""), LOG_TAIL_ON_FAILURE)
        reasons = [line.split(FAILURE_MARKER, 1)[1].strip() for line in lines if FAILURE_MARKER in line]
        message = f"{fallback} {reasons[-1]}" if reasons else fallback
        return DeploymentStatus("failed", message=message, logs=lines, handle=handle)

    async def undeploy(self, spec: DeploymentSpec, handle: dict[str, Any]) -> None:
        if handle.get("pid"):
            await self.processes.stop(int(handle["pid"]), handle.get("started"))

    async def logs(self, spec: DeploymentSpec, handle: dict[str, Any], tail_lines: int = 100) -> list[str]:
        path = handle.get("log") or self.log_path(spec)
        return await asyncio.to_thread(tail, path, tail_lines)

    async def follow_logs(
        self, spec: DeploymentSpec, handle: dict[str, Any], tail_lines: int = 100
    ) -> AsyncIterator[str]:
        path = handle.get("log") or self.log_path(spec)
        for line in await asyncio.to_thread(tail, path, tail_lines):
            yield line
        position = os.path.getsize(path) if os.path.exists(path) else 0
        while True:
            await asyncio.sleep(0.25)
            if not os.path.exists(path) or os.path.getsize(path) <= position:
                continue
            with open(path, "r", encoding="utf-8", errors="replace") as handle_:
                handle_.seek(position)
                chunk = handle_.read()
                position = handle_.tell()
            for line in chunk.splitlines():
                yield line

    # -- model endpoints -----------------------------------------------------------------
    async def route(self, spec: RouteSpec) -> str:
        return await self.router.apply(spec)

    async def unroute(self, spec: RouteSpec) -> None:
        await self.router.apply(spec, remove=True)

    async def resume(self) -> None:
        await self.router.start_if_needed()

    async def close(self) -> None:
        await self.standby.close()
        await self.router.close()
        await self._http.aclose()
