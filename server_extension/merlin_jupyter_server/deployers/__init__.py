"""Deployer implementations, registered by environment kind and imported only when used."""
from __future__ import annotations

import asyncio
import importlib

from ..entities import Environment
from .base import Deployer, DeployerContext

REGISTRY = {
    "local": "merlin_jupyter_server.deployers.local:LocalDeployer",
    "kubernetes": "merlin_jupyter_server.deployers.kubernetes:KubernetesDeployer",
}


def deployer_class(kind: str) -> type[Deployer]:
    module, _, name = REGISTRY[kind].partition(":")
    return getattr(importlib.import_module(module), name)


class Deployers:
    """One deployer per environment, created on first use and reused."""

    def __init__(self, context: DeployerContext):
        self.context = context
        self._by_env: dict[str, tuple[Environment, Deployer]] = {}

    def get(self, environment: Environment) -> Deployer:
        cached = self._by_env.get(environment.name)
        # A changed configuration (e.g. a new kubeconfig context) gets a fresh deployer.
        if cached is None or cached[0].config != environment.config or cached[0].kind != environment.kind:
            if cached is not None:
                asyncio.get_running_loop().create_task(cached[1].close())
            deployer = deployer_class(environment.kind)(environment, self.context)
            self._by_env[environment.name] = (environment, deployer)
            return deployer
        return cached[1]

    async def resume(self) -> None:
        for _, deployer in list(self._by_env.values()):
            await deployer.resume()

    async def stop_unknown(self, known: set[str]) -> list[str]:
        stopped: list[str] = []
        for _, deployer in list(self._by_env.values()):
            stopped += await deployer.stop_unknown(known)
        return stopped

    async def close(self) -> None:
        for _, deployer in self._by_env.values():
            await deployer.close()
        self._by_env.clear()
