"""Environments: ``local`` (this machine) always exists; clusters come from configuration or the API."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..entities import Environment, ResourceRequest
from ..errors import Conflict, InvalidInput
from ..store.db import Database
from ..store.models import EnvironmentRow, VersionEndpointRow
from . import events, lookup, validation

LOCAL = "local"
CLUSTER_KEYS = ("kubeconfig", "context", "in_cluster", "host")


def parse_environment(data: dict[str, Any]) -> dict[str, Any]:
    """Validate one environment's settings (a MerlinApp.environments item or a POST body)."""
    if not isinstance(data, dict):
        raise InvalidInput("An environment must be an object with at least a name.")
    name = validation.environment_name(data.get("name"))
    validation.environment_settings(data)
    if name != LOCAL and not any(data.get(k) for k in CLUSTER_KEYS):
        raise InvalidInput(
            f"Environment {name!r} names no cluster: give 'kubeconfig' and 'context', "
            "'in_cluster': true, or an API 'host'.",
            field="kubeconfig",
        )
    default = ResourceRequest.from_api(validation.resource_request(data.get("default_resource_request")))
    return {
        "name": name,
        "kind": LOCAL if name == LOCAL else "kubernetes",
        "cluster": str(data.get("cluster") or data.get("context") or ("localhost" if name == LOCAL else name)),
        "is_default": data.get("is_default") is True,
        "deployment_mode": validation.deployment_mode(data.get("deployment_mode", "serverless")),
        "default_resource_request": validation.replica_range(default.to_api()),
        "config": {k: v for k, v in data.items() if k not in ("name", "is_default")},
    }


class EnvironmentService:
    def __init__(self, db: Database):
        self.db = db

    def sync_from_config(self, configured: list[dict[str, Any]], local_defaults: dict[str, Any]) -> None:
        """Make the stored environments match configuration; ``local`` always exists."""
        items = [parse_environment(c) for c in configured if c.get("name") != LOCAL]
        local = parse_environment({"name": LOCAL, **local_defaults})
        local["is_default"] = not any(i["is_default"] for i in items)
        wanted = {i["name"]: i for i in [local, *items]}
        with self.db.session() as session:
            rows = {r.name: r for r in session.scalars(select(EnvironmentRow))}
            for name, item in wanted.items():
                row = rows.get(name) or EnvironmentRow(name=name)
                for key, value in item.items():
                    setattr(row, key, value)
                row.source = "config"
                session.add(row)
            for name, row in rows.items():
                if row.source == "config" and name not in wanted and not _in_use(session, name):
                    session.delete(row)
                elif name not in wanted and local["is_default"] is False:
                    row.is_default = False

    def list(self) -> list[Environment]:
        with self.db.read() as session:
            return [r.to_entity() for r in session.scalars(select(EnvironmentRow).order_by(EnvironmentRow.id))]

    def get(self, name: str) -> Environment:
        with self.db.read() as session:
            return lookup.environment(session, name).to_entity()

    def create(self, body: dict[str, Any], actor: str) -> Environment:
        item = parse_environment(body)
        taken = Conflict(f"An environment named {item['name']!r} already exists.", field="name")
        with self.db.session() as session:
            if session.scalar(select(EnvironmentRow.id).where(EnvironmentRow.name == item["name"])):
                raise taken
            if item["is_default"]:
                for row in session.scalars(select(EnvironmentRow)):
                    row.is_default = False
            row = EnvironmentRow(source="api", **item)
            session.add(row)
            try:
                session.flush()
            except IntegrityError:  # PostgreSQL: a concurrent create won (the name is unique)
                raise taken from None
            events.record(session, actor, "create", "environment", row.name, f"created environment {row.name}")
            return row.to_entity()


def _in_use(session, name: str) -> bool:
    return bool(session.scalar(select(VersionEndpointRow.id).where(VersionEndpointRow.environment_name == name)))
