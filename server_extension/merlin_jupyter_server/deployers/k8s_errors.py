"""API server answers and network failures, turned into sentences a data scientist can act on.

The API server's ``Status`` body already says what was refused; these functions add what to do
next (which permission to ask for, which quota to raise, what already exists).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from kubernetes.aio.client.exceptions import ApiException

from ..errors import DeploymentError

# Network-level failures: the cluster could not be asked at all (retried, never "failed" at once).
UNREACHABLE = (aiohttp.ClientError, asyncio.TimeoutError, TimeoutError, ConnectionError, OSError)


def is_unreachable(exc: BaseException) -> bool:
    return isinstance(exc, UNREACHABLE) and not isinstance(exc, ApiException)


def status_of(exc: ApiException) -> dict[str, Any]:
    """The ``Status`` object the API server sent, or {} when the body is not one."""
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def is_not_found(exc: ApiException) -> bool:
    """The API server's own answer that the object (or its namespace) does not exist.

    Only this makes an endpoint "gone" (and deployed again). A 404 without a NotFound ``Status``
    comes from something else on the way (a proxy, a wrong server path); a 404 for the kind
    means the CRD is not installed. Neither says the object is gone."""
    if exc.status != 404:
        return False
    status = status_of(exc)
    return status.get("reason") == "NotFound" and "could not find the requested resource" not in (
        status.get("message") or "")


def unreachable_message(cluster: str, exc: BaseException) -> str:
    detail = str(exc) or type(exc).__name__
    return (
        f"Cannot reach {cluster}: {detail}. Check that the cluster is running and that this "
        "machine can reach its API server (VPN, kubeconfig server address); will retry."
    )


def explain(exc: ApiException, verb: str, what: str, cluster: str) -> DeploymentError:
    """A DeploymentError for ``exc`` raised while trying to ``verb`` ``what`` (e.g. 'create',
    "InferenceService iris-1-r1 in namespace demo")."""
    status = status_of(exc)
    said = status.get("message") or exc.reason or "no reason given"
    code = exc.status
    if code == 401:
        text = (
            f"{cluster} did not accept our credentials ({said}). Refresh the credentials of "
            "the kubeconfig context (e.g. log in again) and retry."
        )
    elif code == 403 and "exceeded quota" in said:
        text = (
            f"Cannot {verb} {what}: the namespace's resource quota is used up ({said}). "
            "Request fewer resources, undeploy an endpoint, or ask a cluster admin to raise "
            "the quota."
        )
    elif code == 403:
        text = (
            f"Cannot {verb} {what}: permission denied by {cluster} ({said}). Ask a cluster "
            f"admin to grant '{verb}' on {_resource(status, what)} to the identity this "
            "environment uses."
        )
    elif code == 404 and "could not find the requested resource" in said:
        text = (
            f"Cannot {verb} {what}: the cluster does not know this kind of resource. "
            "Install KServe (and Istio for model endpoints) on the cluster."
        )
    elif code == 409:
        text = f"Cannot {verb} {what}: it already exists or was changed meanwhile ({said})."
    elif code == 422 or code == 400:
        text = f"The cluster rejected {what} as invalid: {said}"
    else:
        text = f"Cannot {verb} {what}: {cluster} answered {code} ({said})."
    error = DeploymentError(text)
    error.code = code  # type: ignore[attr-defined]
    return error


def _resource(status: dict[str, Any], what: str) -> str:
    details = status.get("details") or {}
    kind = details.get("kind")
    group = details.get("group")
    if kind:
        return f"{kind}.{group}" if group else str(kind)
    return what.split(" ")[0]
