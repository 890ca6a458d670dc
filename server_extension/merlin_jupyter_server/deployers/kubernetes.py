"""The ``kubernetes`` environment kind: KServe InferenceServices and Istio VirtualServices.

Per project a namespace (created if missing, labelled ``app.kubernetes.io/managed-by:
merlin-jupyter``); per version endpoint revision an InferenceService ``{model}-{version}-r{rev}``
served by the ``merlin-mlflow`` ClusterServingRuntime (``deploy/``: this project's own model
server); per model endpoint a VirtualService ``{model}`` at ``{model}.{project}.{domain}``.

All cluster calls use ``kubernetes.aio`` (the official client's asyncio flavour), each bounded by
``request_timeout``; copies to the artifact store run in a worker thread. The event loop is
never blocked.

Environment settings read here (``MerlinApp.environments`` items): kubeconfig + context |
in_cluster | host, domain, artifact_store {uri, endpoint_url, secret, region, profile},
runtime, runtime_image, service_account, max_replica, gateway, local_gateway,
local_gateway_host, url_scheme, request_timeout (s, default 15), pending_timeout (s: fail an
endpoint still pending after this long, with what was last seen, logs and events).

Not checked without a real cluster (the tests run against an emulated API server with the real
schemas): RBAC beyond the answers' words, KServe's and Knative's actual reconciliation (e.g.
whether the runtime's args merge as documented), Istio's routing of the two-hop split and of
``-shadow`` mirror traffic, and storage-initializer access to the artifact store.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from kubernetes.aio import client
from kubernetes.aio.client.exceptions import ApiException

from ..errors import DeploymentError
from . import artifact_store, k8s_manifests as m, k8s_status
from .base import Deployer, DeploymentSpec, DeploymentStatus, Reachability, RouteSpec
from .k8s_config import describe, new_api_client
from .k8s_errors import explain, is_unreachable, unreachable_message

LOG_LINES = 40


class Unreachable(Exception):
    """The cluster could not be asked; the endpoint stays pending and the call is retried."""


@dataclass
class _Upload:
    progress: artifact_store.Progress
    task: asyncio.Task


class KubernetesDeployer(Deployer):
    """Deploys version endpoints as KServe InferenceServices and routes model endpoints with Istio."""

    kind = "kubernetes"

    def __init__(self, environment, context=None):
        super().__init__(environment, context)
        self.config: dict[str, Any] = dict(environment.config or {})
        self.cluster = describe(self.config)
        self.timeout = float(self.config.get("request_timeout") or 15)
        self.pending_timeout = self.config.get("pending_timeout")
        self._api: client.ApiClient | None = None
        self._uploads: dict[tuple[str, str], _Upload] = {}

    # -- plumbing -------------------------------------------------------------------------------
    async def _client(self) -> client.ApiClient:
        # Created on first use, inside the running loop (aiohttp sessions belong to one loop).
        if self._api is None:
            self._api = await new_api_client(self.config)
        return self._api

    async def _call(self, verb: str, what: str, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """Call the API; 404 for an object passes through as ApiException, the rest become words."""
        try:
            return await fn(*args, _request_timeout=self.timeout, **kwargs)
        except ApiException as exc:
            if exc.status == 404 and "could not find the requested resource" not in (exc.body or ""):
                raise
            raise explain(exc, verb, what, self.cluster) from exc
        except Exception as exc:  # noqa: BLE001 - sorted into unreachable vs. a bug below
            if is_unreachable(exc):
                raise Unreachable(unreachable_message(self.cluster, exc)) from exc
            raise

    async def _custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(await self._client())

    async def _core(self) -> client.CoreV1Api:
        return client.CoreV1Api(await self._client())

    # -- deploy ---------------------------------------------------------------------------------
    def _storage(self, spec: DeploymentSpec) -> tuple[str | None, dict[str, Any]]:
        """The local model directory to copy (or None) and the artifact store settings."""
        store = self.config.get("artifact_store") or {}
        if artifact_store.needs_copy(spec.model_uri, self.environment.name, store):
            return artifact_store.local_path(spec.model_uri), store
        return None, store

    async def _rendered(self, spec: DeploymentSpec) -> tuple[m.Rendered, str | None]:
        root, store = self._storage(spec)
        uri = spec.model_uri
        if root is not None:
            uri = await asyncio.to_thread(artifact_store.destination, store, spec.project, spec.model, spec.version, root)
        rendered = m.inference_service(spec, uri, self.config)
        if root is not None:
            rendered.notes.append(f"the model at {root} is copied to {uri} before the InferenceService is created")
        return rendered, root

    async def render(self, spec: DeploymentSpec) -> str:
        rendered, _ = await self._rendered(spec)
        return m.to_yaml(rendered.objects(), rendered.notes)

    async def deploy(self, spec: DeploymentSpec) -> DeploymentStatus:
        rendered, root = await self._rendered(spec)
        isvc = rendered.inference_service
        handle = {"namespace": spec.project, "name": spec.revision_name, "mode": spec.deployment_mode,
                  "storage_uri": isvc["spec"]["predictor"]["model"]["storageUri"], "deployed_at": time.time()}
        notes = " ".join(rendered.notes)
        try:
            await self._ensure_namespace(spec.project)
            if rendered.service_account:
                await self._ensure_service_account(rendered.service_account)
            if root is not None:
                progress = self._start_upload(spec, root, rendered)
                return DeploymentStatus("pending", message=progress.describe(), handle=handle)
            await self._apply_isvc(spec, isvc)
        except Unreachable as exc:
            return DeploymentStatus("pending", message=str(exc), handle=handle)
        return DeploymentStatus("pending", message=notes or f"InferenceService {spec.revision_name} created", handle=handle)

    async def _ensure_namespace(self, project: str) -> None:
        core = await self._core()
        try:
            await self._call("create", f"namespace {project}", core.create_namespace, m.namespace(project))
        except DeploymentError as exc:
            if getattr(exc, "code", None) == 409:
                return  # it exists already: ours or an admin's, both are fine
            if getattr(exc, "code", None) == 403 and await self._namespace_exists(project):
                return  # not allowed to create namespaces, but this one is there
            raise

    async def _namespace_exists(self, project: str) -> bool:
        core = await self._core()
        try:
            await self._call("read", f"namespace {project}", core.read_namespace, project)
            return True
        except (ApiException, DeploymentError):
            return False

    async def _ensure_service_account(self, account: dict[str, Any]) -> None:
        core = await self._core()
        ns, secret = account["metadata"]["namespace"], account["secrets"][0]["name"]
        try:
            await self._call("read", f"secret {secret} in namespace {ns}", core.read_namespaced_secret, secret, ns)
        except ApiException as exc:
            raise DeploymentError(
                f"The artifact store's credentials Secret {secret!r} does not exist in namespace "
                f"{ns!r}, so the cluster cannot download the model. Create it there, e.g. kubectl "
                f"-n {ns} create secret generic {secret} --from-literal=AWS_ACCESS_KEY_ID=... "
                "--from-literal=AWS_SECRET_ACCESS_KEY=...") from exc
        name = account["metadata"]["name"]
        try:
            await self._call("create", f"ServiceAccount {name} in namespace {ns}",
                             core.create_namespaced_service_account, ns, account)
        except DeploymentError as exc:
            if getattr(exc, "code", None) != 409:
                raise

    async def _apply_isvc(self, spec: DeploymentSpec, isvc: dict[str, Any]) -> None:
        """Create the InferenceService; adopt one this endpoint created before (a retried deploy)."""
        api, what = await self._custom(), f"InferenceService {spec.revision_name} in namespace {spec.project}"
        try:
            await self._call("create", what, api.create_namespaced_custom_object, *m.ISVC_API[:2], spec.project, m.ISVC_API[2], isvc)
            return
        except DeploymentError as exc:
            if getattr(exc, "code", None) != 409:
                raise
        current = await self._call("read", what, api.get_namespaced_custom_object, *m.ISVC_API[:2], spec.project, m.ISVC_API[2], spec.revision_name)
        owner = (current["metadata"].get("labels") or {}).get(f"{m.LABEL}/endpoint-id")
        if owner != spec.endpoint_id:
            raise DeploymentError(
                f"{what} already exists and belongs to {'endpoint ' + owner if owner else 'someone else'}. "
                "Redeploy or undeploy that endpoint instead, or delete the InferenceService.")
        isvc = {**isvc, "metadata": {**isvc["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}}
        await self._call("update", what, api.replace_namespaced_custom_object, *m.ISVC_API[:2], spec.project, m.ISVC_API[2], spec.revision_name, isvc)

    # -- copying local artifacts ------------------------------------------------------------------
    def _start_upload(self, spec: DeploymentSpec, root: str, rendered: m.Rendered) -> artifact_store.Progress:
        key = (spec.project, spec.revision_name)
        running = self._uploads.get(key)
        if running and not running.task.done():
            return running.progress
        store = self.config.get("artifact_store") or {}
        progress = artifact_store.Progress(rendered.inference_service["spec"]["predictor"]["model"]["storageUri"])

        async def copy_then_apply() -> None:
            try:
                await asyncio.to_thread(artifact_store.upload, root, store, progress)
                await self._apply_isvc(spec, rendered.inference_service)
            except DeploymentError as exc:
                progress.error = progress.error or exc.message
            except Unreachable:
                self._uploads.pop(key, None)  # status() sees the cluster's answer and retries

        self._uploads[key] = _Upload(progress, asyncio.get_running_loop().create_task(copy_then_apply()))
        return progress

    # -- observe --------------------------------------------------------------------------------
    async def status(self, spec: DeploymentSpec, handle: dict[str, Any]) -> DeploymentStatus:
        ns, name = handle.get("namespace", spec.project), handle.get("name", spec.revision_name)
        upload = self._uploads.get((ns, name))
        if upload and upload.progress.error:
            return DeploymentStatus("failed", message=upload.progress.error, handle=handle)
        if upload and not upload.task.done():
            return DeploymentStatus("pending", message=upload.progress.describe(), handle=handle)
        api = await self._custom()
        try:
            obj = await self._call("read", f"InferenceService {name}", api.get_namespaced_custom_object,
                                   *m.ISVC_API[:2], ns, m.ISVC_API[2], name)
        except ApiException:
            return DeploymentStatus("gone", message=f"InferenceService {name} is not in namespace {ns}", handle=handle)
        except Unreachable as exc:
            return DeploymentStatus("pending", message=str(exc), handle=handle)
        reading = k8s_status.read(obj, spec.model_name)
        if reading.state == "ready":
            return DeploymentStatus("ready", url=reading.url, handle=handle)
        if reading.state == "failed":
            message = f"InferenceService {name} failed: {reading.message}"
            return DeploymentStatus("failed", message=message, logs=await self._explain(ns, name), handle=handle)
        if self._overdue(handle):
            message = (f"InferenceService {name} did not become ready within {float(self.pending_timeout):g} s. "
                       f"Last seen: {k8s_status.last_seen(obj)}")
            return DeploymentStatus("failed", message=message, logs=await self._explain(ns, name), handle=handle)
        return DeploymentStatus("pending", message=reading.message, handle=handle)

    def _overdue(self, handle: dict[str, Any]) -> bool:
        if not self.pending_timeout or not handle.get("deployed_at"):
            return False
        return time.time() - float(handle["deployed_at"]) > float(self.pending_timeout)

    async def _explain(self, ns: str, name: str, tail: int = LOG_LINES) -> list[str]:
        """The newest predictor pod's last log lines, then the events about it and the service."""
        core = await self._core()
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

    async def logs(self, spec: DeploymentSpec, handle: dict[str, Any], tail: int = 100) -> list[str]:
        ns, name = handle.get("namespace", spec.project), handle.get("name", spec.revision_name)
        upload = self._uploads.get((ns, name))
        if upload and not upload.task.done():
            return [upload.progress.describe()]
        core = await self._core()
        try:
            pods = await k8s_status.predictor_pods(core, ns, name, self.timeout)
            if not pods:
                return await k8s_status.events(core, ns, [name], self.timeout) or [
                    f"no predictor pod of InferenceService {name} is running yet"]
            return await k8s_status.pod_log(core, ns, pods[0], tail, self.timeout)
        except ApiException as exc:
            raise explain(exc, "read", f"the logs of {name}", self.cluster) from exc
        except Exception as exc:  # noqa: BLE001
            if is_unreachable(exc):
                raise DeploymentError(unreachable_message(self.cluster, exc)) from exc
            raise

    # -- undeploy -------------------------------------------------------------------------------
    async def undeploy(self, spec: DeploymentSpec, handle: dict[str, Any]) -> None:
        """Delete the revision's InferenceService (only that: the namespace stays). Idempotent."""
        ns, name = handle.get("namespace", spec.project), handle.get("name", spec.revision_name)
        upload = self._uploads.pop((ns, name), None)
        if upload and not upload.task.done():
            upload.task.cancel()
        api = await self._custom()
        try:
            await self._call("delete", f"InferenceService {name} in namespace {ns}",
                             api.delete_namespaced_custom_object, *m.ISVC_API[:2], ns, m.ISVC_API[2], name)
        except ApiException:
            return  # already gone
        except Unreachable as exc:
            raise DeploymentError(str(exc)) from exc

    # -- model endpoints ------------------------------------------------------------------------
    async def route(self, spec: RouteSpec) -> str:
        vs = m.virtual_service(spec, self.config)
        api, what = await self._custom(), f"VirtualService {spec.model} in namespace {spec.project}"
        args = (*m.VS_API[:2], spec.project, m.VS_API[2])
        try:
            await self._ensure_namespace(spec.project)
            try:
                current = await self._call("read", what, api.get_namespaced_custom_object, *args, spec.model)
            except ApiException:
                await self._call("create", what, api.create_namespaced_custom_object, *args, vs)
            else:
                vs["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                await self._call("update", what, api.replace_namespaced_custom_object, *args, spec.model, vs)
        except Unreachable as exc:
            raise DeploymentError(str(exc)) from exc
        scheme = self.config.get("url_scheme") or "http"
        return f"{scheme}://{vs['spec']['hosts'][0]}"

    async def unroute(self, spec: RouteSpec) -> None:
        api = await self._custom()
        try:
            await self._call("delete", f"VirtualService {spec.model} in namespace {spec.project}",
                             api.delete_namespaced_custom_object, *m.VS_API[:2], spec.project, m.VS_API[2], spec.model)
        except ApiException:
            return
        except Unreachable as exc:
            raise DeploymentError(str(exc)) from exc

    # -- health ---------------------------------------------------------------------------------
    async def check(self) -> Reachability:
        """Reachable = the API server answers and KServe's InferenceService kind is installed."""
        try:
            api = await self._client()
            response = await self._call("read", "the server version", client.VersionApi(api).get_code_without_preload_content)
            version = (await k8s_status._json(response)).get("gitVersion", "unknown version")
            # A list (not discovery) also tells whether KServe is installed: 404 when it is not.
            await self._call("list", "InferenceServices", client.CustomObjectsApi(api).list_namespaced_custom_object,
                             *m.ISVC_API[:2], "default", m.ISVC_API[2], limit=1)
        except Unreachable as exc:
            return Reachability(False, str(exc))
        except DeploymentError as exc:
            if getattr(exc, "code", None) == 403:  # KServe may well be there; we may not look
                return Reachability(True, f"{self.cluster}: Kubernetes {version} (KServe not verified: {exc.message})")
            return Reachability(False, exc.message)
        return Reachability(True, f"{self.cluster}: Kubernetes {version}, KServe installed")

    async def close(self) -> None:
        for upload in self._uploads.values():
            upload.task.cancel()
        self._uploads.clear()
        if self._api is not None:
            await self._api.close()
            self._api = None
