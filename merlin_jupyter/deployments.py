"""Deploying versions: ``deploy``, ``undeploy``, ``logs`` and ``follow_logs`` of the fluent SDK."""
from __future__ import annotations

import time
from typing import Any

from .client import LineStream, MerlinError
from .logger import Logger
from .fluent import _client, _version, default_environment
from .progress import DeployProgress
from .resources import ModelVersion, VersionEndpoint

LIVE = ("pending", "running", "serving")
FAILURE_LINES = 5  # log lines in a failed deploy's error; the widget shows every line it got


class MerlinDeploymentError(MerlinError):
    """A deploy ended ``failed``; ``endpoint`` holds it, the message says why (with log lines)."""

    def __init__(self, message: str, endpoint: VersionEndpoint):
        super().__init__(message)
        self.endpoint = endpoint


class Manifests(str):
    """The YAML a deploy would apply (``deploy(..., dry_run=True)``); prints as it is."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(str(self))}</pre>"


def deploy(version: Any = None, environment_name: str | None = None,
           resource_request: dict[str, Any] | None = None, env_vars: dict[str, str] | None = None,
           deployment_mode: str | None = None, autoscaling_policy: dict[str, Any] | None = None,
           wait: bool = True, timeout: float = 900.0, dry_run: bool = False,
           check: bool = False, logger: Logger | None = None) -> VersionEndpoint | Manifests:
    """Deploy a version (default: the latest) as a real-time HTTP endpoint.

    Blocks until the endpoint is running (showing its progress) unless ``wait=False``. A deploy
    that fails raises MerlinDeploymentError with the reason and the model server's last log lines.
    Redeploys the version's endpoint in that environment if it already has one.

    ``dry_run=True`` deploys nothing and returns the Kubernetes manifests the deploy would apply
    (a Kubernetes environment only). ``check=True`` first loads the model in a fresh process and
    predicts its input example (see ``merlin_jupyter.checks``), so a model that cannot load fails
    here, in words, before anything is deployed. ``logger`` (Merlin's ``Logger``) logs the
    endpoint's requests and responses; ``endpoint.requests()`` reads them back.
    """
    ver = _version(version)
    body: dict[str, Any] = {"environment_name": environment_name}
    body.update({k: v for k, v in {"resource_request": resource_request, "deployment_mode": deployment_mode,
                                   "autoscaling_policy": autoscaling_policy}.items() if v is not None})
    if logger is not None:
        body["logger"] = logger.to_api()
    if env_vars:
        body["env_vars"] = [{"name": k, "value": str(v)} for k, v in env_vars.items()]
    base = f"/models/{ver.model_id}/versions/{ver.id}/endpoint"
    if dry_run:
        return Manifests(_client().post(base, body, dry_run="true")["manifests"])
    started = time.monotonic()
    progress = DeployProgress(f"Version {ver.id} → {environment_name or default_environment()}")
    if check:
        _check(ver, progress, started)
    existing = _active_endpoint(ver, environment_name)
    data = _client().put(f"{base}/{existing['id']}", body) if existing else _client().post(base, body)
    endpoint = VersionEndpoint(data)
    return _wait(endpoint, ver, timeout, started, progress) if wait else endpoint


def _check(ver: ModelVersion, progress: DeployProgress, started: float) -> None:
    from .checks import check_version

    progress.update("checking", "loading the model in a fresh process", 0.0)
    result = check_version(ver)
    elapsed = time.monotonic() - started
    if not result.ok:
        progress.failed(f"not deployed: {result.problem}", [], elapsed)
    else:
        progress.update("checked", "it loads and predicts its input example", elapsed)
    result.raise_for_errors()


def _active_endpoint(ver: ModelVersion, environment_name: str | None) -> dict[str, Any] | None:
    env = environment_name or default_environment()
    endpoints = _client().get(f"/models/{ver.model_id}/versions/{ver.id}/endpoint")
    live = [e for e in endpoints if e["environment_name"] == env and e["status"] in LIVE]
    return live[0] if live else None


def _wait(endpoint: VersionEndpoint, ver: ModelVersion, timeout: float, start: float,
          progress: DeployProgress) -> VersionEndpoint:
    base = f"/models/{ver.model_id}/versions/{ver.id}/endpoint"
    data = endpoint.to_dict()
    while data["status"] == "pending" or (data.get("message") or "").startswith("Revision "):
        progress.update(data["status"], data.get("message"), time.monotonic() - start)
        if time.monotonic() - start > timeout:
            progress.failed(f"still pending after {int(timeout)} s", [], time.monotonic() - start)
            raise MerlinError(f"Endpoint {data['id']} is still pending after {int(timeout)} s: "
                              f"see `%merlin logs {ver.id}` (merlin.logs({ver.id})).")
        time.sleep(0.1)
        data = _client().get(f"{base}/{data['id']}")
    endpoint = VersionEndpoint(data)
    elapsed = time.monotonic() - start
    if data["status"] == "failed" or (data.get("message") or "").startswith("Redeploy failed"):
        reason, lines = split_failure(data.get("message") or "the deploy failed")
        progress.failed(reason, lines, elapsed)
        shown = "".join(f"\n  {line}" for line in lines[-FAILURE_LINES:])
        raise MerlinDeploymentError(
            f"The deploy of version {ver.id} to {endpoint.environment_name} failed: {reason}"
            + (f"\nLast log lines:{shown}" if shown else "")
            + f"\nAll of them: `%merlin logs {ver.id}` (merlin.logs({ver.id})).", endpoint)
    progress.succeeded(data["status"], data["url"], _example(ver), elapsed,
                       (data.get("serving") or {}).get("unenforced"))
    return endpoint


def split_failure(message: str) -> tuple[str, list[str]]:
    """A failed endpoint's message as (reason, log lines): the server appends "Last log lines:"."""
    reason, _, rest = message.partition("\n")
    lines = [line for line in rest.splitlines() if line.strip() and line.strip() != "Last log lines:"]
    return reason.strip(), lines


def _example(ver: ModelVersion) -> Any:
    """The version's logged input example as instances, for the snippets (None if unknown)."""
    from .checks import input_example_instances

    return input_example_instances(ver)


def undeploy(version: Any = None, environment_name: str | None = None) -> None:
    """Stop the version's endpoint in the environment (refused while it serves a model endpoint)."""
    ver = _version(version)
    existing = _active_endpoint(ver, environment_name)
    if existing is None:
        raise MerlinError(f"Version {ver.id} has no active endpoint in "
                          f"{environment_name or default_environment()!r}: nothing to undeploy.")
    _client().delete(f"/models/{ver.model_id}/versions/{ver.id}/endpoint/{existing['id']}")


def _latest_endpoint(ver: ModelVersion, environment_name: str | None) -> dict[str, Any]:
    endpoints = _client().get(f"/models/{ver.model_id}/versions/{ver.id}/endpoint")
    if environment_name:
        endpoints = [e for e in endpoints if e["environment_name"] == environment_name]
    if not endpoints:
        raise MerlinError(f"Version {ver.id} has never been deployed"
                          f"{' to ' + repr(environment_name) if environment_name else ''}: "
                          f"`%merlin deploy {ver.id}` first.")
    return max(endpoints, key=lambda e: e["created_at"])


def logs(version: Any = None, environment_name: str | None = None, tail: int = 100) -> list[str]:
    """The last ``tail`` lines the version's model server wrote."""
    ver = _version(version)
    latest = _latest_endpoint(ver, environment_name)
    return _client().get(f"/models/{ver.model_id}/versions/{ver.id}/endpoint/{latest['id']}/logs", tail=tail)["logs"]


def follow_logs(version: Any = None, environment_name: str | None = None, tail: int = 20) -> LineStream:
    """The model server's log lines as they are written: the last ``tail``, then each new one.

    Iterate over the result (``for line in merlin.follow_logs(2): ...``); it runs until the
    endpoint stops or ``close()`` is called (from any thread), which also ends it on the server.
    """
    ver = _version(version)
    latest = _latest_endpoint(ver, environment_name)
    path = f"/models/{ver.model_id}/versions/{ver.id}/endpoint/{latest['id']}/logs"
    return _client().stream_lines(path, tail=tail, follow="true")
