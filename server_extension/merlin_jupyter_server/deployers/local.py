"""The ``local`` environment: each version endpoint is a model-server process on this machine.

Every process is started with markers naming this data directory and its endpoint revision
(local_ownership), so a restarted control plane finds each one again from the process table
alone: a deploy adopts the server already running for its revision instead of starting a
second one, an undeploy stops every process of its revision, and a start stops what no record
asks for. Model servers get a minimal environment (no Jupyter or cloud credentials).
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import sys
import time
from typing import Any, AsyncIterator

import httpx

from merlin_jupyter.serving import metrics as server_metrics

from ..entities import AutoscalingPolicy, ResourceRequest
from ..errors import DeploymentError
from . import local_cgroups, local_envs, local_limits, local_ownership as own, local_zero
from .artifact_store import local_path
from .base import Deployer, DeploymentSpec, DeploymentStatus, RouteSpec
from .local_process import ProcessTable, client_host, free_port, port_free, size, stop_group, tail
from .local_request_log import request_log_args, request_log_dir
from .local_router import LocalRouter
from .local_standby import StandbyPool

# Lines the model server prints when it gives up; everything after the marker is the reason.
FAILURE_MARKER = "merlin-serving: failed:"
LOG_TAIL_ON_FAILURE = 40
# A ready server whose exit a pidfd reports at once is probed over HTTP this often, not at
# every status check (every 2 s per endpoint, the control plane's idle CPU grew with them).
READY_RECHECK = 10.0
log = logging.getLogger("merlin_jupyter_server.local")


class LocalDeployer(Deployer):
    """Runs ``python -m merlin_jupyter.serving`` per endpoint, bound to 127.0.0.1 by default."""

    kind = "local"

    def __init__(self, environment, context=None):
        super().__init__(environment, context)
        self.processes = ProcessTable()
        self.host = self.context.host or "127.0.0.1"
        self.python = self.context.python or sys.executable
        self.state_dir = self.context.state_dir or os.path.join(os.getcwd(), ".merlin")
        self.owner = own.owner_id(self.state_dir)
        allowlist = self.context.options.get("env_allowlist")
        self.base_env = own.base_environ(allowlist)
        # Isolated model environments; MerlinApp.deployer_options {"envs_dir": ...} can share
        # them across data dirs (the compatibility tests build merlin-sdk's only once).
        self.envs_root = (self.context.options.get("envs_dir")
                          or os.path.join(self.state_dir, "envs"))
        self._http = httpx.AsyncClient(timeout=2.0, trust_env=False)
        self._watched: dict[int, int] = {}  # pid -> pidfd of a ready model server
        self._answered: dict[int, float] = {}  # watched pid -> when it last answered a probe
        self.standby = StandbyPool(self.processes, self.python, self.state_dir, self.owner,
                                   own.serving_environ(self.base_env),
                                   enabled=bool(self.context.options.get("standby", True)))
        self.router = LocalRouter(self.processes, self.python, self.host, self.state_dir,
                                  port=int(self.context.options.get("router_port") or 0),
                                  owner=self.owner, base_env=own.serving_environ(self.base_env))
        # Stand-bys of an earlier control plane of this data dir (killed before it could stop
        # them) serve nobody: only this one may assign them. A replica that does not reconcile
        # leaves them alone: the leader's are not stale.
        if self.context.active:
            self.standby.stop_stale()
            self.standby.forget_dead()
            server_metrics.sweep()  # samples directories of model servers that are gone
            local_cgroups.sweep()  # and their empty cgroups
            self.standby.ensure()

    def admit(self, request: ResourceRequest, policy: AutoscalingPolicy) -> dict[str, Any]:
        return local_limits.admit(self.environment, request, policy)

    def _scan(self) -> list[own.Owned]:
        return own.scan(self.owner, self.standby.dir)

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
        cmd += local_limits.scaling_args(spec.resource_request, spec.autoscaling_policy, self.context.options)
        cmd += ["--state-file", self.state_path(spec)]
        return cmd + request_log_args(spec, request_log_dir(self.state_dir, spec.endpoint_id),
                                      self.context.options)

    def state_path(self, spec: DeploymentSpec) -> str:
        """Where the model server writes its worker count and wakes (autoscale)."""
        return os.path.join(self.state_dir, "endpoints", spec.endpoint_id, f"r{spec.revision}.scale.json")

    def _endpoint_env(self, spec: DeploymentSpec) -> dict[str, str]:
        """What an endpoint's process gets on top of the minimal base environment."""
        env = {item["name"]: item["value"] for item in spec.env_vars}
        if spec.tracking_uri:
            env.setdefault("MLFLOW_TRACKING_URI", spec.tracking_uri)
        return env

    def markers(self, spec: DeploymentSpec) -> dict[str, str]:
        return {own.OWNER: self.owner, own.ROLE: own.MODEL_SERVER,
                own.ENDPOINT: f"{spec.endpoint_id}:{spec.revision}"}

    def environ(self, spec: DeploymentSpec, build: bool = False) -> dict[str, str]:
        base = self.base_env if build else own.serving_environ(self.base_env)
        return {**base, **self._endpoint_env(spec), "PYTHONUNBUFFERED": "1", **self.markers(spec)}

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
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            handle.write(str(port))
        return port

    def _recorded_port(self, spec: DeploymentSpec) -> int:
        try:
            with open(os.path.join(self.state_dir, "endpoints", spec.endpoint_id, "port")) as handle:
                return int(handle.read().strip())
        except (OSError, ValueError):
            return 0

    def _running_for(self, spec: DeploymentSpec, revision: int | None = None) -> list[own.Owned]:
        slot = f"{spec.endpoint_id}:{spec.revision if revision is None else revision}"
        return [found for found in self._scan() if found.role == own.MODEL_SERVER and found.slot == slot]

    async def _serves(self, port: int, spec: DeploymentSpec) -> bool:
        """Whether a revision of this endpoint answers on ``port`` (and not some other program)."""
        try:
            response = await self._http.get(
                f"http://{client_host(self.host)}:{port}/v1/models/{spec.model_name}")
        except httpx.HTTPError:
            return False
        return "X-Merlin-Server" in response.headers

    async def deploy(self, spec: DeploymentSpec) -> DeploymentStatus:
        # The control plane may have died after starting this revision and before recording it:
        # the server it started is this deploy's, never a second one beside it.
        groups = await asyncio.to_thread(self._running_for, spec)
        running = [f for f in groups if f.leader_alive][:1]
        for extra in groups:
            if extra not in running:  # a second server, or workers left by a killed one
                await stop_group(extra.pgid, extra.leader_alive)
        if running:
            found = running[0]
            handle = {"pid": found.pgid, "started": found.started, "port": self._recorded_port(spec),
                      "log": self.log_path(spec), "revision": spec.revision,
                      "log_from": size(self.log_path(spec)), "adopted": True,
                      "state": self.state_path(spec)}
            groups = local_cgroups.existing(self._group_name(spec))
            if groups:
                handle["cgroup"] = groups
            log.warning("adopted the model server %s already running for endpoint %s revision %s",
                        found.pgid, spec.endpoint_id, spec.revision)
            return DeploymentStatus("pending", message="found the model server started before a "
                                    "restart of the control plane", handle=handle)
        port = await self._port_for(spec)
        log_file = self.log_path(spec)
        os.makedirs(os.path.dirname(log_file), exist_ok=True)
        log_from = size(log_file)
        command = self.command(spec, port)
        # A model whose recorded requirements this environment does not meet gets its own.
        env = await asyncio.to_thread(local_envs.plan, local_path(spec.model_uri), self.envs_root)
        try:
            if env is not None:
                command = local_envs.builder_command(self.python, env, command[3:])
                warm = None
            else:
                warm = await self.standby.take(command[3:], self._endpoint_env(spec), log_file,
                                               f"{spec.endpoint_id}:{spec.revision}")
            pid, started = warm or await asyncio.to_thread(
                self.processes.spawn, command, self.environ(spec, build=env is not None), log_file
            )
        except OSError as exc:
            raise DeploymentError(f"Could not start the model server: {exc}.") from exc
        handle = {"pid": pid, "started": started, "port": port, "log": log_file,
                  "revision": spec.revision, "log_from": log_from, "state": self.state_path(spec)}
        # Its limits before it loads anything: what it allocates from now on is charged there.
        groups = await asyncio.to_thread(self._limit, spec, pid)
        if groups:
            handle["cgroup"] = groups
        if env is not None:
            handle["env"] = env.path
            return DeploymentStatus(
                "pending", message="preparing the model's own Python environment", handle=handle)
        return DeploymentStatus("pending", message="starting the model server", handle=handle)

    def _group_name(self, spec: DeploymentSpec) -> str:
        return f"{self.owner}-{spec.endpoint_id}-r{spec.revision}"

    def _limit(self, spec: DeploymentSpec, pid: int) -> list[str]:
        groups = local_cgroups.create(self._group_name(spec), spec.resource_request.memory_request,
                                      spec.resource_request.cpu_request)
        if groups and not local_cgroups.add(groups, pid):
            log.warning("could not move model server %s into %s", pid, groups)
        return groups

    # -- observe -------------------------------------------------------------------------
    def url(self, spec: DeploymentSpec, handle: dict[str, Any]) -> str:
        return f"http://{client_host(self.host)}:{handle['port']}/v1/models/{spec.model_name}:predict"

    async def status(self, spec: DeploymentSpec, handle: dict[str, Any]) -> DeploymentStatus:
        if not handle.get("pid"):
            return DeploymentStatus("gone", message="no model server was started", handle=handle)
        pid, started = int(handle["pid"]), handle.get("started")
        if handle.get("cgroup") and await asyncio.to_thread(local_cgroups.oom_kills, handle["cgroup"]):
            return DeploymentStatus(
                "failed", handle=handle, logs=tail(handle.get("log", ""), LOG_TAIL_ON_FAILURE),
                message=f"OOMKilled (used more than {spec.resource_request.memory_request}, its "
                        "memory_request, which is its memory limit here): ask for more memory.")
        if not self.processes.alive(pid, started):
            if self.processes.exit_of(pid) is None:
                await self.standby.wait_exit(pid)
            return self._ended(handle)
        details = await asyncio.to_thread(local_zero.read_state, self.state_path(spec))
        if local_zero.asleep(details):
            # Probing would wake it (or, while its last workers drain, wake it again right
            # after): its supervisor holds the port and the next request is answered.
            self._watch(pid, spec.endpoint_id)
            return DeploymentStatus("ready", url=self.url(spec, handle), handle=handle, details=details)
        if pid in self._watched and time.monotonic() - self._answered.get(pid, float("-inf")) < READY_RECHECK:
            return DeploymentStatus("ready", url=self.url(spec, handle), handle=handle,
                                    details=details or None)
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
            self._watch(pid, spec.endpoint_id)
            self._answered[pid] = time.monotonic()
            return DeploymentStatus("ready", url=self.url(spec, handle), handle=handle,
                                    details=details or None)
        return DeploymentStatus("pending", message="the model is loading", handle=handle)

    def _progress(self, handle: dict[str, Any]) -> str | None:
        """The last step an environment build reported (None for a plain model server)."""
        if not handle.get("env"):
            return None
        lines = [line for line in tail(handle.get("log", ""), 200)
                 if line.startswith(local_envs.PROGRESS)]
        return lines[-1][len(local_envs.PROGRESS):].strip() if lines else None

    def _ended(self, handle: dict[str, Any]) -> DeploymentStatus:
        """A model server that is no longer running, whoever started it.

        One that said why it cannot serve (the failure marker, in this run's part of the log)
        has ``failed``: starting it again would fail the same way. Any other end is a crash
        (``crashed``), which the reconciler restarts with back-off.
        """
        pid = int(handle["pid"])
        exit_ = self.processes.exit_of(pid) or self.standby.exit_of(pid)
        how = exit_.describe() if exit_ else "is no longer running"
        lines = tail(handle.get("log", ""), LOG_TAIL_ON_FAILURE)
        this_run = tail(handle.get("log", ""), LOG_TAIL_ON_FAILURE, int(handle.get("log_from") or 0))
        reasons = [line.split(FAILURE_MARKER, 1)[1].strip() for line in this_run if FAILURE_MARKER in line]
        if reasons:
            return DeploymentStatus("failed", message=f"The model server {how}. {reasons[-1]}",
                                    logs=lines, handle=handle)
        return DeploymentStatus("crashed", message=f"the model server (pid {pid}) {how}",
                                logs=lines, handle=handle)

    def _watch(self, pid: int, endpoint_id: str) -> None:
        """Learn of the server's exit at once (a pidfd works for processes we did not start)."""
        notify = self.context.on_change
        if notify is None or pid in self._watched or not hasattr(os, "pidfd_open"):
            return
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            return
        self._watched[pid] = fd

        def exited() -> None:
            self._unwatch(pid)
            notify(endpoint_id)

        asyncio.get_running_loop().add_reader(fd, exited)

    def _unwatch(self, pid: int) -> None:
        fd = self._watched.pop(pid, None)
        self._answered.pop(pid, None)
        if fd is not None:
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)

    async def undeploy(self, spec: DeploymentSpec, handle: dict[str, Any]) -> None:
        """Stop the recorded server and anything else running for the handle's revision."""
        if handle.get("pid"):
            self._unwatch(int(handle["pid"]))
            await self.processes.stop(int(handle["pid"]), handle.get("started"))
        revision = handle.get("revision", spec.revision)
        for found in await asyncio.to_thread(self._running_for, spec, revision):
            log.warning("stopping process group %s of endpoint %s revision %s (not recorded)",
                        found.pgid, spec.endpoint_id, revision)
            await stop_group(found.pgid, found.leader_alive)
        await asyncio.to_thread(self.standby.forget, f"{spec.endpoint_id}:{revision}")
        await asyncio.to_thread(self._clean_up, spec, handle, revision)

    def _clean_up(self, spec: DeploymentSpec, handle: dict[str, Any], revision: int) -> None:
        """What a stopped server leaves: its metrics samples, autoscaler state and cgroups."""
        if handle.get("pid"):
            server_metrics.sweep(owner=int(handle["pid"]))
        try:
            os.unlink(self.state_path(dataclasses.replace(spec, revision=revision)))
        except OSError:
            pass
        local_cgroups.remove(handle.get("cgroup") or [])

    async def stop_unknown(self, known: set[str]) -> list[str]:
        stopped = []
        for found in await asyncio.to_thread(self._scan):
            if found.role == own.MODEL_SERVER and found.slot not in known:
                log.warning("stopping model server group %s of %s: no endpoint asks for it",
                            found.pgid, found.slot)
                await stop_group(found.pgid, found.leader_alive)
                await asyncio.to_thread(self.standby.forget, found.slot)
                stopped.append(found.slot)
        stopped += [f"router {pid}" for pid in await self.router.stop_unknown()]
        return stopped

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
        for pid in list(self._watched):
            self._unwatch(pid)
        await self.standby.close()
        await self.router.close()
        await self._http.aclose()
