"""Input rules shared by the services. Each failure names the field and says what is allowed."""
from __future__ import annotations

import re
from typing import Any

from ..entities import AUTOSCALING_METRICS, DEPLOYMENT_MODES, MODEL_TYPES, PROTOCOLS
from ..errors import InvalidInput

RFC1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MODEL_NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
CPU = re.compile(r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$")
MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$")
ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def project_name(name: Any) -> str:
    if not isinstance(name, str) or not 3 <= len(name) <= 50 or not RFC1123.match(name):
        raise InvalidInput(
            f"Project name {name!r} is not valid: use 3-50 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit (it becomes a Kubernetes namespace), "
            "e.g. 'food-recommendation'.",
            field="name",
        )
    return name


def model_name(name: Any) -> str:
    if not isinstance(name, str) or not 3 <= len(name) <= 25 or not MODEL_NAME.match(name):
        raise InvalidInput(
            f"Model name {name!r} is not valid: use 3-25 lowercase letters, digits or '-', "
            "starting with a letter and ending with a letter or digit, e.g. 'churn-model'.",
            field="name",
        )
    return name


def model_type(value: Any) -> str:
    value = str(value or "").lower()
    if value not in MODEL_TYPES:
        raise InvalidInput(
            f"Model type {value!r} is not supported: choose one of {', '.join(MODEL_TYPES)}.",
            field="type",
        )
    return value


def deployment_mode(value: Any) -> str:
    value = str(value).lower()
    if value not in DEPLOYMENT_MODES:
        raise InvalidInput(
            f"Deployment mode {value!r} is not supported: choose {' or '.join(DEPLOYMENT_MODES)}.",
            field="deployment_mode",
        )
    return value


def protocol(value: Any) -> str:
    value = str(value or "HTTP_JSON").upper()
    if value not in PROTOCOLS:
        raise InvalidInput(f"Protocol {value!r} is not supported: use HTTP_JSON.", field="protocol")
    return value


def resource_request(data: Any) -> dict[str, Any]:
    """Check a resource request dict; returns the cleaned values that were given."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput("resource_request must be an object.", field="resource_request")
    out: dict[str, Any] = {}
    for key in ("min_replica", "max_replica", "workers"):
        if data.get(key) is not None:
            out[key] = _non_negative_int(data[key], f"resource_request.{key}")
    if "min_replica" in out and "max_replica" in out and out["min_replica"] > out["max_replica"]:
        raise InvalidInput(
            f"min_replica ({out['min_replica']}) is larger than max_replica ({out['max_replica']}).",
            field="resource_request.min_replica",
        )
    if out.get("max_replica") == 0:
        raise InvalidInput("max_replica must be at least 1.", field="resource_request.max_replica")
    if data.get("cpu_request"):
        out["cpu_request"] = _match(CPU, data["cpu_request"], "cpu_request", "e.g. '500m' or '2'")
    if data.get("memory_request"):
        out["memory_request"] = _match(
            MEMORY, data["memory_request"], "memory_request", "e.g. '512Mi' or '2Gi'"
        )
    for key in ("gpu_name", "gpu_request"):
        if data.get(key):
            out[key] = str(data[key])
    return out


def env_vars(data: Any) -> list[dict[str, str]]:
    if data is None:
        return []
    if isinstance(data, dict):
        data = [{"name": k, "value": v} for k, v in data.items()]
    if not isinstance(data, list):
        raise InvalidInput("env_vars must be a list of {name, value}.", field="env_vars")
    out = []
    for item in data:
        if not isinstance(item, dict) or not ENV_VAR.match(str(item.get("name", ""))):
            raise InvalidInput(
                f"Environment variable {item!r} is not valid: each needs a name made of letters, "
                "digits and '_' (not starting with a digit) and a value.",
                field="env_vars",
            )
        out.append({"name": str(item["name"]), "value": str(item.get("value", ""))})
    return out


def autoscaling_policy(data: Any) -> dict[str, Any] | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise InvalidInput("autoscaling_policy must be an object.", field="autoscaling_policy")
    metric = str(data.get("metrics_type", "concurrency")).lower()
    if metric not in AUTOSCALING_METRICS:
        raise InvalidInput(
            f"Autoscaling metric {metric!r} is not supported: choose one of "
            f"{', '.join(AUTOSCALING_METRICS)}.",
            field="autoscaling_policy.metrics_type",
        )
    try:
        target = float(data.get("target_value", 1))
    except (TypeError, ValueError):
        target = -1.0
    if target <= 0:
        raise InvalidInput(
            "autoscaling_policy.target_value must be a positive number.",
            field="autoscaling_policy.target_value",
        )
    if metric.endswith("utilization") and target > 100:
        raise InvalidInput(
            f"{metric} target is a percentage: give a value between 1 and 100.",
            field="autoscaling_policy.target_value",
        )
    return {"metrics_type": metric, "target_value": target}


def labels(data: Any) -> dict[str, str]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput("labels must be an object of string keys and values.", field="labels")
    for key in data:
        if not isinstance(key, str) or not key:
            raise InvalidInput("label keys must be non-empty strings.", field="labels")
    return {k: "" if v is None else str(v) for k, v in data.items()}


def _non_negative_int(value: Any, field: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{field} must be a whole number, not {value!r}.", field=field) from None
    if number < 0 or number != float(value):
        raise InvalidInput(f"{field} must be a whole number of 0 or more.", field=field)
    return number


def _match(pattern: re.Pattern[str], value: Any, field: str, example: str) -> str:
    value = str(value)
    if not pattern.match(value):
        raise InvalidInput(f"{field} {value!r} is not a valid quantity ({example}).", field=field)
    return value
