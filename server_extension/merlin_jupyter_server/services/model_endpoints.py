"""Model endpoints: a model's stable URL per environment, routing traffic by a rule."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..entities import EndpointStatus, ModelEndpoint
from ..errors import Conflict, InvalidInput, NotFound
from ..store.db import Database
from ..store.models import ModelEndpointRow, VersionEndpointRow, VersionRow
from . import events, lookup, validation

ROUTABLE = (EndpointStatus.RUNNING.value, EndpointStatus.SERVING.value)


class ModelEndpointService:
    def __init__(self, db: Database):
        self.db = db

    def list(self, model_id: int) -> list[ModelEndpoint]:
        with self.db.read() as session:
            return [me.to_entity() for me in lookup.model(session, model_id).endpoints]

    def get(self, model_id: int, model_endpoint_id: int) -> ModelEndpoint:
        with self.db.read() as session:
            return lookup.model_endpoint(session, model_id, model_endpoint_id).to_entity()

    def serving_url(self, project: str, model: str) -> str | None:
        """The URL of the model's serving endpoint in the default environment, if any."""
        from ..store.models import ModelRow, ProjectRow

        with self.db.read() as session:
            env = lookup.default_environment(session).name
            row = session.scalar(
                select(ModelEndpointRow)
                .join(ModelRow).join(ProjectRow)
                .where(ProjectRow.name == project, ModelRow.name == model,
                       ModelEndpointRow.environment_name == env,
                       ModelEndpointRow.status == EndpointStatus.SERVING.value)
            )
            return row.url if row else None

    def create(self, model_id: int, body: dict[str, Any], actor: str) -> ModelEndpoint:
        with self.db.session() as session:
            # One model endpoint per model and environment: concurrent creates take turns.
            model = lookup.model(session, model_id, for_update=True)
            env_name = validation.chosen_environment(body)
            env = lookup.environment(session, env_name) if env_name else lookup.default_environment(session)
            existing = session.scalar(
                select(ModelEndpointRow).where(
                    ModelEndpointRow.model_id == model_id,
                    ModelEndpointRow.environment_name == env.name,
                )
            )
            if existing is not None and existing.status != EndpointStatus.TERMINATED.value:
                raise Conflict(
                    f"Model {model.name!r} already has a model endpoint ({existing.id}) in "
                    f"{env.name!r}: change its rule with PUT /models/{model_id}/endpoints/{existing.id}.",
                    field="environment_name",
                )
            rule = _rule(session, model_id, env.name, body.get("rule"))
            row = existing or ModelEndpointRow(model_id=model_id, environment_name=env.name)
            row.rule, row.status, row.message = rule, EndpointStatus.PENDING.value, None
            row.generation = (row.generation or 0) + 1
            session.add(row)
            session.flush()
            events.record(
                session, actor, "serve_traffic", "model_endpoint", row.id,
                f"routing {model.name} in {env.name}: {_describe(rule)}", model.project_id, model_id,
            )
            return row.to_entity()

    def update(self, model_id: int, model_endpoint_id: int, body: dict[str, Any], actor: str) -> ModelEndpoint:
        with self.db.session() as session:
            row = lookup.model_endpoint(session, model_id, model_endpoint_id)
            if validation.chosen_environment(body) not in (None, row.environment_name):
                raise Conflict(
                    "A model endpoint cannot move to another environment: create one there.",
                    field="environment_name",
                )
            row.rule = _rule(session, model_id, row.environment_name, body.get("rule"))
            row.generation += 1
            if row.status == EndpointStatus.TERMINATED.value:
                row.status = EndpointStatus.PENDING.value
            session.flush()
            events.record(
                session, actor, "update_traffic", "model_endpoint", row.id,
                f"routing {row.model.name} in {row.environment_name}: {_describe(row.rule)}",
                row.model.project_id, model_id,
            )
            return row.to_entity()

    def request_delete(self, model_id: int, model_endpoint_id: int, actor: str) -> ModelEndpoint:
        with self.db.session() as session:
            row = lookup.model_endpoint(session, model_id, model_endpoint_id)
            row.rule = {**(row.rule or {}), "stop": True}
            row.generation += 1
            events.record(
                session, actor, "stop_serving_traffic", "model_endpoint", row.id,
                f"stopping traffic to {row.model.name} in {row.environment_name}",
                row.model.project_id, model_id,
            )
            return row.to_entity()


