"""What the API answers for guarded rollouts and alerts (dataclasses; rows stay in the store)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .entities import iso


@dataclass
class Rollout:
    id: int
    model_id: int
    model_endpoint_id: int
    new_endpoint_id: str
    old_endpoint_id: str
    new_version: int
    old_version: int
    steps: list[int]
    bake_seconds: float
    guard: dict[str, float]
    min_requests: int
    status: str
    step_index: int
    step_started_at: datetime | None
    paused_seconds: float
    paused_at: datetime | None
    previous_rule: dict[str, Any]
    generation: int
    message: str | None
    actor: str
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def weight(self) -> int:
        """The new version's share of the traffic now."""
        return self.steps[self.step_index] if 0 <= self.step_index < len(self.steps) else 0

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id, "model_id": self.model_id, "model_endpoint_id": self.model_endpoint_id,
            "new_version": self.new_version, "old_version": self.old_version,
            "new_version_endpoint_id": self.new_endpoint_id, "old_version_endpoint_id": self.old_endpoint_id,
            "steps": self.steps, "bake_seconds": self.bake_seconds, "guard": self.guard,
            "min_requests": self.min_requests, "status": self.status, "step_index": self.step_index,
            "weight": self.weight, "step_started_at": iso(self.step_started_at), "message": self.message,
            "created_at": iso(self.created_at), "updated_at": iso(self.updated_at),
        }


@dataclass
class Alert:
    id: int
    model_id: int
    model_endpoint_id: int
    metric: str
    percentile: float | None
    threshold: float
    duration_seconds: float
    severity: str
    state: str
    breached_since: datetime | None
    fired_at: datetime | None
    value: float | None
    actor: str
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id, "model_id": self.model_id, "model_endpoint_id": self.model_endpoint_id,
            "metric": self.metric, "percentile": self.percentile, "threshold": self.threshold,
            "duration_seconds": self.duration_seconds, "severity": self.severity, "state": self.state,
            "value": self.value, "fired_at": iso(self.fired_at),
            "created_at": iso(self.created_at), "updated_at": iso(self.updated_at),
        }
