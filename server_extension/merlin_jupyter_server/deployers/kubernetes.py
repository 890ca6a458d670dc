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
endpoint still pending after this long, with what was last seen, logs and events),
status_interval (s, default 1: how often a pending InferenceService is read).

Not checked without a real cluster (the tests run against an emulated API server with the real
schemas): RBAC beyond the answers' words, KServe's and Knative's actual reconciliation (e.g.
whether the runtime's args merge as documented), Istio's routing of the two-hop split and of
``-shadow`` mirror traffic, and storage-initializer access to the artifact store.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator

from kubernetes.aio.client.exceptions import ApiException

from ..errors import DeploymentError, Unavailable
from . import artifact_store, k8s_status
from . import k8s_manifests as m
from .base import Deployer, DeploymentSpec, DeploymentStatus, Reachability, RouteSpec
from .k8s_cluster import Cluster, Unreachable
from .k8s_errors import explain

LOG_LINES = 40


@dataclass
class _Upload:
    progress: artifact_store.Progress
    task: asyncio.Task


def _where(spec: DeploymentSpec, handle: dict[str, Any]) -> tuple[str, str]:
    return handle.get("namespace", spec.project), handle.get("name", spec.revision_name)


class KubernetesDeployer(Deployer):
    """Deploys version endpoints as KServe InferenceServices; routes model endpoints with Istio."""

    kind = "kubernetes"

    def __init__(self, environment, context=None):
        super().__init__(environment, context)
        self.config: dict[str, Any] = dict(environment.config or {})
        self.cluster = Cluster(self.config)
        self.pending_timeout = self.config.get("pending_timeout")
        self._uploads: dict[tuple[str, str], _Upload] = {}
        # The control plane polls pending endpoints many times a second (right for local
        # processes); a cluster is asked at most once per status_interval per InferenceService.
        self.status_interval = float(self.config.get("status_interval", 1.0))
        self._pending: dict[tuple[str, str], tuple[float, DeploymentStatus]] = {}

    # -- deploy ---------------------------------------------------------------------------------
    async def _rendered(self, spec: DeploymentSpec) -> tuple[m.Rendered, str | None]:
        """The objects to apply, and the local model directory to copy first (or None)."""
        store = self.config.get("artifact_store") or {}
        root, uri = None, spec.model_uri
        if artifact_store.needs_copy(spec.model_uri, self.environment.name, store):
            root = artifact_store.local_path(spec.model_uri)
            uri = await asyncio.to_thread(
                artifact_store.destination, store, spec.project, spec.model, spec.version, root
            )
        rendered = m.inference_service(spec, uri, self.config)
        if root is not None:
            rendered.notes.append(f"the model at {root} is copied to {uri} first")
        return rendered, root

    async def render(self, spec: DeploymentSpec) -> str:
        rendered, _ = await self._rendered(spec)
        return m.to_yaml(rendered.objects(), rendered.notes)

    async def deploy(self, spec: DeploymentSpec) -> DeploymentStatus:
        rendered, root = await self._rendered(spec)
        isvc = rendered.inference_service
        handle = {
            "namespace": spec.project,
            "name": spec.revision_name,
            "mode": spec.deployment_mode,
            "storage_uri": isvc["spec"]["predictor"]["model"]["storageUri"],
            "deployed_at": time.time(),
        }
        message = " ".join(rendered.notes) or f"InferenceService {spec.revision_name} created"
        try:
            await self.cluster.ensure_namespace(spec.project)
            if rendered.service_account:
                await self.cluster.ensure_service_account(rendered.service_account)
            if root is not None:
                message = self._start_upload(spec, root, isvc).describe()
            else:
                await self.cluster.create_isvc(isvc, spec.endpoint_id)
        except Unreachable as exc:
            message = str(exc)  # stays pending: status() answers "gone" once the cluster is back
        return DeploymentStatus("pending", message=message, handle=handle)

    def _start_upload(
        self, spec: DeploymentSpec, root: str, isvc: dict[str, Any]
    ) -> artifact_store.Progress:
        """Copy in a worker thread, then create the InferenceService; status() reports progress."""
        key = (spec.project, spec.revision_name)
        running = self._uploads.get(key)
        if running and not running.task.done():
            return running.progress
        store = self.config.get("artifact_store") or {}
        progress = artifact_store.Progress(isvc["spec"]["predictor"]["model"]["storageUri"])

        async def copy_then_apply() -> None:
            try:
                await asyncio.to_thread(artifact_store.upload, root, store, progress)
                await self.cluster.create_isvc(isvc, spec.endpoint_id)
            except DeploymentError as exc:
                progress.error = progress.error or exc.message
            except Unreachable:
                self._uploads.pop(key, None)  # status() sees the cluster's answer and retries

        task = asyncio.get_running_loop().create_task(copy_then_apply())
        self._uploads[key] = _Upload(progress, task)
        return progress

    # -- observe --------------------------------------------------------------------------------
    def _upload_status(
        self, key: tuple[str, str], handle: dict[str, Any]
    ) -> DeploymentStatus | None:
        upload = self._uploads.get(key)
        if upload is None:
            return None
        if upload.progress.error:
            return DeploymentStatus("failed", message=upload.progress.error, handle=handle)
        if not upload.task.done():
            return DeploymentStatus("pending", message=upload.progress.describe(), handle=handle)
        del self._uploads[key]  # copied and applied: from now on the cluster tells
        return None

    async def status(self, spec: DeploymentSpec, handle: dict[str, Any]) -> DeploymentStatus:
        key = _where(spec, handle)
        copying = self._upload_status(key, handle)
        if copying is not None:
            return copying
        seen = self._pending.pop(key, None)
        if seen and time.monotonic() - seen[0] < self.status_interval:
            self._pending[key] = seen
            return seen[1]
        status = await self._ask(spec, handle, *key)
        if status.state == "pending":
            self._pending[key] = (time.monotonic(), status)
        return status

    async def _ask(
        self, spec: DeploymentSpec, handle: dict[str, Any], ns: str, name: str
    ) -> DeploymentStatus:
        try:
            obj = await self.cluster.get(m.ISVC_API, ns, name)
        except ApiException:  # the API server's NotFound, nothing else (Cluster.call)
            gone = f"InferenceService {name} is not in namespace {ns}"
            return DeploymentStatus("gone", message=gone, handle=handle)
        except Unreachable as exc:
            return DeploymentStatus("pending", message=str(exc), handle=handle)
        except DeploymentError as exc:
            # Refused, throttled or failing (403, 429, 5xx): what was deployed is still there as
            # far as anyone knows, so nothing is deployed again; a pending endpoint shows why it
            # waits and fails after its pending timeout if the cluster keeps answering so.
            said = f"{exc.message} Will retry."
            return DeploymentStatus("pending", message=said, handle=handle)
        reading = k8s_status.read(obj, spec.model_name)
        if reading.state == "ready":
            return DeploymentStatus("ready", url=reading.url, handle=handle)
        failure = None
        if reading.state == "failed":
            failure = f"InferenceService {name} failed: {reading.message}"
        elif stuck := await self._stuck_pod(ns, name):
            failure = f"The model server of InferenceService {name} cannot start: {stuck}"
        elif self._overdue(handle):
            failure = (
                f"InferenceService {name} did not become ready within "
                f"{float(self.pending_timeout):g} s. Last seen: {k8s_status.last_seen(obj)}"
            )
        if failure:
            logs = await self.cluster.explain_failure(ns, name, LOG_LINES)
            return DeploymentStatus("failed", message=failure, logs=logs, handle=handle)
        return DeploymentStatus("pending", message=reading.message, handle=handle)

    async def _stuck_pod(self, ns: str, name: str) -> str | None:
        """A predictor pod that will not start by itself (crash loop, image pull), in words.

        KServe reports some of these late or never (raw deployments), so pending endpoints
        would otherwise wait for the pending timeout."""
        try:
            pods = await self.cluster.predictor_pods(ns, name)
        except (ApiException, DeploymentError, Unreachable):
            return None  # the next read will tell; the InferenceService is what counts
        return k8s_status.pod_failure(pods)

    def _overdue(self, handle: dict[str, Any]) -> bool:
        if not self.pending_timeout or not handle.get("deployed_at"):
            return False
        return time.time() - float(handle["deployed_at"]) > float(self.pending_timeout)

    async def logs(
        self, spec: DeploymentSpec, handle: dict[str, Any], tail: int = 100
    ) -> list[str]:
        ns, name = _where(spec, handle)
        upload = self._uploads.get((ns, name))
        if upload and not upload.task.done():
            return [upload.progress.describe()]
        try:
            found, lines = await self.cluster.predictor_log(ns, name, tail)
            if not found:
                waiting = f"no predictor pod of InferenceService {name} is running yet"
                return await self.cluster.events(ns, [name]) or [waiting]
            return lines
        except ApiException as exc:
            raise explain(exc, "read", f"the logs of {name}", self.cluster.name) from exc
        except Unreachable as exc:
            raise DeploymentError(str(exc)) from exc

    async def follow_logs(
        self, spec: DeploymentSpec, handle: dict[str, Any], tail: int = 100
    ) -> AsyncIterator[str]:
        """The last lines, then the predictor's new lines as the cluster streams them."""
        ns, name = _where(spec, handle)
        try:
            stream = await self.cluster.follow_predictor_log(ns, name, tail)
        except (ApiException, DeploymentError, Unreachable):
            stream = None
        if stream is None:  # nothing to follow yet: say why, as logs() does
            for line in await self.logs(spec, handle, tail):
                yield line
            return
        try:
            async for raw in stream.content:
                yield raw.decode("utf-8", "replace").rstrip("\n")
        finally:
            stream.release()

    # -- undeploy -------------------------------------------------------------------------------
    async def undeploy(self, spec: DeploymentSpec, handle: dict[str, Any]) -> None:
        """Delete the revision's InferenceService (only that: the namespace stays). Idempotent."""
        ns, name = _where(spec, handle)
        self._pending.pop((ns, name), None)
        upload = self._uploads.pop((ns, name), None)
        if upload and not upload.task.done():
            upload.task.cancel()
        try:
            await self.cluster.delete(m.ISVC_API, ns, name)
        except Unreachable as exc:
            raise DeploymentError(str(exc)) from exc  # the control plane retries it

    # -- model endpoints ------------------------------------------------------------------------
    async def route(self, spec: RouteSpec) -> str:
        vs = m.virtual_service(spec, self.config)
        try:
            await self.cluster.ensure_namespace(spec.project)
            await self.cluster.create_or_replace(m.VS_API, vs)
        except Unreachable as exc:
            raise Unavailable(str(exc)) from exc  # the model endpoint stays pending; retried
        scheme = self.config.get("url_scheme") or "http"
        return f"{scheme}://{vs['spec']['hosts'][0]}"

    async def unroute(self, spec: RouteSpec) -> None:
        try:
            await self.cluster.delete(m.VS_API, spec.project, spec.model)
        except Unreachable as exc:
            raise Unavailable(str(exc)) from exc

    # -- health ---------------------------------------------------------------------------------
    async def check(self) -> Reachability:
        """Reachable = the API server answers and KServe's InferenceService kind is installed."""
        version = "unknown version"
        try:
            version = await self.cluster.version()
            await self.cluster.has_kserve()
        except Unreachable as exc:
            return Reachability(False, str(exc))
        except DeploymentError as exc:
            if getattr(exc, "code", None) == 403:  # KServe may well be there; we may not look
                unverified = f"Kubernetes {version} (KServe not verified: {exc.message})"
                return Reachability(True, f"{self.cluster.name}: {unverified}")
            return Reachability(False, exc.message)
        return Reachability(True, f"{self.cluster.name}: Kubernetes {version}, KServe installed")

    async def close(self) -> None:
        for upload in self._uploads.values():
            upload.task.cancel()
        self._uploads.clear()
        await self.cluster.close()