def _rule(session, model_id: int, env_name: str, rule: Any) -> dict[str, Any]:
    """Validate a traffic rule; returns ``{"destinations": [...], "mirror": id | None}``."""
    if not isinstance(rule, dict) or not isinstance(rule.get("destinations"), list) or not rule["destinations"]:
        raise InvalidInput(
            "rule.destinations must list at least one {version_endpoint_id, weight}.",
            field="rule.destinations",
        )
    destinations = []
    for item in rule["destinations"]:
        if not isinstance(item, dict):
            raise InvalidInput("Each destination must be an object.", field="rule.destinations")
        endpoint_id = _endpoint_id(item)
        weight = item.get("weight")
        if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
            raise InvalidInput(
                f"Destination {endpoint_id} has weight {weight!r}: give a whole number 0-100.",
                field="rule.destinations.weight",
            )
        _check_routable(session, model_id, env_name, endpoint_id)
        destinations.append({"version_endpoint_id": endpoint_id, "weight": weight})
    ids = [d["version_endpoint_id"] for d in destinations]
    if len(set(ids)) != len(ids):
        raise InvalidInput("A version endpoint appears twice in the rule.", field="rule.destinations")
    total = sum(d["weight"] for d in destinations)
    if total != 100:
        raise InvalidInput(
            f"Destination weights add up to {total}; they must add up to 100.",
            field="rule.destinations.weight",
        )
    mirror = None
    if rule.get("mirror"):
        mirror = _endpoint_id(rule["mirror"]) if isinstance(rule["mirror"], dict) else str(rule["mirror"])
        if mirror in ids:
            raise InvalidInput("The mirror must not also be a destination.", field="rule.mirror")
        _check_routable(session, model_id, env_name, mirror)
    return {"destinations": destinations, "mirror": mirror}


def _endpoint_id(item: dict[str, Any]) -> str:
    # The id is authoritative; an embedded (possibly stale) endpoint object is ignored.
    endpoint_id = item.get("version_endpoint_id") or item.get("id")
    if not endpoint_id and isinstance(item.get("version_endpoint"), dict):
        endpoint_id = item["version_endpoint"].get("id")
    if not endpoint_id:
        raise InvalidInput("A destination needs a version_endpoint_id.", field="rule.destinations")
    return str(endpoint_id)


def _check_routable(session, model_id: int, env_name: str, endpoint_id: str) -> None:
    row = session.get(VersionEndpointRow, endpoint_id)
    version = session.get(VersionRow, row.version_pk) if row else None
    if row is None or version is None or version.model_id != model_id:
        raise NotFound(
            f"Version endpoint {endpoint_id} does not belong to model {model_id}: route only "
            "endpoints of this model's versions.",
            field="rule.destinations",
        )
    if row.environment_name != env_name:
        raise Conflict(
            f"Version endpoint {endpoint_id} is in environment {row.environment_name!r}, not "
            f"{env_name!r}: a model endpoint routes only to endpoints of its own environment.",
            field="rule.destinations",
        )
    if row.status not in ROUTABLE:
        raise Conflict(
            f"Version endpoint {endpoint_id} (version {version.number}) is {row.status}: only "
            "running or serving endpoints can receive traffic. Wait for it to be running.",
            field="rule.destinations",
        )


def _describe(rule: dict[str, Any]) -> str:
    parts = [f"{d['version_endpoint_id'][:8]}={d['weight']}%" for d in rule.get("destinations", [])]
    if rule.get("mirror"):
        parts.append(f"mirror {rule['mirror'][:8]}")
    return ", ".join(parts)
