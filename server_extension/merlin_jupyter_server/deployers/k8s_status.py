"""Reading an InferenceService's state, and the predictor's logs and events that explain it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kubernetes.aio import client

# Condition reasons and model states after which KServe will not become ready by itself.
FAILURE_REASONS = frozenset(
    {
        "ModelLoadFailed",
        "RevisionFailed",
        "ContainerMissing",
        "ProgressDeadlineExceeded",
        "InvalidSpec",
        "ServingRuntimeNotFound",
        "NoSupportingRuntime",
        "RuntimeDisabled",
        "RuntimeNotRecognized",
        "InternalError",
        "ExitCode",
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "StorageInitializerFailed",
    }
)
FAILED_MODEL_STATES = frozenset({"BlockedByFailedLoad", "InvalidSpec"})
# Container states a pod does not leave by itself; a crash loop counts after a few restarts.
STUCK_WAITING = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)
CRASH_RESTARTS = 3
PREDICTOR_CONTAINER = "kserve-container"


@dataclass
class Reading:
    """What the InferenceService's status says: ``ready``, ``failed`` or ``pending`` and why."""

    state: str
    url: str | None = None
    message: str = ""


def _conditions(status: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in status.get("conditions") or [] if isinstance(c, dict)]


def read(obj: dict[str, Any], model_name: str) -> Reading:
    """Interpret the conditions of the current generation (older status is not trusted)."""
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    if status.get("observedGeneration") not in (None, generation):
        return Reading("pending", message="KServe has not yet looked at the latest change")
    conditions = _conditions(status)
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    if ready and ready.get("status") == "True" and status.get("url"):
        return Reading("ready", url=f"{status['url'].rstrip('/')}/v1/models/{model_name}:predict")
    failure = _failure(status, conditions)
    if failure:
        return Reading("failed", message=failure)
    if ready and (ready.get("message") or ready.get("reason")):
        return Reading(
            "pending", message=f"not ready yet: {ready.get('message') or ready.get('reason')}"
        )
    return Reading("pending", message="waiting for KServe to start the predictor")


def _failure(status: dict[str, Any], conditions: list[dict[str, Any]]) -> str:
    for cond in conditions:
        if cond.get("status") == "False" and cond.get("reason") in FAILURE_REASONS:
            return f"{cond.get('reason')}: {cond.get('message') or 'no message'}"
    model = status.get("modelStatus") or {}
    if model.get("transitionStatus") in FAILED_MODEL_STATES:
        info = model.get("lastFailureInfo") or {}
        reason = info.get("reason") or model["transitionStatus"]
        return f"{reason}: {info.get('message') or 'model failed to load'}"
    return ""


def last_seen(obj: dict[str, Any] | None) -> str:
    """The conditions in one line, for a timeout message."""
    if not obj:
        return "the InferenceService was not found"
    parts = [
        f"{c.get('type')}={c.get('status')}"
        + (f" ({c.get('reason')}: {c.get('message')})" if c.get("reason") else "")
        for c in _conditions(obj.get("status") or {})
    ]
    return "; ".join(parts) or "no conditions reported by KServe"


async def read_json(response: Any) -> dict[str, Any]:
    # Raw JSON rather than typed models: real clusters and older servers omit fields the typed
    # models insist on, and we only need a few.
    return json.loads(await response.read())


async def predictor_pods(
    core: client.CoreV1Api, namespace: str, name: str, timeout: float
) -> list[dict[str, Any]]:
    """The predictor pods of InferenceService ``name``, newest first."""
    response = await core.list_namespaced_pod_without_preload_content(
        namespace,
        label_selector=f"serving.kserve.io/inferenceservice={name}",
        _request_timeout=timeout,
    )
    return newest_first((await read_json(response)).get("items") or [])


def newest_first(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True)


def predictor_container(pod: dict[str, Any]) -> str | None:
    containers = [c["name"] for c in pod.get("spec", {}).get("containers", [])]
    return PREDICTOR_CONTAINER if PREDICTOR_CONTAINER in containers else (containers or [None])[0]


async def pod_log(
    core: client.CoreV1Api, namespace: str, pod: dict[str, Any], tail: int, timeout: float
) -> list[str]:
    fn = core.read_namespaced_pod_log_without_preload_content
    response = await fn(
        pod["metadata"]["name"],
        namespace,
        container=predictor_container(pod),
        tail_lines=tail,
        _request_timeout=timeout,
    )
    return (await response.read()).decode("utf-8", "replace").splitlines()


async def events(
    core: client.CoreV1Api, namespace: str, names: list[str], timeout: float
) -> list[str]:
    """Events about the named objects, oldest first: ``event: Warning Reason kind/name: msg``."""
    lines: list[tuple[str, str]] = []
    for name in names:
        response = await core.list_namespaced_event_without_preload_content(
            namespace, field_selector=f"involvedObject.name={name}", _request_timeout=timeout
        )
        for ev in (await read_json(response)).get("items") or []:
            ref = ev.get("involvedObject") or {}
            when = ev.get("lastTimestamp") or ev.get("eventTime") or ""
            lines.append(
                (
                    when,
                    f"event: {ev.get('type', '')} {ev.get('reason', '')} "
                    f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}: "
                    f"{ev.get('message', '')}",
                )
            )
    return [text for _, text in sorted(lines)]


def pod_failure(pods: list[dict[str, Any]]) -> str | None:
    """Why the newest predictor pod cannot start, or None while it may still come up."""
    if not pods:
        return None
    for status in (pods[0].get("status") or {}).get("containerStatuses") or []:
        waiting = (status.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        crashing = reason == "CrashLoopBackOff" and status.get("restartCount", 0) >= CRASH_RESTARTS
        if reason in STUCK_WAITING or crashing:
            detail = waiting.get("message") or f"restarted {status.get('restartCount', 0)} times"
            return f"container {status.get('name')} is in {reason} ({detail})"
    return None
