"""How an environment's settings become a client of its cluster.

Uses the official client's asyncio flavour (``kubernetes.aio``, shipped with ``kubernetes``
since v35): calls are coroutines over aiohttp, so Jupyter's event loop is never blocked. Only
file reads (the kubeconfig, the in-cluster service-account files) run in a worker thread.

An environment names its cluster in one of three ways (checked in this order):
``in_cluster: true`` (the service account of the pod the control plane runs in),
``kubeconfig`` (+ optional ``context``; ``~`` is expanded), or ``host`` (+ optional ``token``,
``certificate_authority``, ``insecure_skip_tls_verify``).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import yaml
from kubernetes.aio import client
from kubernetes.aio.config import ConfigException, load_incluster_config
from kubernetes.aio.config.kube_config import KubeConfigLoader

from ..errors import DeploymentError


def describe(config: dict[str, Any]) -> str:
    """The cluster in words, for messages: which kubeconfig context or host."""
    if config.get("in_cluster"):
        return "the cluster this server runs in (in-cluster service account)"
    if config.get("kubeconfig"):
        context = config.get("context") or "its current context"
        return f"kubeconfig {config['kubeconfig']} ({context})"
    return f"the API server at {config.get('host')}"


def _read_kubeconfig(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ConfigException(f"{path} is not a kubeconfig file")
    return data


async def _from_kubeconfig(config: dict[str, Any], target: client.Configuration) -> None:
    path = os.path.expanduser(str(config["kubeconfig"]))
    try:
        data = await asyncio.to_thread(_read_kubeconfig, path)
    except OSError as exc:
        raise DeploymentError(
            f"Cannot read the kubeconfig file {path} ({exc.strerror}). Fix 'kubeconfig' in the "
            "environment's settings (MerlinApp.environments)."
        ) from exc
    # config_base_path: certificate files named relative to the kubeconfig, as kubectl does.
    loader = KubeConfigLoader(
        data, active_context=config.get("context") or None, config_base_path=os.path.dirname(path)
    )
    await loader.load_and_set(target)


def _from_host(config: dict[str, Any], target: client.Configuration) -> None:
    target.host = str(config["host"]).rstrip("/")
    if config.get("token"):
        target.api_key = {"BearerToken": f"Bearer {config['token']}"}
    if config.get("certificate_authority"):
        target.ssl_ca_cert = os.path.expanduser(str(config["certificate_authority"]))
    if config.get("insecure_skip_tls_verify"):
        target.verify_ssl = False


async def configure(config: dict[str, Any], target: client.Configuration) -> None:
    """Load the environment's cluster settings and credentials into ``target``.

    Called again when the API server answers 401: short-lived credentials (an exec plugin's
    token, a rotated service-account token) are fetched anew.
    """
    try:
        if config.get("in_cluster"):
            await asyncio.to_thread(load_incluster_config, target)
        elif config.get("kubeconfig"):
            await _from_kubeconfig(config, target)
        elif config.get("host"):
            _from_host(config, target)
        else:
            raise ConfigException("no kubeconfig, context, in_cluster or host is set")
    except (ConfigException, KeyError, TypeError, ValueError) as exc:
        raise DeploymentError(
            f"Cannot use {describe(config)}: {exc}. Check the environment's settings "
            "(kubeconfig and context, in_cluster, or host) in MerlinApp.environments."
        ) from exc


async def new_api_client(config: dict[str, Any]) -> client.ApiClient:
    """An ``ApiClient`` for the environment's cluster; raises DeploymentError in words."""
    target = client.Configuration()
    await configure(config, target)
    return client.ApiClient(target)
