"""The one seam to a cluster's API server: every call the Kubernetes deployer makes goes here.

Each call is bounded by ``request_timeout``; an answer the user must act on becomes a
DeploymentError in words (k8s_errors), a network failure becomes ``Unreachable`` (the caller
keeps the endpoint pending and retries), and "no such object" stays an ``ApiException`` 404 for
the caller to interpret.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from kubernetes.aio import client
from kubernetes.aio.client.exceptions import ApiException

from ..errors import DeploymentError
from . import k8s_manifests as m
from . import k8s_status
from .k8s_config import configure, describe, new_api_client
from .k8s_errors import explain, is_not_found, is_unreachable, unreachable_message

ObjectApi = tuple[str, str, str]  # (group, version, plural) of a custom resource


class Unreachable(Exception):
    """The cluster could not be asked; the endpoint stays pending and the call is retried."""


def _code(exc: DeploymentError) -> int | None:
    return getattr(exc, "code", None)


class Cluster:
    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.name = describe(config)
        self.timeout = float(config.get("request_timeout") or 15)
        self._api: client.ApiClient | None = None
        self._lock = asyncio.Lock()  # binds to the running loop on first use (Python >= 3.10)

    async def api(self) -> client.ApiClient:
        # Created on first use, inside the running loop (aiohttp sessions belong to one loop);
        # the lock keeps concurrent first calls (the control plane polls in parallel) to one.
        async with self._lock:
            if self._api is None:
                self._api = await new_api_client(self.config)
        return self._api

    async def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(await self.api())

    async def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(await self.api())

    async def call(
        self, verb: str, what: str, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
    ) -> Any:
        try:
            try:
                return await fn(*args, _request_timeout=self.timeout, **kwargs)
            except ApiException as exc:
                if exc.status != 401 or self._api is None:
                    raise
                # Expired short-lived credentials (exec plugins, rotated tokens): load them again.
                await configure(self.config, self._api.configuration)
                return await fn(*args, _request_timeout=self.timeout, **kwargs)
        except ApiException as exc:
            # An object's NotFound passes through; any other failure (a kind's 404 when its CRD
            # is not installed, 403, 429, 5xx) is explained, and never taken for "not there".
            if is_not_found(exc):
                raise
            raise explain(exc, verb, what, self.name) from exc
        except Exception as exc:  # noqa: BLE001 - sorted into unreachable vs. a bug below
            if is_unreachable(exc):
                raise Unreachable(unreachable_message(self.name, exc)) from exc
            raise

    async def close(self) -> None:
        if self._api is not None:
            await self._api.close()
            self._api = None

    # -- custom objects -----------------------------------------------------------------------
    async def get(self, res: ObjectApi, ns: str, name: str) -> dict[str, Any]:
        api = await self.custom()
        what = f"{name} in namespace {ns}"
        return await self.call(
            "read", what, api.get_namespaced_custom_object, *res[:2], ns, res[2], name
        )

    async def delete(self, res: ObjectApi, ns: str, name: str) -> bool:
        """Delete if present; False when it was already gone."""
        api = await self.custom()
        what = f"{name} in namespace {ns}"
        try:
            await self.call(
                "delete", what, api.delete_namespaced_custom_object, *res[:2], ns, res[2], name
            )
            return True
        except ApiException:
            return False

    async def create_or_replace(self, res: ObjectApi, obj: dict[str, Any]) -> None:
        api, meta = await self.custom(), obj["metadata"]
        ns, name = meta["namespace"], meta["name"]
        what = f"{obj['kind']} {name} in namespace {ns}"
        try:
            current = await self.get(res, ns, name)
        except ApiException:
            await self.call(
                "create", what, api.create_namespaced_custom_object, *res[:2], ns, res[2], obj
            )
            return
        obj = {
            **obj,
            "metadata": {**meta, "resourceVersion": current["metadata"]["resourceVersion"]},
        }
        await self.call(
            "update", what, api.replace_namespaced_custom_object, *res[:2], ns, res[2], name, obj
        )

    async def create_isvc(self, isvc: dict[str, Any], endpoint_id: str) -> None:
        """Create the InferenceService; adopt one the same endpoint created before (a retry)."""
        api, meta = await self.custom(), isvc["metadata"]
        ns, name = meta["namespace"], meta["name"]
        what = f"InferenceService {name} in namespace {ns}"
        try:
            await self.call(
                "create",
                what,
                api.create_namespaced_custom_object,
                *m.ISVC_API[:2],
                ns,
                m.ISVC_API[2],
                isvc,
            )
            return
        except DeploymentError as exc:
            if _code(exc) != 409:
                raise
        current = await self.get(m.ISVC_API, ns, name)
        owner = (current["metadata"].get("labels") or {}).get(f"{m.LABEL}/endpoint-id")
        if owner != endpoint_id:
            by = f"endpoint {owner}" if owner else "someone else"
            raise DeploymentError(
                f"{what} already exists and belongs to {by}. Redeploy or undeploy that endpoint "
                "instead, or delete the InferenceService."
            )
        await self.create_or_replace(m.ISVC_API, isvc)

    # -- namespaces and service accounts -------------------------------------------------------
    async def ensure_namespace(self, project: str) -> None:
        core = await self.core()
        try:
            await self.call(
                "create", f"namespace {project}", core.create_namespace, m.namespace(project)
            )
        except DeploymentError as exc:
            if _code(exc) == 409:
                return  # it exists already: ours or an admin's, both are fine
            if _code(exc) == 403 and await self._namespace_exists(project):
                return  # not allowed to create namespaces, but this one is there
            raise

    async def _namespace_exists(self, project: str) -> bool:
        core = await self.core()
        try:
            await self.call("read", f"namespace {project}", core.read_namespace, project)
            return True
        except (ApiException, DeploymentError):
            return False

    async def ensure_service_account(self, account: dict[str, Any]) -> None:
        """The storage service account, once its credentials Secret is known to exist."""
        core = await self.core()
        ns, secret = account["metadata"]["namespace"], account["secrets"][0]["name"]
        try:
            await self.call(
                "read",
                f"secret {secret} in namespace {ns}",
                core.read_namespaced_secret,
                secret,
                ns,
            )
        except ApiException as exc:
            raise DeploymentError(
                f"The artifact store's credentials Secret {secret!r} does not exist in namespace "
                f"{ns!r}, so the cluster cannot download the model. Create it there, e.g. kubectl "
                f"-n {ns} create secret generic {secret} --from-literal=AWS_ACCESS_KEY_ID=... "
                "--from-literal=AWS_SECRET_ACCESS_KEY=..."
            ) from exc
        what = f"ServiceAccount {account['metadata']['name']} in namespace {ns}"
        try:
            await self.call("create", what, core.create_namespaced_service_account, ns, account)
        except DeploymentError as exc:
            if _code(exc) != 409:
                raise

    # -- pods ---------------------------------------------------------------------------------
    async def predictor_pods(self, ns: str, name: str) -> list[dict[str, Any]]:
        """The predictor pods of InferenceService ``name``, newest first."""
        core = await self.core()
        fn = core.list_namespaced_pod_without_preload_content
        selector = f"serving.kserve.io/inferenceservice={name}"
        response = await self.call(
            "list", f"pods in namespace {ns}", fn, ns, label_selector=selector
        )
        return k8s_status.newest_first((await k8s_status.read_json(response)).get("items") or [])

    async def predictor_log(self, ns: str, name: str, tail: int) -> tuple[bool, list[str]]:
        """(a predictor pod exists, its newest pod's last ``tail`` lines)."""
        core = await self.core()
        pods = await k8s_status.predictor_pods(core, ns, name, self.timeout)
        if not pods:
            return False, []
        return True, await k8s_status.pod_log(core, ns, pods[0], tail, self.timeout)

    async def explain_failure(self, ns: str, name: str, tail: int) -> list[str]:
        """The newest predictor pod's last log lines, then the events about it and the service."""
        core = await self.core()
        lines: list[str] = []
        try:
            pods = await k8s_status.predictor_pods(core, ns, name, self.timeout)
            if pods:
                lines += await k8s_status.pod_log(core, ns, pods[0], tail, self.timeout)
            names = [name] + [p["metadata"]["name"] for p in pods[:1]]
            lines += await k8s_status.events(core, ns, names, self.timeout)
        except Exception as exc:  # noqa: BLE001 - explaining must never hide the failure itself
            lines.append(f"(could not read the predictor's logs: {exc})")
        return lines

    async def events(self, ns: str, names: list[str]) -> list[str]:
        return await k8s_status.events(await self.core(), ns, names, self.timeout)

    # -- health -------------------------------------------------------------------------------
    async def version(self) -> str:
        api = await self.api()
        fn = client.VersionApi(api).get_code_without_preload_content
        response = await self.call("read", "the server version", fn)
        return (await k8s_status.read_json(response)).get("gitVersion", "unknown version")

    async def has_kserve(self) -> None:
        """Raises DeploymentError when KServe's InferenceService kind is not installed."""
        # A list (not discovery) tells it: 404 for a kind the server does not know.
        api = await self.custom()
        fn = api.list_namespaced_custom_object
        await self.call(
            "list", "InferenceServices", fn, *m.ISVC_API[:2], "default", m.ISVC_API[2], limit=1
        )

    async def follow_predictor_log(self, ns: str, name: str, tail: int) -> Any:
        """A streaming response of the newest predictor pod's log (None without a pod)."""
        core = await self.core()
        pods = await k8s_status.predictor_pods(core, ns, name, self.timeout)
        if not pods:
            return None
        container = k8s_status.predictor_container(pods[0])
        fn = core.read_namespaced_pod_log_without_preload_content
        pod = pods[0]["metadata"]["name"]
        # No overall timeout: a followed log stays open until the reader stops.
        return await fn(
            pod, ns, container=container, tail_lines=tail, follow=True, _request_timeout=None
        )
