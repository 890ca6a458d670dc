"""SQLAlchemy 2 rows. They stay inside the store: ``to_entity()`` turns each into a dataclass.

The schema is created and upgraded only by the Alembic migrations in ``store/migrations``.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from .. import entities as e


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class EnvironmentRow(Timestamps, Base):
    __tablename__ = "environments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    cluster: Mapped[str] = mapped_column(String(255), default="")
    kind: Mapped[str] = mapped_column(String(32), default="local")
    is_default: Mapped[bool] = mapped_column(default=False)
    deployment_mode: Mapped[str] = mapped_column(String(32), default="serverless")
    default_resource_request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # "config" environments come from MerlinApp.environments and are re-synced on start.
    source: Mapped[str] = mapped_column(String(16), default="api")

    def to_entity(self) -> e.Environment:
        return e.Environment(
            id=self.id,
            name=self.name,
            cluster=self.cluster,
            is_default=self.is_default,
            kind=self.kind,
            deployment_mode=self.deployment_mode,
            default_resource_request=e.ResourceRequest.from_api(self.default_resource_request),
            config=dict(self.config or {}),
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class ProjectRow(Timestamps, Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    mlflow_tracking_url: Mapped[str] = mapped_column(String(1024), default="")
    labels: Mapped[list[Any]] = mapped_column(default=list)
    administrators: Mapped[list[Any]] = mapped_column(default=list)
    readers: Mapped[list[Any]] = mapped_column(default=list)
    team: Mapped[str] = mapped_column(String(255), default="")
    stream: Mapped[str] = mapped_column(String(255), default="")

    def to_entity(self) -> e.Project:
        return e.Project(
            id=self.id,
            name=self.name,
            mlflow_tracking_url=self.mlflow_tracking_url,
            labels=list(self.labels or []),
            administrators=list(self.administrators or []),
            readers=list(self.readers or []),
            team=self.team,
            stream=self.stream,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class ModelRow(Timestamps, Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(25))
    type: Mapped[str] = mapped_column(String(16))
    mlflow_experiment_id: Mapped[int] = mapped_column(Integer, default=0)
    project: Mapped[ProjectRow] = relationship()
    endpoints: Mapped[list["ModelEndpointRow"]] = relationship(
        back_populates="model", cascade="all, delete-orphan", order_by="ModelEndpointRow.id"
    )

    def to_entity(self, mlflow_ui: str = "") -> e.Model:
        return e.Model(
            id=self.id,
            project_id=self.project_id,
            name=self.name,
            type=self.type,
            mlflow_experiment_id=self.mlflow_experiment_id,
            mlflow_url=f"{mlflow_ui}/#/experiments/{self.mlflow_experiment_id}" if mlflow_ui else "",
            endpoints=[me.to_entity() for me in self.endpoints],
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class ModelSchemaRow(Timestamps, Base):
    __tablename__ = "model_schemas"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    def to_entity(self) -> e.ModelSchema:
        return e.ModelSchema(id=self.id, model_id=self.model_id,
                             spec=dict(self.spec) if self.spec is not None else None)


def _environment_by_name(column: str):
    """The environment an endpoint names (endpoints keep the name, as Merlin's API shows it)."""
    return relationship(
        EnvironmentRow, primaryjoin=f"foreign({column}) == EnvironmentRow.name",
        viewonly=True, lazy="selectin",
    )


def _environment(row: EnvironmentRow | None) -> e.Environment | None:
    return row.to_entity() if row is not None else None


class VersionRow(Timestamps, Base):
    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("model_id", "number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    mlflow_run_id: Mapped[str] = mapped_column(String(64), default="")
    artifact_uri: Mapped[str] = mapped_column(String(2048), default="")
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    python_version: Mapped[str] = mapped_column(String(32), default="")
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    model_schema_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_schemas.id", ondelete="SET NULL"), nullable=True
    )
    model: Mapped[ModelRow] = relationship()
    model_schema: Mapped[ModelSchemaRow | None] = relationship(lazy="selectin")
    endpoints: Mapped[list["VersionEndpointRow"]] = relationship(
        back_populates="version", cascade="all, delete-orphan", order_by="VersionEndpointRow.created_at"
    )

    def to_entity(self, mlflow_ui: str = "") -> e.Version:
        exp = self.model.mlflow_experiment_id if self.model else 0
        return e.Version(
            id=self.number,
            pk=self.id,
            model_id=self.model_id,
            mlflow_run_id=self.mlflow_run_id,
            artifact_uri=self.artifact_uri,
            mlflow_url=f"{mlflow_ui}/#/experiments/{exp}/runs/{self.mlflow_run_id}" if mlflow_ui else "",
            labels={str(k): str(v) for k, v in (self.labels or {}).items()},
            python_version=self.python_version,
            properties=dict(self.properties or {}),
            endpoints=[ve.to_entity() for ve in self.endpoints],
            model_schema=self.model_schema.to_entity() if self.model_schema else None,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class VersionEndpointRow(Timestamps, Base):
    __tablename__ = "version_endpoints"
    # Deployment names carry the revision: no two endpoints of a version may share one.
    __table_args__ = (
        Index("uq_version_endpoints_version_revision", "version_pk", "revision", unique=True),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version_pk: Mapped[int] = mapped_column(ForeignKey("versions.id", ondelete="CASCADE"))
    environment_name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    desired: Mapped[str] = mapped_column(String(16), default="running")
    url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    resource_request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    env_vars: Mapped[list[Any]] = mapped_column(default=list)
    deployment_mode: Mapped[str] = mapped_column(String(32), default="serverless")
    autoscaling_policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    protocol: Mapped[str] = mapped_column(String(16), default="HTTP_JSON")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    enable_model_observability: Mapped[bool] = mapped_column(default=False)
    logger: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # What the deployer needs to find the running deployment again (pid/port, k8s names).
    handle: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # During a redeploy: the revision still serving until the new one is ready.
    previous_handle: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What the environment enforces of the settings, and how it runs now (migration 0008).
    serving: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    status_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A local endpoint's machine (migration 0004): only a replica on it looks after the endpoint.
    host: Mapped[str] = mapped_column(String(255), default="")
    version: Mapped[VersionRow] = relationship(back_populates="endpoints")
    environment: Mapped[EnvironmentRow | None] = _environment_by_name("VersionEndpointRow.environment_name")

    def to_entity(self) -> e.VersionEndpoint:
        version = self.version
        return e.VersionEndpoint(
            id=self.id,
            version_id=version.number if version else 0,
            version_pk=self.version_pk,
            model_id=version.model_id if version else 0,
            environment_name=self.environment_name,
            status=e.EndpointStatus(self.status),
            url=self.url,
            service_name=f"{version.model.name}-{version.number}" if version else "",
            message=self.message,
            resource_request=e.ResourceRequest.from_api(self.resource_request),
            env_vars=list(self.env_vars or []),
            deployment_mode=self.deployment_mode,
            autoscaling_policy=e.AutoscalingPolicy(**(self.autoscaling_policy or {})),
            protocol=self.protocol,
            revision=self.revision,
            desired=self.desired,
            enable_model_observability=bool(self.enable_model_observability),
            logger=dict(self.logger) if self.logger else None,
            serving=dict(self.serving) if self.serving else None,
            environment=_environment(self.environment),
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class ModelEndpointRow(Timestamps, Base):
    __tablename__ = "model_endpoints"
    __table_args__ = (UniqueConstraint("model_id", "environment_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    environment_name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    rule: Mapped[dict[str, Any]] = mapped_column(default=dict)
    protocol: Mapped[str] = mapped_column(String(16), default="HTTP_JSON")
    # Bumped on every rule change; the reconciler applies a rule whose generation it has not.
    generation: Mapped[int] = mapped_column(Integer, default=1)
    applied_generation: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    model: Mapped[ModelRow] = relationship(back_populates="endpoints")
    environment: Mapped[EnvironmentRow | None] = _environment_by_name("ModelEndpointRow.environment_name")

    def to_entity(self) -> e.ModelEndpoint:
        rule = self.rule or {}
        return e.ModelEndpoint(
            id=self.id,
            model_id=self.model_id,
            environment_name=self.environment_name,
            status=e.EndpointStatus(self.status),
            url=self.url,
            destinations=[e.Destination(**d) for d in rule.get("destinations", [])],
            mirror_endpoint_id=rule.get("mirror"),
            protocol=self.protocol,
            environment=_environment(self.environment),
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class EventRow(Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(255), default="")
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    model_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    message: Mapped[str] = mapped_column(Text, default="")

    def to_entity(self) -> e.Event:
        return e.Event(
            id=self.id,
            actor=self.actor,
            action=self.action,
            entity_type=self.entity_type,
            entity_id=self.entity_id,
            project_id=self.project_id,
            model_id=self.model_id,
            message=self.message,
            created_at=self.created_at,
        )

# Guarded rollouts and alerts live beside these rows (imported here so the metadata is whole).
from .observe_rows import AlertRow, RolloutRow  # noqa: E402,F401
