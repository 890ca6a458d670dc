"""The local environment's router process: started once, re-adopted after a restart, fed rules.

The rule file is the router's whole state. It is rewritten atomically (write, fsync, rename) on
every change, then the router is asked to reload it, so a crash between the two leaves the
router serving the previous table and the next start serving the new one: nothing is lost.
The router keeps its port across restarts, so model endpoint URLs stay valid.

Its port and token are written before it is started, and it carries this data dir's marker
(local_ownership), so a control plane that died before recording its pid finds it again
instead of starting a second router.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
from typing import Any

import httpx

from ..errors import DeploymentError
from . import local_ownership as own
from .base import RouteDestination, RouteSpec
from .local_process import ProcessTable, client_host, free_port, port_free, stop_group, tail

READY_TIMEOUT = 30.0


class LocalRouter:
    def __init__(self, processes: ProcessTable, python: str, host: str, state_dir: str,
                 port: int = 0, owner: str = "", base_env: dict[str, str] | None = None):
        self.processes, self.python, self.host = processes, python, host
        self.owner = owner
        self.base_env = base_env if base_env is not None else dict(os.environ)
        self.standby_dir = os.path.join(state_dir, "standby")
        self.dir = os.path.join(state_dir, "router")
        self.rules_path = os.path.join(self.dir, "routes.json")
        self.state_path = os.path.join(self.dir, "router.json")
        self.log_path = os.path.join(self.dir, "router.log")
        self.wanted_port = port
        self._lock = asyncio.Lock()
        self._http = httpx.AsyncClient(timeout=5.0, trust_env=False)

    # -- rules -----------------------------------------------------------------------------
    def _read(self, path: str) -> dict[str, Any]:
        try:
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        except (FileNotFoundError, ValueError):
            return {}

    def _write(self, path: str, data: dict[str, Any]) -> None:
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        # Owner-only: the rules name every endpoint, the state holds the router's token.
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def has_routes(self) -> bool:
        return bool(self._read(self.rules_path).get("routes"))

    async def apply(self, spec: RouteSpec, remove: bool = False) -> str:
        """Replace (or remove) the model endpoint's rule; returns the endpoint's base URL."""
        key = f"{spec.project}/{spec.model}"
        async with self._lock:
            rules = self._read(self.rules_path).get("routes", {})
            if remove:
                rules.pop(key, None)
            else:
                rules[key] = {"destinations": [_destination(d, d.weight) for d in spec.destinations],
                              "mirror": _destination(spec.mirror, 0) if spec.mirror else None}
            await asyncio.to_thread(self._write, self.rules_path, {"routes": rules})
            state = await self._ensure()
            await self._reload(state)
        return f"http://{client_host(self.host)}:{state['port']}/{key}"

    # -- the process -------------------------------------------------------------------------
    async def start_if_needed(self) -> None:
        """Bring the router back after a restart when it has routes to serve."""
        if self.has_routes():
            async with self._lock:
                await self._ensure()

    async def _ensure(self) -> dict[str, Any]:
        state = self._read(self.state_path)
        if state.get("pid") and self.processes.alive(state["pid"], state.get("started")):
            return state
        adopted = await self._adopt(state)
        if adopted:
            return adopted
        port = self.wanted_port or state.get("port") or 0
        if not port or not port_free(self.host, port):
            port = free_port(self.host)
        token = secrets.token_urlsafe(24)
        # The intent first: a router started from here on is found by its token.
        state = {"pid": None, "started": None, "port": port, "token": token}
        await asyncio.to_thread(self._write, self.state_path, state)
        cmd = [self.python, "-m", "merlin_jupyter.serving.router", "--rules", self.rules_path,
               "--host", self.host, "--port", str(port)]
        env = {**self.base_env, "MERLIN_ROUTER_TOKEN": token, "PYTHONUNBUFFERED": "1",
               own.OWNER: self.owner, own.ROLE: own.ROUTER}
        pid, started = await asyncio.to_thread(self.processes.spawn, cmd, env, self.log_path)
        state.update(pid=pid, started=started)
        await asyncio.to_thread(self._write, self.state_path, state)
        await self._wait_ready(state)
        return state

    async def _adopt(self, state: dict[str, Any]) -> dict[str, Any] | None:
        """The router started for ``state`` before a crash (found by its token); any other
        router of this data dir is stopped."""
        if not self.owner:
            return None
        adopted = None
        for found in await asyncio.to_thread(own.scan, self.owner, self.standby_dir):
            if found.role != own.ROUTER:
                continue
            if adopted is None and found.leader_alive and found.token == state.get("token"):
                adopted = {**state, "pid": found.pgid, "started": found.started}
                continue
            await stop_group(found.pgid, found.leader_alive, grace=2)
        if adopted is not None:
            await asyncio.to_thread(self._write, self.state_path, adopted)
            await self._wait_ready(adopted)
        return adopted

    async def stop_unknown(self) -> list[int]:
        """Stop routers of this data dir its state does not name (left by a crash); run after
        start_if_needed, which adopts the one the state names."""
        state = self._read(self.state_path)
        keep = state.get("pid") if state.get("pid") and self.processes.alive(
            state["pid"], state.get("started")) else None
        stopped = []
        for found in await asyncio.to_thread(own.scan, self.owner, self.standby_dir):
            if found.role == own.ROUTER and found.pgid != keep:
                await stop_group(found.pgid, found.leader_alive, grace=2)
                stopped.append(found.pgid)
        return stopped

    async def _wait_ready(self, state: dict[str, Any]) -> None:
        deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
        url = f"http://{client_host(self.host)}:{state['port']}/-/health"
        while True:
            try:
                if (await self._http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            exit_ = self.processes.exit_of(state["pid"])
            if exit_ is not None or asyncio.get_running_loop().time() > deadline:
                lines = "\n".join(tail(self.log_path, 10))
                raise DeploymentError(
                    f"The local router did not start (it {exit_.describe() if exit_ else 'never answered'})."
                    f" Its log {self.log_path} ends with:\n{lines}")
            await asyncio.sleep(0.05)

    async def _reload(self, state: dict[str, Any]) -> None:
        url = f"http://{client_host(self.host)}:{state['port']}/-/reload"
        try:
            response = await self._http.post(url, headers={"X-Merlin-Router-Token": state["token"]})
        except httpx.HTTPError as exc:
            raise DeploymentError(f"The local router did not take the new rule ({exc}); "
                                  f"see {self.log_path}.") from exc
        if response.status_code != 200:
            raise DeploymentError(f"The local router refused the new rule: {response.text}")

    async def close(self) -> None:
        await self._http.aclose()  # the router keeps serving: model endpoints outlive Jupyter


def _destination(destination: RouteDestination, weight: int) -> dict[str, Any]:
    if not destination.url:
        raise DeploymentError(
            f"Version endpoint {destination.endpoint_id} has no URL yet: wait until it is running.")
    base = destination.url.split("/v1/", 1)[0].split("/v2/", 1)[0]
    return {"base": base, "model_name": destination.model_name, "version": destination.version,
            "endpoint_id": destination.endpoint_id, "weight": weight}

