"""The reconciler's side of the state machine: what needs work, and recording what happened.

Transitions: pending → running (ready) | failed (with reason and log lines); running/serving →
failed when the server dies; any → terminated on undeploy. A result for an older revision than
the endpoint's current one is ignored, so a slow deployer can never overwrite newer intent.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..deployers.base import DeploymentSpec, RouteDestination, RouteSpec
from ..entities import EndpointStatus as S
from ..entities import VersionEndpoint
from ..errors import Conflict, DeploymentError
from ..store.db import Database
from ..store.models import ModelEndpointRow, VersionEndpointRow, utcnow
from . import events, lookup
from .mlflow_gateway import MlflowGateway

LIVE = (S.RUNNING.value, S.SERVING.value)


@dataclass
class EndpointWork:
    endpoint: VersionEndpoint
    spec: DeploymentSpec
    handle: dict[str, Any]
    previous_handle: dict[str, Any]
    status_changed_at: datetime


@dataclass
class RouteWork:
    model_endpoint_id: int
    generation: int
    stop: bool
    spec: RouteSpec


class DeploymentStateService:
    def __init__(self, db: Database, tracking_uri: str = "", mlflow: MlflowGateway | None = None,
                 hostname: str = ""):
        self.db = db
        self.tracking_uri = tracking_uri
        self.mlflow = mlflow
        self.hostname = hostname

    # -- reading ---------------------------------------------------------------------------
    def endpoint_work(self, endpoint_ids: list[str] | None = None) -> list[EndpointWork]:
        """Every endpoint that holds or may hold resources (or the given ones)."""
        with self.db.read() as session:
            query = select(VersionEndpointRow)
            if endpoint_ids is not None:
                query = query.where(VersionEndpointRow.id.in_(endpoint_ids))
            else:
                query = query.where(
                    (VersionEndpointRow.status != S.TERMINATED.value)
                    | (VersionEndpointRow.desired != "terminated")
                )
            return [self._work(session, row) for row in session.scalars(query)
                    if (row.status != S.FAILED.value or row.previous_handle or row.desired == "terminated")
                    and self._here(row)]

    def _here(self, row: VersionEndpointRow) -> bool:
        """Whether this replica may look after the endpoint: anything but a local endpoint that
        runs on another host (that host's processes are out of reach: never "gone" from here)."""
        local = row.environment is not None and row.environment.kind == "local"
        return not local or not row.host or not self.hostname or row.host == self.hostname

    def _work(self, session, row: VersionEndpointRow) -> EndpointWork:
        return EndpointWork(
            endpoint=row.to_entity(),
            spec=self._spec(session, row),
            handle=dict(row.handle or {}),
            previous_handle=dict(row.previous_handle or {}),
            status_changed_at=row.status_changed_at,
        )

    def _spec(self, session, row: VersionEndpointRow) -> DeploymentSpec:
        environment = lookup.environment(session, row.environment_name).to_entity()
        return self._make_spec(row.version.model, row.version, environment, row.id, row.revision, row.to_entity())

    def _make_spec(self, model, version, environment, endpoint_id: str, revision: int, settings) -> DeploymentSpec:
        """A spec from store rows and anything carrying an endpoint's deploy settings."""
        return DeploymentSpec(
            endpoint_id=endpoint_id,
            project=model.project.name,
            model=model.name,
            version=version.number,
            revision=revision,
            model_type=model.type,
            artifact_uri=version.artifact_uri,
            environment=environment,
            resource_request=settings.resource_request,
            env_vars=settings.env_vars,
            deployment_mode=settings.deployment_mode,
            autoscaling_policy=settings.autoscaling_policy,
            protocol=settings.protocol,
            tracking_uri=self.tracking_uri,
            logger=getattr(settings, "logger", None),
        )

    def _model_location(self, experiment_id: int, run_id: str, artifact_uri: str) -> str:
        if self.mlflow is None:
            return ""
        return self.mlflow.model_location(experiment_id, run_id, artifact_uri)

    def resolve_model(self, spec: DeploymentSpec) -> DeploymentSpec:
        """Fill in where the model lives (raises DeploymentError when the run has none)."""
        with self.db.read() as session:
            row = session.get(VersionEndpointRow, spec.endpoint_id)
            version = row.version
            spec.model_location = self._model_location(
                version.model.mlflow_experiment_id, version.mlflow_run_id, version.artifact_uri
            )
        return spec

    def preview_spec(self, model_id: int, number: int, environment, settings: dict[str, Any]) -> DeploymentSpec:
        """The spec a deploy with ``settings`` would use (for a dry run; nothing is stored)."""
        from types import SimpleNamespace

        from ..entities import AutoscalingPolicy, ResourceRequest

        with self.db.read() as session:
            version = lookup.version(session, model_id, number)
            deploy_settings = SimpleNamespace(
                **{**settings, "resource_request": ResourceRequest.from_api(settings["resource_request"]),
                   "autoscaling_policy": AutoscalingPolicy(**settings["autoscaling_policy"])}
            )
            spec = self._make_spec(version.model, version, environment, "dry-run", 1, deploy_settings)
            try:
                spec.model_location = self._model_location(
                    version.model.mlflow_experiment_id, version.mlflow_run_id, version.artifact_uri
                )
            except DeploymentError as exc:
                # Nothing failed upstream: the version is not deployable yet (no model logged).
                raise Conflict(exc.message, field=exc.field) from None
            return spec

    def route_applied(self, model_endpoint_id: int) -> bool:
        with self.db.read() as session:
            row = session.get(ModelEndpointRow, model_endpoint_id)
            return row is None or row.generation == row.applied_generation

    def spec_for(self, endpoint_id: str) -> tuple[DeploymentSpec, dict[str, Any]]:
        with self.db.read() as session:
            row = session.get(VersionEndpointRow, endpoint_id)
            return self._spec(session, row), dict(row.handle or {})

    def known_revisions(self) -> set[str]:
        """``"<endpoint id>:<revision>"`` of every revision that may hold resources now."""
        known: set[str] = set()
        with self.db.session() as session:
            for row in session.scalars(select(VersionEndpointRow).where(VersionEndpointRow.desired != "terminated")):
                known.add(f"{row.id}:{row.revision}")
                previous = (row.previous_handle or {}).get("revision")
                if previous is not None:
                    known.add(f"{row.id}:{previous}")
        return known

    # -- recording -------------------------------------------------------------------------
    def record_intent(self, endpoint_id: str, revision: int, handle: dict[str, Any]) -> bool:
        """Record, before anything is started, that ``revision`` is being deployed."""
        with self.db.session() as session:
            row = session.get(VersionEndpointRow, endpoint_id)
            if row is None or row.revision != revision or row.desired != "running":
                return False
            row.handle = handle
            if row.environment is not None and row.environment.kind == "local" and self.hostname:
                row.host = self.hostname  # the process about to start runs on this machine
            return True

    def record_crashed(self, endpoint_id: str, revision: int, handle: dict[str, Any], message: str) -> None:
        """The revision's server crashed and will be restarted: the endpoint is not ready
        meanwhile, unless an older revision still serves (a redeploy in progress)."""
        with self.db.session() as session:
            row = session.get(VersionEndpointRow, endpoint_id)
            if row is None or row.revision != revision or row.desired != "running":
                return
            row.handle, row.message = handle, message
            if row.status in LIVE and not row.previous_handle:
                self._set_status(session, row, S.PENDING, message)
            else:
                self._event(session, row, "crashed", message)

    def record_started(
        self, endpoint_id: str, revision: int, handle: dict[str, Any], message: str | None = None
    ) -> bool:
        with self.db.session() as session:
            row = _locked(session, endpoint_id)
            if row is None or row.revision != revision or row.desired != "running":
                return False
            row.handle = handle
            if message:
                row.message = message
                self._event(session, row, "restart", message)
            return True

    def record_progress(self, endpoint_id: str, revision: int, message: str | None,
                        milestone: bool = False) -> None:
        """Show what a pending deployment is doing (loading, building an environment...);
        a milestone is also recorded as an event."""
        with self.db.session() as session:
            row = _locked(session, endpoint_id)
            if row is not None and row.revision == revision and row.status == S.PENDING.value and message:
                if row.message != message:
                    row.message = message
                    if milestone:
                        self._event(session, row, "progress", message)

    def record_ready(self, endpoint_id: str, revision: int, url: str, handle: dict[str, Any]) -> dict[str, Any]:
        """Mark the revision ready; returns the previous revision's handle, to be removed."""
        with self.db.session() as session:
            row = _locked(session, endpoint_id)
            if row is None or row.revision != revision or row.desired != "running":
                return {}
            previous = dict(row.previous_handle or {})
            url_changed = row.url != url
            row.handle, row.url, row.previous_handle, row.message = handle, url, {}, None
            if row.status not in LIVE:
                self._set_status(session, row, S.RUNNING, f"endpoint is running at {url}")
                # Back after a crash: serving again if a model endpoint's rule names it.
                _refresh_serving(session, row.version.model_id, row.environment_name)
            elif url_changed:
                _reroute_models_using(session, row.id)
            return previous

    def record_serving(self, endpoint_id: str, revision: int, details: dict[str, Any]) -> None:
        """How the revision runs now (workers, scaled to zero, last wake), beside what the
        deploy recorded of its settings."""
        with self.db.session() as session:
            row = _locked(session, endpoint_id)
            if row is not None and row.revision == revision:
                kept = {k: v for k, v in (row.serving or {}).items() if k in ("enforced", "unenforced")}
                row.serving = {**kept, **details}

    def record_failed(self, endpoint_id: str, revision: int, message: str) -> list[dict[str, Any]]:
        """Record a failed revision; returns handles to clean up.

        When the failing revision was a redeploy of a live endpoint, the old revision keeps
        serving and the endpoint stays live, with the failure in its message.
        """
        with self.db.session() as session:
            row = _locked(session, endpoint_id)
            if row is None or row.revision != revision:
                return []
            failed = dict(row.handle or {})
            if row.status in LIVE and row.previous_handle:
                # The revision number is not reused: names derived from it stay unique.
                row.handle, row.previous_handle = row.previous_handle, {}
                row.message = f"Redeploy failed, the previous revision keeps serving: {message}"
                self._event(session, row, "redeploy_failed", row.message)
                return [failed]
            previous = dict(row.previous_handle or {})
            row.handle, row.previous_handle, row.message = {}, {}, message
            self._set_status(session, row, S.FAILED, f"endpoint failed: {message}")
            return [failed, previous]

    def record_terminated(self, endpoint_id: str) -> None:
        with self.db.session() as session:
            row = _locked(session, endpoint_id)
            if row is None or row.desired != "terminated":
                return
            row.handle, row.previous_handle = {}, {}
            if row.status != S.TERMINATED.value:
                self._set_status(session, row, S.TERMINATED, "endpoint terminated")

    def clear_previous(self, endpoint_id: str) -> None:
        with self.db.session() as session:
            row = _locked(session, endpoint_id)
            if row is not None:
                row.previous_handle = {}

    def _set_status(self, session, row: VersionEndpointRow, status: S, message: str) -> None:
        row.status = status.value
        row.status_changed_at = utcnow()
        self._event(session, row, status.value, message)

    def _event(self, session, row: VersionEndpointRow, action: str, message: str) -> None:
        model = row.version.model
        events.record(
            session, "reconciler", action, "version_endpoint", row.id,
            f"{model.name} version {row.version.number} in {row.environment_name}: {message}",
            model.project_id, model.id,
        )

    # -- model endpoints -------------------------------------------------------------------
    def route_work(self) -> list[RouteWork]:
        with self.db.read() as session:
            rows = session.scalars(
                select(ModelEndpointRow).where(ModelEndpointRow.generation != ModelEndpointRow.applied_generation)
            )
            return [self._route_work(session, row) for row in rows]

    def _route_work(self, session, row: ModelEndpointRow) -> RouteWork:
        rule = row.rule or {}

        def destination(endpoint_id: str, weight: int) -> RouteDestination:
            ve = session.get(VersionEndpointRow, endpoint_id)
            return RouteDestination(
                endpoint_id=endpoint_id, weight=weight, handle=dict(ve.handle or {}), url=ve.url,
                model_name=f"{row.model.name}-{ve.version.number}", version=ve.version.number,
            )

        spec = RouteSpec(
            model_endpoint_id=row.id,
            project=row.model.project.name,
            model=row.model.name,
            environment=lookup.environment(session, row.environment_name).to_entity(),
            destinations=[destination(d["version_endpoint_id"], d["weight"]) for d in rule.get("destinations", [])],
            mirror=destination(rule["mirror"], 0) if rule.get("mirror") else None,
        )
        return RouteWork(row.id, row.generation, bool(rule.get("stop")), spec)

    def record_routed(self, model_endpoint_id: int, generation: int, url: str | None) -> None:
        with self.db.session() as session:
            row = session.get(ModelEndpointRow, model_endpoint_id)
            if row is None or row.generation != generation:
                return
            row.applied_generation = generation
            stopped = bool((row.rule or {}).get("stop"))
            row.status = S.TERMINATED.value if stopped else S.SERVING.value
            row.url = url if not stopped else row.url
            row.message = None
            _refresh_serving(session, row.model_id, row.environment_name)
            events.record(
                session, "reconciler", row.status, "model_endpoint", row.id,
                f"{row.model.name} in {row.environment_name}: "
                + ("traffic stopped" if stopped else f"serving at {url}"),
                row.model.project_id, row.model_id,
            )

    def record_route_waiting(self, model_endpoint_id: int, generation: int, message: str) -> None:
        """The rule is not applied yet (the cluster is unreachable): say so, and say it once."""
        with self.db.session() as session:
            row = session.get(ModelEndpointRow, model_endpoint_id)
            if row is None or row.generation != generation or row.message == message:
                return
            row.message = message
            events.record(
                session, "reconciler", "route_waiting", "model_endpoint", row.id,
                f"{row.model.name} in {row.environment_name}: {message}",
                row.model.project_id, row.model_id,
            )

    def record_route_failed(self, model_endpoint_id: int, generation: int, message: str) -> None:
        with self.db.session() as session:
            row = session.get(ModelEndpointRow, model_endpoint_id)
            if row is None or row.generation != generation:
                return
            row.applied_generation = generation
            row.message = message
            if row.status == S.PENDING.value:
                row.status = S.FAILED.value
            events.record(
                session, "reconciler", "route_failed", "model_endpoint", row.id,
                f"{row.model.name} in {row.environment_name}: {message}",
                row.model.project_id, row.model_id,
            )


def _locked(session, endpoint_id: str) -> VersionEndpointRow | None:
    """The endpoint, locked until the transaction ends (PostgreSQL): a result is compared with
    the current revision and recorded as one step, never against intent changed in between."""
    return session.get(VersionEndpointRow, endpoint_id, with_for_update=True)


def _refresh_serving(session, model_id: int, env_name: str) -> None:
    """Endpoints named by an applied, live rule are ``serving``; the others fall back to running."""
    routed: set[str] = set()
    rows = session.scalars(
        select(ModelEndpointRow).where(
            ModelEndpointRow.model_id == model_id, ModelEndpointRow.environment_name == env_name
        )
    )
    for me in rows:
        rule = me.rule or {}
        if me.status == S.SERVING.value and not rule.get("stop"):
            routed.update(d["version_endpoint_id"] for d in rule.get("destinations", []))
            if rule.get("mirror"):
                routed.add(rule["mirror"])
    for ve in session.scalars(select(VersionEndpointRow).where(VersionEndpointRow.environment_name == env_name)):
        if ve.version.model_id != model_id or ve.status not in LIVE:
            continue
        wanted = S.SERVING.value if ve.id in routed else S.RUNNING.value
        if ve.status != wanted:
            ve.status = wanted
            ve.status_changed_at = utcnow()


def _reroute_models_using(session, endpoint_id: str) -> None:
    """A live endpoint moved (new revision, new URL): its model endpoints must be re-applied."""
    for me in session.scalars(select(ModelEndpointRow)):
        rule = me.rule or {}
        ids = {d["version_endpoint_id"] for d in rule.get("destinations", [])} | {rule.get("mirror")}
        if endpoint_id in ids and not rule.get("stop"):
            me.generation += 1
