"""Rows of guarded rollouts and alerts (migration 0006). They stay in the store too."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .. import observe_entities as oe
from .models import Base, Timestamps, utcnow


class RolloutRow(Timestamps, Base):
    __tablename__ = "rollouts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    model_endpoint_id: Mapped[int] = mapped_column(ForeignKey("model_endpoints.id", ondelete="CASCADE"),
                                                   index=True)
    new_endpoint_id: Mapped[str] = mapped_column(String(36))
    old_endpoint_id: Mapped[str] = mapped_column(String(36))
    new_version: Mapped[int] = mapped_column(Integer)
    old_version: Mapped[int] = mapped_column(Integer)
    steps: Mapped[list[Any]] = mapped_column(default=list)
    bake_seconds: Mapped[float] = mapped_column(Float)
    guard: Mapped[dict[str, Any]] = mapped_column(default=dict)
    min_requests: Mapped[int] = mapped_column(Integer, default=20)
    # running | paused | completed | rolled_back | aborted
    status: Mapped[str] = mapped_column(String(16), default="running")
    step_index: Mapped[int] = mapped_column(Integer, default=-1)  # -1: the first step is not applied yet
    step_started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    paused_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # of the current bake
    paused_at: Mapped[datetime | None] = mapped_column(nullable=True)
    previous_rule: Mapped[dict[str, Any]] = mapped_column(default=dict)
    generation: Mapped[int] = mapped_column(Integer, default=0)  # of the rule this rollout set last
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    actor: Mapped[str] = mapped_column(String(255), default="")

    def to_entity(self) -> oe.Rollout:
        return oe.Rollout(
            id=self.id, model_id=self.model_id, model_endpoint_id=self.model_endpoint_id,
            new_endpoint_id=self.new_endpoint_id, old_endpoint_id=self.old_endpoint_id,
            new_version=self.new_version, old_version=self.old_version, steps=list(self.steps or []),
            bake_seconds=self.bake_seconds, guard=dict(self.guard or {}), min_requests=self.min_requests,
            status=self.status, step_index=self.step_index, step_started_at=self.step_started_at,
            paused_seconds=self.paused_seconds, paused_at=self.paused_at,
            previous_rule=dict(self.previous_rule or {}), generation=self.generation,
            message=self.message, actor=self.actor, created_at=self.created_at, updated_at=self.updated_at,
        )


class AlertRow(Timestamps, Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    model_endpoint_id: Mapped[int] = mapped_column(ForeignKey("model_endpoints.id", ondelete="CASCADE"),
                                                   index=True)
    metric: Mapped[str] = mapped_column(String(16))  # throughput | latency | error_rate | cpu | memory
    percentile: Mapped[float | None] = mapped_column(Float, nullable=True)  # latency only
    threshold: Mapped[float] = mapped_column(Float)
    duration_seconds: Mapped[float] = mapped_column(Float)
    severity: Mapped[str] = mapped_column(String(16), default="WARNING")
    state: Mapped[str] = mapped_column(String(16), default="ok")  # ok | firing
    breached_since: Mapped[datetime | None] = mapped_column(nullable=True)
    fired_at: Mapped[datetime | None] = mapped_column(nullable=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    actor: Mapped[str] = mapped_column(String(255), default="")
    evaluated_at: Mapped[datetime] = mapped_column(default=utcnow)

    def to_entity(self) -> oe.Alert:
        return oe.Alert(
            id=self.id, model_id=self.model_id, model_endpoint_id=self.model_endpoint_id,
            metric=self.metric, percentile=self.percentile, threshold=self.threshold,
            duration_seconds=self.duration_seconds, severity=self.severity, state=self.state,
            breached_since=self.breached_since, fired_at=self.fired_at, value=self.value,
            actor=self.actor, created_at=self.created_at, updated_at=self.updated_at,
        )
