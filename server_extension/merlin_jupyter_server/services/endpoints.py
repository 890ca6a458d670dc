"""Version endpoints, as a user asks for them: deploy, redeploy, undeploy.

These methods only record intent (``desired``) and validate the rules; the reconciler carries
the intent out through a deployer and records the outcome (services/deployments.py).
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from ..entities import ACTIVE_STATUSES, EndpointStatus, ResourceRequest, VersionEndpoint
from ..errors import Conflict, InvalidInput
from ..store.db import Database
from ..store.models import VersionEndpointRow, utcnow
from . import events, lookup, validation

MAX_ACTIVE_PER_ENVIRONMENT = 2
ACTIVE = [s.value for s in ACTIVE_STATUSES]


class EndpointService:
    def __init__(self, db: Database):
        self.db = db

    def list(self, model_id: int, number: int) -> list[VersionEndpoint]:
        with self.db.session() as session:
            return [e.to_entity() for e in lookup.version(session, model_id, number).endpoints]

    def get(self, model_id: int, number: int, endpoint_id: str) -> VersionEndpoint:
        with self.db.session() as session:
            return lookup.version_endpoint(session, model_id, number, endpoint_id).to_entity()

    def get_by_id(self, endpoint_id: str) -> VersionEndpoint:
        with self.db.session() as session:
            row = session.get(VersionEndpointRow, str(endpoint_id))
            if row is None:
                from ..errors import NotFound

                raise NotFound(f"Endpoint {endpoint_id} does not exist.")
            return row.to_entity()

    def create(self, model_id: int, number: int, body: dict[str, Any], actor: str) -> VersionEndpoint:
        """Record a new endpoint as ``pending``; the reconciler deploys it."""
        with self.db.session() as session:
            version = lookup.version(session, model_id, number)
            env = (
                lookup.environment(session, str(body["environment_name"]))
                if body.get("environment_name")
                else lookup.default_environment(session)
            )
            active = [
                e for e in version.endpoints
                if e.environment_name == env.name and e.status in ACTIVE
            ]
            if len(active) >= MAX_ACTIVE_PER_ENVIRONMENT:
                raise Conflict(
                    f"Version {number} already has {len(active)} active endpoints in environment "
                    f"{env.name!r} (at most {MAX_ACTIVE_PER_ENVIRONMENT}): redeploy one of them "
                    "(PUT) or undeploy one first.",
                    field="environment_name",
                )
            row = VersionEndpointRow(
                id=str(uuid.uuid4()),
                version_pk=version.id,
                environment_name=env.name,
                status=EndpointStatus.PENDING.value,
                desired="running",
                revision=next_revision(version),
                **_settings(body, env.to_entity().default_resource_request, env.deployment_mode),
            )
            session.add(row)
            session.flush()
            session.refresh(row)
            events.record(
                session, actor, "deploy", "version_endpoint", row.id,
                f"deploying version {number} of {version.model.name} to {env.name}",
                version.model.project_id, model_id,
            )
            return row.to_entity()

    def redeploy(
        self, model_id: int, number: int, endpoint_id: str, body: dict[str, Any], actor: str
    ) -> VersionEndpoint:
        """Start a new revision with the given settings.

        A running endpoint keeps serving its current revision until the new one is ready.
        """
        with self.db.session() as session:
            row = lookup.version_endpoint(session, model_id, number, endpoint_id)
            env = lookup.environment(session, row.environment_name).to_entity()
            if body.get("environment_name") not in (None, "", row.environment_name):
                raise InvalidInput(
                    "An endpoint cannot move to another environment: deploy the version there "
                    "(POST) instead.",
                    field="environment_name",
                )
            if body.get("status") == EndpointStatus.TERMINATED.value:
                raise InvalidInput(
                    "To undeploy an endpoint use DELETE on it, not PUT.", field="status"
                )
            current = ResourceRequest.from_api(row.resource_request)
            for key, value in _settings(body, current, row.deployment_mode, env.default_resource_request).items():
                setattr(row, key, value)
            old_revision, row.revision = row.revision, next_revision(row.version)
            row.desired = "running"
            if row.status in (EndpointStatus.RUNNING.value, EndpointStatus.SERVING.value):
                row.previous_handle = row.handle or {}
                row.message = f"Revision {row.revision} is starting; revision {old_revision} keeps serving."
            else:
                # Nothing is serving: whatever is left of the old revision is cleaned up.
                row.previous_handle = row.handle or row.previous_handle or {}
                row.status = EndpointStatus.PENDING.value
                row.message = None
                row.status_changed_at = utcnow()
            row.handle = {}
            session.flush()
            events.record(
                session, actor, "redeploy", "version_endpoint", row.id,
                f"redeploying version {number} to {row.environment_name} (revision {row.revision})",
                row.version.model.project_id, model_id,
            )
            return row.to_entity()

    def request_undeploy(self, model_id: int, number: int, endpoint_id: str, actor: str) -> VersionEndpoint:
        """Mark the endpoint for termination; refused while it serves a model endpoint."""
        with self.db.session() as session:
            row = lookup.version_endpoint(session, model_id, number, endpoint_id)
            if row.status == EndpointStatus.SERVING.value:
                raise Conflict(
                    f"Endpoint {endpoint_id} is serving traffic for model endpoint of "
                    f"{row.version.model.name!r} in {row.environment_name!r}: remove it from the "
                    "model endpoint's rule (or stop serving traffic) first, then undeploy."
                )
            if row.desired != "terminated":
                row.desired = "terminated"
                events.record(
                    session, actor, "undeploy", "version_endpoint", row.id,
                    f"undeploying version {number} from {row.environment_name}",
                    row.version.model.project_id, model_id,
                )
            return row.to_entity()


def next_revision(version) -> int:
    """Revisions count per version, across its endpoints, so every deployment name
    ``{model}-{version}-r{revision}`` is unique even with two endpoints in one environment."""
    return 1 + max((e.revision for e in version.endpoints), default=0)


def _settings(
    body: dict[str, Any],
    base: ResourceRequest,
    mode: str,
    env_default: ResourceRequest | None = None,
) -> dict[str, Any]:
    """The deployable settings of a request body, over ``base`` for anything not given."""
    given = validation.resource_request(body.get("resource_request"))
    resources = ResourceRequest.from_api(given, base).to_api()
    out: dict[str, Any] = {"resource_request": resources}
    if "env_vars" in body or env_default is None:
        out["env_vars"] = validation.env_vars(body.get("env_vars"))
    if body.get("deployment_mode") or env_default is None:
        out["deployment_mode"] = validation.deployment_mode(body.get("deployment_mode") or mode)
    policy = validation.autoscaling_policy(body.get("autoscaling_policy"))
    if policy or env_default is None:
        out["autoscaling_policy"] = policy or {"metrics_type": "concurrency", "target_value": 1.0}
    if body.get("protocol") or env_default is None:
        out["protocol"] = validation.protocol(body.get("protocol"))
    return out


def active_endpoint_ids(session, ids: list[str]) -> dict[str, VersionEndpointRow]:
    rows = session.scalars(select(VersionEndpointRow).where(VersionEndpointRow.id.in_(ids)))
    return {r.id: r for r in rows}
