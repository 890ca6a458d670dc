"""A model's stable URL: ``serve_traffic``, ``stop_serving_traffic`` and ``rollback``."""
from __future__ import annotations

from typing import Any

from .client import MerlinError
from .fluent import _client, active_model, default_environment
from .resources import Model, ModelEndpoint, VersionEndpoint

TRAFFIC_ACTIONS = ("serve_traffic", "update_traffic")


def serve_traffic(traffic: dict[Any, int], environment_name: str | None = None,
                  mirror: Any = None) -> ModelEndpoint:
    """Route the current model's stable URL: ``{endpoint: weight}``, weights adding up to 100.

    A key (and ``mirror``) is a VersionEndpoint, a version endpoint id, or a version number
    (an int: that version's running endpoint in the environment). ``mirror`` receives a copy
    of every request; its answers are discarded. Creates the model endpoint on first use and
    changes its rule afterwards; returns when the new rule is in force.
    """
    model = active_model()
    env = environment_name or default_environment()
    resolve = _resolver(model, env)
    rule: dict[str, Any] = {"destinations": [
        {"version_endpoint_id": resolve(e), "weight": _weight(w)} for e, w in traffic.items()]}
    if mirror is not None:
        rule["mirror"] = {"id": resolve(mirror)}
    current = _model_endpoint(model, env)
    if current:
        data = _client().put(f"/models/{model.id}/endpoints/{current['id']}", {"rule": rule})
    else:
        data = _client().post(f"/models/{model.id}/endpoints", {"environment_name": env, "rule": rule})
    return _described(data, model)


def stop_serving_traffic(environment_name: str | None = None) -> None:
    """Remove the current model's endpoint in the environment; its versions keep running."""
    model = active_model()
    env = environment_name or default_environment()
    current = _model_endpoint(model, env)
    if current is None:
        raise MerlinError(f"Model {model.name!r} serves no traffic in {env!r}: nothing to stop.")
    _client().delete(f"/models/{model.id}/endpoints/{current['id']}")


def model_endpoint(environment_name: str | None = None) -> ModelEndpoint | None:
    """The current model's endpoint in the environment (None if it serves no traffic there)."""
    model = active_model()
    current = _model_endpoint(model, environment_name or default_environment())
    return _described(current, model) if current else None


def rollback(environment_name: str | None = None) -> ModelEndpoint:
    """Route the model endpoint back to the rule it had before the last change, in one step.

    The previous rule is read from the control plane's events of this model endpoint, not kept
    in the kernel: so it survives a kernel restart and sees changes made from the panel, another
    notebook or the REST API — the rule that was really in force before, whoever changed it.
    Rolling back twice returns to where you started (like ``cd -``). Refused, in words, when
    there is no earlier rule or when a version it routed to is no longer running.
    """
    model = active_model()
    env = environment_name or default_environment()
    current = _model_endpoint(model, env)
    if current is None:
        raise MerlinError(f"Model {model.name!r} serves no traffic in {env!r}: route it first with "
                          "`%merlin traffic v1=100` (merlin.serve_traffic({1: 100})).")
    endpoints = _version_endpoints(model)
    now = _summary(current["rule"])
    previous = next((s for s in _history(model, current["id"]) if s != now), None)
    if previous is None:
        raise MerlinError(f"Model {model.name!r} in {env!r} has had only one traffic rule: there is "
                          "nothing to roll back to. Change it with `%merlin traffic v1=90 v2=10`.")
    rule = _rule_from_summary(previous, endpoints)
    data = _client().put(f"/models/{model.id}/endpoints/{current['id']}", {"rule": rule})
    return _described(data, model)


# -- helpers ---------------------------------------------------------------------------------
def _weight(weight: Any) -> int:
    try:
        return int(weight)
    except (TypeError, ValueError):
        raise MerlinError(f"Weight {weight!r} is not a whole number: give 0-100, e.g. {{1: 90, 2: 10}}.") from None


def _model_endpoint(model: Model, env: str) -> dict[str, Any] | None:
    found = [m for m in _client().get(f"/models/{model.id}/endpoints")
             if m["environment_name"] == env and m["status"] != "terminated"]
    return found[0] if found else None


