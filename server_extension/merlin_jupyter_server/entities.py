"""The entities of the Merlin model, as plain dataclasses.

ORM rows never leave the store: they become these before a service sees them. ``to_api()``
gives the JSON shape of Merlin's v1 API (integer ids, UUID endpoint ids, lowercase enums),
so the official merlin-sdk and this project's own clients read the same documents.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


class EndpointStatus(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    SERVING = "serving"
    FAILED = "failed"
    TERMINATED = "terminated"


# Endpoints in these states hold resources (a process, a cluster deployment).
ACTIVE_STATUSES = frozenset({EndpointStatus.PENDING, EndpointStatus.RUNNING, EndpointStatus.SERVING})

MODEL_TYPES = ("pyfunc", "sklearn", "xgboost", "tensorflow", "pytorch", "onnx", "custom")
DEPLOYMENT_MODES = ("serverless", "raw_deployment")
AUTOSCALING_METRICS = ("cpu_utilization", "memory_utilization", "concurrency", "rps")
PROTOCOLS = ("HTTP_JSON",)


def iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return ts.isoformat().replace("+00:00", "Z")


@dataclass
class ResourceRequest:
    min_replica: int = 1
    max_replica: int = 1
    cpu_request: str = "500m"
    memory_request: str = "512Mi"
    gpu_name: str | None = None
    gpu_request: str | None = None
    workers: int | None = None  # model-server processes per replica; None = one per core

    def to_api(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_api(cls, data: dict[str, Any] | None, default: "ResourceRequest | None" = None):
        base = dict((default or cls()).__dict__)
        for key, value in (data or {}).items():
            if key in base and value is not None and value != "":
                base[key] = value
        return cls(**base)


@dataclass
class AutoscalingPolicy:
    metrics_type: str = "concurrency"
    target_value: float = 1.0

    def to_api(self) -> dict[str, Any]:
        return {"metrics_type": self.metrics_type, "target_value": self.target_value}


@dataclass
class Environment:
    id: int
    name: str
    cluster: str
    is_default: bool
    kind: str  # "local" or "kubernetes"
    default_resource_request: ResourceRequest
    deployment_mode: str = "serverless"
    config: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    reachable: bool | None = None
    reachable_message: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "cluster": self.cluster,
            "is_default": self.is_default,
            "kind": self.kind,
            "region": "",
            "gcp_project": "",
            "deployment_mode": self.deployment_mode,
            "default_resource_request": self.default_resource_request.to_api(),
            "is_prediction_job_enabled": False,
            "reachable": self.reachable,
            "reachable_message": self.reachable_message,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass
class Project:
    id: int
    name: str
    mlflow_tracking_url: str
    labels: list[dict[str, str]] = field(default_factory=list)
    administrators: list[str] = field(default_factory=list)
    readers: list[str] = field(default_factory=list)
    team: str = ""
    stream: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "mlflow_tracking_url": self.mlflow_tracking_url,
            "administrators": self.administrators,
            "readers": self.readers,
            "team": self.team,
            "stream": self.stream,
            "labels": self.labels,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass
class VersionEndpoint:
    id: str
    version_id: int  # the per-model counter, as Merlin shows it
    version_pk: int
    model_id: int
    environment_name: str
    status: EndpointStatus
    url: str | None
    service_name: str
    message: str | None
    resource_request: ResourceRequest
    env_vars: list[dict[str, str]]
    deployment_mode: str
    autoscaling_policy: AutoscalingPolicy
    protocol: str = "HTTP_JSON"
    revision: int = 1
    desired: str = "running"  # what the reconciler drives towards: running | terminated
    enable_model_observability: bool = False
    logger: dict[str, Any] | None = None  # Merlin's request/response logger (services/logger_config)
    # Which settings the environment enforces (``enforced``/``unenforced``, in words) and how it
    # runs now (``workers``, ``scaled_to_zero``, ``last_wake``); None where nothing is known.
    serving: dict[str, Any] | None = None
    # Merlin embeds its environment; merlin-sdk picks a version's endpoint by is_default.
    environment: Environment | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version_id": self.version_id,
            "model_id": self.model_id,
            "status": self.status.value,
            "url": self.url,
            "service_name": self.service_name,
            "environment_name": self.environment_name,
            "message": self.message,
            "resource_request": self.resource_request.to_api(),
            "env_vars": self.env_vars,
            "deployment_mode": self.deployment_mode,
            "autoscaling_policy": self.autoscaling_policy.to_api(),
            "protocol": self.protocol,
            "revision": self.revision,
            "enable_model_observability": self.enable_model_observability,
            "logger": self.logger,
            "serving": self.serving,
            "environment": self.environment.to_api() if self.environment else None,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass
class Version:
    id: int  # counter per model: 1, 2, ...
    pk: int
    model_id: int
    mlflow_run_id: str
    artifact_uri: str
    mlflow_url: str
    labels: dict[str, str] = field(default_factory=dict)
    python_version: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    endpoints: list[VersionEndpoint] = field(default_factory=list)
    model_schema: "ModelSchema | None" = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model_id": self.model_id,
            "mlflow_run_id": self.mlflow_run_id,
            "mlflow_url": self.mlflow_url,
            "artifact_uri": self.artifact_uri,
            "endpoints": [e.to_api() for e in self.endpoints],
            "properties": self.properties,
            "labels": self.labels,
            "model_schema": self.model_schema.to_api() if self.model_schema else None,
            "custom_predictor": None,
            "python_version": self.python_version,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass
class Destination:
    version_endpoint_id: str
    weight: int


@dataclass
class ModelEndpoint:
    id: int
    model_id: int
    environment_name: str
    status: EndpointStatus
    url: str | None
    destinations: list[Destination]
    mirror_endpoint_id: str | None
    protocol: str = "HTTP_JSON"
    environment: Environment | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def rule_api(self) -> dict[str, Any]:
        rule: dict[str, Any] = {
            "destinations": [
                {"version_endpoint_id": d.version_endpoint_id, "weight": d.weight}
                for d in self.destinations
            ]
        }
        if self.mirror_endpoint_id:
            rule["mirror"] = {"id": self.mirror_endpoint_id}
        return rule

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model_id": self.model_id,
            "status": self.status.value,
            "url": self.url,
            "rule": self.rule_api(),
            "environment_name": self.environment_name,
            "environment": self.environment.to_api() if self.environment else None,
            "protocol": self.protocol,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass
class ModelSchema:
    """Merlin's model schema: what a model's features and predictions are (``spec``, Merlin's
    InferenceSchema as JSON), kept per model and referenced by its versions."""

    id: int
    model_id: int
    spec: dict[str, Any] | None

    def to_api(self) -> dict[str, Any]:
        return {"id": self.id, "model_id": self.model_id, "spec": self.spec}


@dataclass
class Model:
    id: int
    project_id: int
    name: str
    type: str
    mlflow_experiment_id: int
    mlflow_url: str
    endpoints: list[ModelEndpoint] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project_id": self.project_id,
            "name": self.name,
            "type": self.type,
            "mlflow_experiment_id": self.mlflow_experiment_id,
            "mlflow_url": self.mlflow_url,
            "endpoints": [e.to_api() for e in self.endpoints],
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass
class Event:
    id: int
    actor: str
    action: str
    entity_type: str
    entity_id: str
    project_id: int | None
    model_id: int | None
    message: str
    created_at: datetime | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "actor": self.actor,
            "action": self.action,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "project_id": self.project_id,
            "model_id": self.model_id,
            "message": self.message,
            "created_at": iso(self.created_at),
        }
