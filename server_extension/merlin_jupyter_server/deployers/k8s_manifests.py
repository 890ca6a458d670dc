"""The Kubernetes objects a deploy or a route applies, as pure functions of the specs.

Nothing here talks to a cluster, so a dry run renders exactly what a deploy applies.
Shapes follow KServe v1beta1 (InferenceService) and Istio networking v1 (VirtualService).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import DeploymentError
from ..services.logger_config import model_logging
from .base import DeploymentSpec, RouteDestination, RouteSpec

MANAGED_BY = {"app.kubernetes.io/managed-by": "merlin-jupyter"}
LABEL = "merlin-jupyter.io"  # prefix of the labels that find our objects again
ISVC_API = ("serving.kserve.io", "v1beta1", "inferenceservices")
VS_API = ("networking.istio.io", "v1", "virtualservices")
RUNTIME = "merlin-mlflow"
STORAGE_SERVICE_ACCOUNT = "merlin-storage"
VERSION_HEADER = "x-merlin-version"
DEFAULT_GATEWAY = "knative-serving/knative-ingress-gateway"
DEFAULT_LOCAL_GATEWAY = "knative-serving/knative-local-gateway"
DEFAULT_LOCAL_GATEWAY_HOST = "knative-local-gateway.istio-system.svc.cluster.local"
# Secrets by reference: an env var whose value is "secret:<name>/<key>" reads that Secret key.
SECRET_REF = re.compile(r"^secret:([a-z0-9]([-a-z0-9.]*[a-z0-9])?)/([-._a-zA-Z0-9]+)$")
MODE_ANNOTATION = {"serverless": "Serverless", "raw_deployment": "RawDeployment"}


@dataclass
class Rendered:
    """One deploy's objects, plus notes a person should read (e.g. an autoscaling fallback)."""

    namespace: dict[str, Any]
    inference_service: dict[str, Any]
    service_account: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def objects(self) -> list[dict[str, Any]]:
        return [o for o in (self.namespace, self.service_account, self.inference_service) if o]


def namespace(project: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": project, "labels": dict(MANAGED_BY)},
    }


def storage_service_account(project: str, store: dict[str, Any]) -> dict[str, Any]:
    """The service account KServe's storage initializer uses to read the artifact store."""
    annotations = {}
    if store.get("endpoint_url"):
        endpoint = str(store["endpoint_url"])
        annotations["serving.kserve.io/s3-endpoint"] = re.sub(r"^https?://", "", endpoint)
        annotations["serving.kserve.io/s3-usehttps"] = (
            "0" if endpoint.startswith("http://") else "1"
        )
    if store.get("region"):
        annotations["serving.kserve.io/s3-region"] = str(store["region"])
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": STORAGE_SERVICE_ACCOUNT,
            "namespace": project,
            "labels": dict(MANAGED_BY),
            "annotations": annotations,
        },
        "secrets": [{"name": str(store["secret"])}],
    }


def labels_for(spec: DeploymentSpec) -> dict[str, str]:
    return {
        **MANAGED_BY,
        f"{LABEL}/endpoint-id": spec.endpoint_id,
        f"{LABEL}/model": spec.model,
        f"{LABEL}/version": str(spec.version),
        f"{LABEL}/revision": str(spec.revision),
    }


def inference_service(spec: DeploymentSpec, storage_uri: str, config: dict[str, Any]) -> Rendered:
    """The InferenceService for one revision of a version endpoint."""
    mode = spec.deployment_mode if spec.deployment_mode in MODE_ANNOTATION else "serverless"
    annotations, scaling, notes = autoscaling(spec, mode)
    annotations["serving.kserve.io/deploymentMode"] = MODE_ANNOTATION[mode]
    predictor: dict[str, Any] = {
        **replicas(spec, mode, config),
        **scaling,
        "model": model_container(spec, storage_uri, config),
    }
    store = config.get("artifact_store") or {}
    account = config.get("service_account") or (
        STORAGE_SERVICE_ACCOUNT if store.get("secret") else None
    )
    if account:
        predictor["serviceAccountName"] = str(account)
    logged = model_logging(spec.logger)
    if logged is not None:
        # KServe's own logger: a CloudEvent per request and/or response, sent to the sink the
        # environment names (the services refuse logging on an environment without one).
        predictor["logger"] = {"mode": logged["mode"], "url": str(config.get("request_log_url") or "")}
    isvc = {
        "apiVersion": "/".join(ISVC_API[:2]),
        "kind": "InferenceService",
        "metadata": {
            "name": spec.revision_name,
            "namespace": spec.project,
            "labels": labels_for(spec),
            "annotations": annotations,
        },
        "spec": {"predictor": predictor},
    }
    sa = (
        storage_service_account(spec.project, store)
        if store.get("secret") and not config.get("service_account")
        else None
    )
    return Rendered(namespace(spec.project), isvc, sa, notes)


