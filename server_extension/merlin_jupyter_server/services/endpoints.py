"""Version endpoints, as a user asks for them: deploy, redeploy, undeploy.

These methods only record intent (``desired``) and validate the rules; the reconciler carries
the intent out through a deployer and records the outcome (services/deployments.py).
"""
from __future__ import annotations

import uuid
from typing import Any, Callable

from sqlalchemy import select

from ..entities import ACTIVE_STATUSES, AutoscalingPolicy, EndpointStatus, Environment, ResourceRequest, VersionEndpoint
from ..errors import Conflict, InvalidInput
from ..store.db import Database
from ..store.models import ModelEndpointRow, VersionEndpointRow, utcnow
from . import events, logger_config, lookup, validation

MAX_ACTIVE_PER_ENVIRONMENT = 2
ACTIVE = [s.value for s in ACTIVE_STATUSES]


# The environment's deployer refuses what it cannot run and says what it will not enforce.
Admit = Callable[[Environment, ResourceRequest, AutoscalingPolicy], dict[str, Any]]


class EndpointService:
    def __init__(self, db: Database, admit: Admit | None = None):
        self.db = db
        self.admit = admit

    def _admitted(self, env: Environment, settings: dict[str, Any]) -> dict[str, Any] | None:
        if self.admit is None:
            return None
        return self.admit(env, ResourceRequest.from_api(settings["resource_request"]),
                          AutoscalingPolicy(**settings["autoscaling_policy"])) or None

    def list(self, model_id: int, number: int) -> list[VersionEndpoint]:
        with self.db.read() as session:
            return [e.to_entity() for e in lookup.version(session, model_id, number).endpoints]

    def get(self, model_id: int, number: int, endpoint_id: str) -> VersionEndpoint:
        with self.db.read() as session:
            return lookup.version_endpoint(session, model_id, number, endpoint_id).to_entity()

    def get_by_id(self, endpoint_id: str) -> VersionEndpoint:
        with self.db.read() as session:
            row = session.get(VersionEndpointRow, str(endpoint_id))
            if row is None:
                from ..errors import NotFound

                raise NotFound(f"Endpoint {endpoint_id} does not exist.")
            return row.to_entity()

    def create(self, model_id: int, number: int, body: dict[str, Any], actor: str) -> VersionEndpoint:
        """Record a new endpoint as ``pending``; the reconciler deploys it.

        The version is locked first, so the count of active endpoints and the next revision
        still hold when this one is added (concurrent deploys of a version take turns).
        """
        with self.db.session() as session:
            version = lookup.version(session, model_id, number, for_update=True)
            env_name = validation.chosen_environment(body)
            env = lookup.environment(session, env_name) if env_name else lookup.default_environment(session)
            _refuse_over_limit(version, env.name)
            settings = _settings(body, env.to_entity().default_resource_request, env.deployment_mode)
            logger_config.check_environment(settings["logger"], env.to_entity())
            row = VersionEndpointRow(
                id=str(uuid.uuid4()),
                version_pk=version.id,
                environment_name=env.name,
                status=EndpointStatus.PENDING.value,
                desired="running",
                revision=next_revision(version),
                serving=self._admitted(env.to_entity(), settings),
                **settings,
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
            row = lookup.version_endpoint(session, model_id, number, endpoint_id, for_update=True)
            env = lookup.environment(session, row.environment_name).to_entity()
            if row.status not in ACTIVE:
                # Bringing a failed or terminated endpoint back makes it active again.
                _refuse_over_limit(row.version, row.environment_name, redeploying=row.id)
            if validation.chosen_environment(body) not in (None, row.environment_name):
                raise Conflict(
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
            logger_config.check_environment(row.logger, env)
            row.serving = self._admitted(env, {"resource_request": row.resource_request,
                                               "autoscaling_policy": row.autoscaling_policy})
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
            # A rule that names it counts too: while it restarts after a crash it is pending,
            # not serving, yet the model endpoint still sends it traffic.
            if row.status == EndpointStatus.SERVING.value or _named_by_a_rule(session, row):
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


def _named_by_a_rule(session, row: VersionEndpointRow) -> bool:
    """Whether a model endpoint's live rule (not stopped) sends traffic to this endpoint."""
    rules = session.scalars(select(ModelEndpointRow.rule).where(
        ModelEndpointRow.model_id == row.version.model_id,
        ModelEndpointRow.environment_name == row.environment_name))
    return any(not (rule or {}).get("stop") and any(
        d.get("version_endpoint_id") == row.id for d in (rule or {}).get("destinations", []))
        for rule in rules)


def _refuse_over_limit(version, env_name: str, redeploying: str | None = None) -> None:
    """At most MAX_ACTIVE_PER_ENVIRONMENT active endpoints per version and environment."""
    active = [e for e in version.endpoints
              if e.environment_name == env_name and e.status in ACTIVE and e.id != redeploying]
    if len(active) >= MAX_ACTIVE_PER_ENVIRONMENT:
        what = "undeploy one first" if redeploying else "redeploy one of them (PUT) or undeploy one first"
        raise Conflict(
            f"Version {version.number} already has {len(active)} active endpoints in environment "
            f"{env_name!r} (at most {MAX_ACTIVE_PER_ENVIRONMENT}): {what}.",
            field="environment_name",
        )


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
    resources = validation.replica_range(ResourceRequest.from_api(given, base).to_api())
    out: dict[str, Any] = {"resource_request": resources}
    if "env_vars" in body or env_default is None:
        out["env_vars"] = validation.env_vars(body.get("env_vars"))
    if body.get("deployment_mode") not in (None, "") or env_default is None:
        given = body.get("deployment_mode")
        out["deployment_mode"] = validation.deployment_mode(mode if given in (None, "") else given)
    policy = validation.autoscaling_policy(body.get("autoscaling_policy"))
    if policy or env_default is None:
        out["autoscaling_policy"] = policy or {"metrics_type": "concurrency", "target_value": 1.0}
    if body.get("protocol") not in (None, "") or env_default is None:
        out["protocol"] = validation.protocol(body.get("protocol"))
    if body.get("enable_model_observability") is not None or env_default is None:
        # null means "not asked", as for the other optional settings.
        asked = body.get("enable_model_observability")
        out["enable_model_observability"] = _flag(False if asked is None else asked,
                                                  "enable_model_observability")
    if body.get("logger") is not None or env_default is None:
        out["logger"] = logger_config.logger(body.get("logger"))
    return out


def _flag(value: Any, name: str) -> bool:
    # Kept and answered as asked (merlin-sdk sends it); this control plane has no
    # observability pipeline to publish to, so it changes nothing in how the model is served.
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} is true or false, not {value!r}.", field=name)
    return value


def active_endpoint_ids(session, ids: list[str]) -> dict[str, VersionEndpointRow]:
    rows = session.scalars(select(VersionEndpointRow).where(VersionEndpointRow.id.in_(ids)))
    return {r.id: r for r in rows}