def _version_endpoints(model: Model) -> list[dict[str, Any]]:
    """Every version endpoint of the model, each with its version number."""
    found = []
    for version in _client().get(f"/models/{model.id}/versions", limit=500):
        found += _client().get(f"/models/{model.id}/versions/{version['id']}/endpoint")
    return found


def _resolver(model: Model, env: str):
    cache: list[list[dict[str, Any]]] = []

    def resolve(key: Any) -> str:
        if isinstance(key, VersionEndpoint):
            return key.id
        if isinstance(key, int) and not isinstance(key, bool):
            if not cache:
                cache.append(_version_endpoints(model))
            live = [e for e in cache[0] if e["version_id"] == key and e["environment_name"] == env
                    and e["status"] in ("running", "serving")]
            if not live:
                raise MerlinError(f"Version {key} of {model.name!r} has no running endpoint in {env!r}: "
                                  f"`%merlin deploy {key} --env {env}` first.")
            return live[0]["id"]
        return str(getattr(key, "id", key))

    return resolve


def _summary(rule: dict[str, Any]) -> tuple[tuple[tuple[str, int], ...], str | None]:
    """A rule as comparable data: ((8-char endpoint id prefix, weight), ...), mirror prefix."""
    mirror = rule.get("mirror")
    mirror_id = mirror.get("id") if isinstance(mirror, dict) else mirror
    pairs = tuple(sorted((d["version_endpoint_id"][:8], int(d["weight"])) for d in rule.get("destinations", [])))
    return pairs, (mirror_id[:8] if mirror_id else None)


def _history(model: Model, model_endpoint_id: int) -> list[tuple[tuple[tuple[str, int], ...], str | None]]:
    """The rules this model endpoint had, newest first, parsed from its traffic events.

    The events say ``routing <model> in <env>: 1a2b3c4d=90%, 5e6f7a8b=10%, mirror 9c0d1e2f``.
    """
    events = _client().get("/events", model_id=model.id, entity_id=str(model_endpoint_id), limit=200)
    rules = []
    for event in events:
        if event["entity_type"] != "model_endpoint" or event["action"] not in TRAFFIC_ACTIONS:
            continue
        pairs, mirror = [], None
        for part in event["message"].split(": ", 1)[-1].split(", "):
            if part.startswith("mirror "):
                mirror = part[len("mirror "):]
            elif "=" in part:
                prefix, weight = part.rstrip("%").split("=", 1)
                pairs.append((prefix, int(weight)))
        rules.append((tuple(sorted(pairs)), mirror))
    return rules


def _rule_from_summary(summary, endpoints: list[dict[str, Any]]) -> dict[str, Any]:
    pairs, mirror = summary

    def full(prefix: str) -> str:
        matches = [e for e in endpoints if e["id"].startswith(prefix)]
        if len(matches) != 1:
            raise MerlinError(f"The previous rule names endpoint {prefix}..., which this model no longer has: "
                              "set the traffic yourself with `%merlin traffic v1=100`.")
        endpoint = matches[0]
        if endpoint["status"] not in ("running", "serving"):
            raise MerlinError(
                f"The previous rule sent traffic to version {endpoint['version_id']}, whose endpoint is now "
                f"{endpoint['status']}: `%merlin deploy {endpoint['version_id']}`, then `%merlin rollback` again "
                "(or set the traffic with `%merlin traffic`).")
        return endpoint["id"]

    rule: dict[str, Any] = {"destinations": [{"version_endpoint_id": full(p), "weight": w} for p, w in pairs]}
    if mirror:
        rule["mirror"] = {"id": full(mirror)}
    return rule


def _described(data: dict[str, Any], model: Model) -> ModelEndpoint:
    """The model endpoint with a ``traffic`` field naming versions: ``v1 90%, v2 10%, mirror v3``."""
    by_id = {e["id"]: e["version_id"] for e in _version_endpoints(model)}
    rule = data.get("rule") or {}
    routed = sorted((by_id.get(d["version_endpoint_id"], 0), d["weight"]) for d in rule.get("destinations", []))
    parts = [f"v{number or '?'} {weight}%" for number, weight in routed]
    mirror = rule.get("mirror")
    mirror_id = mirror.get("id") if isinstance(mirror, dict) else mirror
    if mirror_id:
        parts.append(f"mirror v{by_id.get(mirror_id, '?')}")
    return ModelEndpoint({**data, "traffic": ", ".join(parts)})