def model_container(
    spec: DeploymentSpec, storage_uri: str, config: dict[str, Any]
) -> dict[str, Any]:
    rr = spec.resource_request
    requests = {"cpu": rr.cpu_request, "memory": rr.memory_request}
    # Memory beyond the request gets a pod OOM-killed at random; a limit makes it predictable.
    limits: dict[str, str] = {"memory": rr.memory_request}
    if rr.gpu_request and str(rr.gpu_request) not in ("0", ""):
        gpu = rr.gpu_name if rr.gpu_name and "/" in rr.gpu_name else "nvidia.com/gpu"
        requests[gpu] = limits[gpu] = str(rr.gpu_request)
    # KServe appends these to the runtime's args; the last --model-name wins, so the server
    # answers under {model}-{version} as it does locally.
    args = ["--model-name", spec.model_name]
    if rr.workers:
        args += ["--workers", str(rr.workers)]
    container: dict[str, Any] = {
        "modelFormat": {"name": "mlflow"},
        "runtime": str(config.get("runtime") or RUNTIME),
        "storageUri": storage_uri,
        "args": args,
        "env": env_vars(spec),
        "resources": {"requests": requests, "limits": limits},
    }
    if config.get("runtime_image"):
        container["image"] = str(config["runtime_image"])
    return container


def env_vars(spec: DeploymentSpec) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"name": "MERLIN_MODEL_NAME", "value": spec.model_name}]
    for item in spec.env_vars:
        ref = SECRET_REF.match(item["value"])
        if ref:
            out.append(
                {
                    "name": item["name"],
                    "valueFrom": {"secretKeyRef": {"name": ref[1], "key": ref[3]}},
                }
            )
        else:
            out.append({"name": item["name"], "value": item["value"]})
    return out


def replicas(spec: DeploymentSpec, mode: str, config: dict[str, Any]) -> dict[str, int]:
    rr = spec.resource_request
    limit = config.get("max_replica")
    if limit is not None and rr.max_replica > int(limit):
        raise DeploymentError(
            f"max_replica {rr.max_replica} is above this environment's limit of {limit}. "
            f"Ask for at most {limit} replicas."
        )
    # Raw deployments scale with an HPA, which cannot scale to zero.
    low = rr.min_replica if mode == "serverless" else max(1, rr.min_replica)
    return {"minReplicas": low, "maxReplicas": max(low, rr.max_replica)}


def autoscaling(
    spec: DeploymentSpec, mode: str
) -> tuple[dict[str, str], dict[str, Any], list[str]]:
    """Annotations and predictor fields for the policy: Knative for serverless, HPA for raw."""
    metric, target = spec.autoscaling_policy.metrics_type, spec.autoscaling_policy.target_value
    if mode == "serverless":
        knative = {
            "concurrency": "concurrency",
            "rps": "rps",
            "cpu_utilization": "cpu",
            "memory_utilization": "memory",
        }[metric]
        annotations = {
            "autoscaling.knative.dev/metric": knative,
            "autoscaling.knative.dev/target": _number(target),
        }
        if knative in ("cpu", "memory"):
            # Knative's own autoscaler knows concurrency and rps; cpu/memory need its HPA class.
            annotations["autoscaling.knative.dev/class"] = "hpa.autoscaling.knative.dev"
        if knative == "memory":  # Knative's HPA class takes memory targets in MiB, not percent
            annotations["autoscaling.knative.dev/target"] = _number(
                mebibytes(spec.resource_request.memory_request) * target / 100
            )
        return annotations, {}, []
    notes = []
    if metric not in ("cpu_utilization", "memory_utilization"):
        notes.append(
            f"raw_deployment scales with a HorizontalPodAutoscaler, which cannot use "
            f"{metric}; scaling on 80% CPU utilization instead (use serverless for {metric})."
        )
        metric, target = "cpu_utilization", 80.0
    hpa = "cpu" if metric == "cpu_utilization" else "memory"
    percent = max(1, min(100, int(round(target))))
    annotations = {
        "serving.kserve.io/autoscalerClass": "hpa",
        "serving.kserve.io/metrics": hpa,
        "serving.kserve.io/targetUtilizationPercentage": str(percent),
    }
    fields = {"scaleMetric": hpa, "scaleMetricType": "Utilization", "scaleTarget": percent}
    return annotations, fields, notes


def mebibytes(quantity: str) -> float:
    units = {
        "Ki": 1 / 1024,
        "Mi": 1,
        "Gi": 1024,
        "Ti": 1024**2,
        "K": 1e3 / 2**20,
        "M": 1e6 / 2**20,
        "G": 1e9 / 2**20,
        "T": 1e12 / 2**20,
        "": 1 / 2**20,
    }
    match = re.fullmatch(r"([0-9.]+)([KMGT]i?)?", quantity.strip())
    if not match:
        return 512.0
    return float(match[1]) * units[match[2] or ""]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(round(value, 2))


# -- model endpoints (Istio) --------------------------------------------------------------------
def predictor_host(namespace_: str, isvc_name: str) -> str:
    return f"{isvc_name}-predictor.{namespace_}.svc.cluster.local"


def virtual_service(spec: RouteSpec, config: dict[str, Any]) -> dict[str, Any]:
    """One VirtualService per model endpoint: ``{model}.{project}.{domain}/v1/predict``.

    One version, no mirror (the common case): one route rewrites path and authority to the
    version's predictor. Otherwise Istio's limits shape it: a path is rewritten per route, not per
    weighted destination, and each version answers under its own path
    (``/v1/models/{model}-{version}:predict``). So the split happens in two hops, a pattern used
    with KServe in the field: at the ingress gateway the ``split`` route picks a version by weight
    and tags the request with ``x-merlin-version``; the request comes back through the
    cluster-local gateway, where the route for that tag rewrites path and authority to the
    version's predictor. Mirrored copies arrive with Envoy's ``-shadow`` authority suffix, which
    routes them to the mirror version the same way.
    """
    domain = config.get("domain")
    if not domain:
        raise DeploymentError(
            "This environment has no 'domain', so model endpoints have no host "
            "name. Set 'domain' (the cluster's ingress domain) in its settings."
        )
    host = f"{spec.model}.{spec.project}.{domain}"
    gateway = str(config.get("gateway") or DEFAULT_GATEWAY)
    local_host = str(config.get("local_gateway_host") or DEFAULT_LOCAL_GATEWAY_HOST)
    live = [d for d in spec.destinations if d.weight > 0]
    if len(live) == 1 and spec.mirror is None:
        match = {"uri": {"prefix": "/v1/predict"}}
        direct = _to_version(
            spec, live[0], f"version-{live[0].version}", match, gateway, local_host
        )
        routing = {"hosts": [host], "gateways": [gateway], "http": [direct]}
    else:
        routing = _two_hops(spec, live, host, gateway, config)
    return {
        "apiVersion": "/".join(VS_API[:2]),
        "kind": "VirtualService",
        "metadata": {
            "name": spec.model,
            "namespace": spec.project,
            "labels": {**MANAGED_BY, f"{LABEL}/model-endpoint-id": str(spec.model_endpoint_id)},
        },
        "spec": routing,
    }


def _two_hops(
    spec: RouteSpec, live: list[RouteDestination], host: str, gateway: str, config: dict[str, Any]
) -> dict[str, Any]:
    """Weights and mirror: split at the ingress gateway, rewrite at the cluster-local one."""
    local = str(config.get("local_gateway") or DEFAULT_LOCAL_GATEWAY)
    local_host = str(config.get("local_gateway_host") or DEFAULT_LOCAL_GATEWAY_HOST)
    routing: dict[str, Any] = {"hosts": [host], "gateways": [gateway, local], "http": []}
    if spec.mirror is not None:
        routing["hosts"].append(f"{host}-shadow")
        match = {"authority": {"exact": f"{host}-shadow"}}
        routing["http"].append(_to_version(spec, spec.mirror, "mirror", match, local, local_host))
    for dest in live:
        match = {"headers": {VERSION_HEADER: {"exact": str(dest.version)}}}
        name = f"version-{dest.version}"
        routing["http"].append(_to_version(spec, dest, name, match, local, local_host))
    routing["http"].append(_split(spec, gateway, local_host))
    return routing


def _to_version(
    spec: RouteSpec,
    dest: RouteDestination,
    name: str,
    match: dict[str, Any],
    gateway: str,
    local_host: str,
) -> dict[str, Any]:
    handle = dest.handle or {}
    target = predictor_host(spec.project, handle.get("name") or f"{dest.model_name}-r1")
    # Knative routes by authority behind the local gateway; a raw deployment is a plain Service.
    via = target if handle.get("mode") == "raw_deployment" else local_host
    return {
        "name": name,
        "match": [{**match, "gateways": [gateway]}],
        "rewrite": {"uri": f"/v1/models/{dest.model_name}:predict", "authority": target},
        "headers": {"request": {"remove": [VERSION_HEADER]}},
        "route": [{"destination": {"host": via}}],
    }


def _split(spec: RouteSpec, gateway: str, local_host: str) -> dict[str, Any]:
    route = [
        {
            "destination": {"host": local_host},
            "weight": int(d.weight),
            "headers": {"request": {"set": {VERSION_HEADER: str(d.version)}}},
        }
        for d in spec.destinations
        if d.weight > 0
    ]
    split: dict[str, Any] = {
        "name": "split",
        "match": [{"uri": {"prefix": "/v1/predict"}, "gateways": [gateway]}],
        "route": route,
    }
    if spec.mirror is not None:
        split["mirror"] = {"host": local_host}
        split["mirrorPercentage"] = {"value": 100.0}
    return split


def to_yaml(objects: list[dict[str, Any]], notes: list[str] | None = None) -> str:
    head = "".join(f"# note: {n}\n" for n in notes or [])
    return head + yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False)
