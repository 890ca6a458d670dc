"""Input rules shared by the services. Each failure names the field and says what is allowed.

Patterns are matched whole (``fullmatch``: ``$`` would let ``"abc\\n"`` through), numbers are
bounded by what the store holds (SQLite integers are 64-bit), and every list or map a client
can grow has a cap, so nothing a request carries reaches the database or a process unchecked.
"""
from __future__ import annotations

import math
import re
from typing import Any

from ..entities import AUTOSCALING_METRICS, DEPLOYMENT_MODES, MODEL_TYPES, PROTOCOLS
from ..errors import InvalidInput

MAX_INT = 2**63 - 1  # the largest integer a SQLite INTEGER column holds
RFC1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
MODEL_NAME = re.compile(r"[a-z][a-z0-9-]*[a-z0-9]")
ENV_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Kubernetes quantities, bounded by their digits so the OpenAPI document can say the same: cpu up
# to 999.999 cores (or 999999m), memory up to about 10 TiB in any unit.
CPU = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3})?|[0-9]{1,6}m")
MEMORY = re.compile(
    r"[0-9]{1,13}|[0-9]{1,10}(Ki|k)|[0-9]{1,7}(\.[0-9]{1,3})?(Mi|M)|[0-9]{1,4}(\.[0-9]{1,3})?(Gi|G)"
    r"|[0-9](\.[0-9]{1,3})?(Ti|T)"
)
# Kubernetes label syntax: an optional DNS-subdomain prefix and a name of at most 63 characters.
LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
LABEL_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
GPU_RESOURCE = re.compile(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
PYTHON_VERSION = re.compile(r"[0-9]+(\.([0-9]+|\*)){0,2}([a-z]+[0-9]*)?")

# Caps a person can reason about; each error message repeats the one it hit.
MAX_REPLICAS = 100
MAX_WORKERS = 64  # model-server processes forked per replica
MAX_GPUS = 16
MAX_LABELS = 64
MAX_ENV_VARS = 100
MAX_ENV_VALUE = 32 * 1024
MAX_USERS = 100
MAX_TEXT = 255
MAX_TARGET = 1_000_000  # autoscaling target for concurrency / rps


# -- numbers -------------------------------------------------------------------------------
def whole_number(value: Any, field: str, minimum: int = 0, maximum: int = MAX_INT) -> int:
    """A JSON integer (``true`` and ``"3"`` are not) within ``minimum``..``maximum``."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} must be a whole number, not {_show(value)}.", field=field)
    if not minimum <= value <= maximum:
        raise InvalidInput(
            f"{field} is {value}: it must be a whole number from {minimum} to {maximum}.", field=field
        )
    return value


INT_TEXT = re.compile(r"-?[0-9]{1,20}")


def int_text(value: str, field: str, minimum: int = 1, maximum: int = MAX_INT) -> int:
    """An integer in a path or query string: plain ASCII digits only (no '+', '_', spaces)."""
    if not isinstance(value, str) or not INT_TEXT.fullmatch(value):
        raise InvalidInput(f"{field} must be a whole number, not {value!r}.", field=field)
    return whole_number(int(value), field, minimum, maximum)


def positive_number(value: Any, field: str, maximum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{field} must be a number, not {_show(value)}.", field=field)
    if not (math.isfinite(value) and 0 < value <= maximum):
        raise InvalidInput(f"{field} is {value}: give a number above 0 and at most {maximum:g}.", field=field)
    return float(value)


# -- strings -------------------------------------------------------------------------------
def text(value: Any, field: str, max_length: int = MAX_TEXT) -> str:
    """A single-line string of at most ``max_length`` characters."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string, not {_show(value)}.", field=field)
    if len(value) > max_length:
        raise InvalidInput(f"{field} is {len(value)} characters long: at most {max_length}.", field=field)
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidInput(f"{field} must be one line of text, without control characters.", field=field)
    return value


def optional_text(value: Any, field: str, max_length: int = MAX_TEXT) -> str:
    return "" if value is None else text(value, field, max_length)


def string_list(value: Any, field: str, max_items: int = MAX_USERS) -> list[str]:
    if not isinstance(value, list):
        raise InvalidInput(f"{field} must be a list of strings.", field=field)
    if len(value) > max_items:
        raise InvalidInput(f"{field} has {len(value)} items: at most {max_items}.", field=field)
    return [text(v, field) for v in value]


def choice(value: Any, field: str, allowed: tuple[str, ...], what: str, upper: bool = False) -> str:
    # Case-insensitive because Merlin's clients have sent both spellings.
    if isinstance(value, str) and (value.upper() if upper else value.lower()) in allowed:
        return value.upper() if upper else value.lower()
    raise InvalidInput(
        f"{what} {_show(value)} is not supported ({field}): choose one of {', '.join(allowed)}.", field=field
    )


# -- names ---------------------------------------------------------------------------------
def project_name(name: Any) -> str:
    if not isinstance(name, str) or not 3 <= len(name) <= 50 or not RFC1123.fullmatch(name):
        raise InvalidInput(
            f"Project name {_show(name)} is not valid: use 3-50 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit (it becomes a Kubernetes namespace), "
            "e.g. 'food-recommendation'.",
            field="name",
        )
    return name


def model_name(name: Any) -> str:
    if not isinstance(name, str) or not 3 <= len(name) <= 25 or not MODEL_NAME.fullmatch(name):
        raise InvalidInput(
            f"Model name {_show(name)} is not valid: use 3-25 lowercase letters, digits or '-', "
            "starting with a letter and ending with a letter or digit, e.g. 'churn-model'.",
            field="name",
        )
    return name


def environment_name(name: Any, field: str = "name") -> str:
    if not isinstance(name, str) or len(name) > 63 or not RFC1123.fullmatch(name):
        raise InvalidInput(
            f"{'Environment name' if field == 'name' else field} {_show(name)} is not valid: use at most 63 lowercase letters, "
            "digits and '-', starting and ending with a letter or digit.",
            field=field,
        )
    return name


def chosen_environment(body: dict[str, Any]) -> str | None:
    """The ``environment_name`` a request names, or None for the default environment."""
    name = body.get("environment_name")
    return None if name in (None, "") else environment_name(name, "environment_name")


def model_type(value: Any) -> str:
    return choice(value, "type", MODEL_TYPES, "Model type")


def deployment_mode(value: Any) -> str:
    return choice(value, "deployment_mode", DEPLOYMENT_MODES, "Deployment mode")


def protocol(value: Any) -> str:
    return choice("HTTP_JSON" if value in (None, "") else value, "protocol", PROTOCOLS, "Protocol", upper=True)


def python_version(value: Any) -> str:
    value = optional_text(value, "python_version", 32)
    if value and not PYTHON_VERSION.fullmatch(value):
        raise InvalidInput(
            f"python_version {value!r} is not a Python version: e.g. '3.11', '3.11.4' or '3.10.*'.",
            field="python_version",
        )
    return value


def control_plane_owned(body: dict[str, Any], fields: tuple[str, ...]) -> None:
    """Refuse values a client may not choose: the control plane sets them itself."""
    for key in fields:
        if body.get(key) not in (None, ""):
            raise InvalidInput(
                f"{key} is set by the control plane from the MLflow run it creates for the "
                "version: leave it out, then log the model into the run the new version names.",
                field=key,
            )


# -- environments --------------------------------------------------------------------------
ENV_TEXT = ("kubeconfig", "context", "host", "token", "certificate_authority", "cluster", "domain",
            "gateway", "local_gateway", "local_gateway_host", "runtime", "runtime_image", "service_account",
            "request_log_url", "prometheus_url")
ENV_FLAGS = ("in_cluster", "insecure_skip_tls_verify", "is_default")
ENV_SECONDS = ("pending_timeout", "status_interval", "request_timeout")
STORE_TEXT = ("uri", "endpoint_url", "secret", "region", "profile")


def environment_settings(data: dict[str, Any]) -> None:
    """The types of the settings a deployer reads (others are kept as given)."""
    for key in ENV_TEXT:
        if data.get(key) is not None:
            text(data[key], key, 4096)
    for key in ENV_FLAGS:
        if data.get(key) is not None and not isinstance(data[key], bool):
            raise InvalidInput(f"{key} must be true or false, not {_show(data[key])}.", field=key)
    for key in ENV_SECONDS:
        if data.get(key) is not None:
            positive_number(data[key], key, 86400)
    url = data.get("request_log_url")
    if url and not (url.startswith("http://") or url.startswith("https://")):
        raise InvalidInput(f"request_log_url {_show(url)} is not an http(s) URL: give the CloudEvents "
                           "receiver KServe's logger posts to, e.g. http://message-dumper.default/.",
                           field="request_log_url")
    if data.get("url_scheme") is not None:
        choice(data["url_scheme"], "url_scheme", ("http", "https"), "URL scheme")
    store = data.get("artifact_store")
    if store is not None:
        if not isinstance(store, dict):
            raise InvalidInput("artifact_store must be an object with a 'uri'.", field="artifact_store")
        for key in STORE_TEXT:
            if store.get(key) is not None:
                text(store[key], f"artifact_store.{key}", 4096)


# -- labels --------------------------------------------------------------------------------
def label_key(key: Any, field: str) -> str:
    prefix, _, name = key.rpartition("/") if isinstance(key, str) else ("", "", "")
    if not (LABEL_NAME.fullmatch(name) and (not prefix or (len(prefix) <= 253 and LABEL_PREFIX.fullmatch(prefix)))):
        raise InvalidInput(
            f"Label key {_show(key)} is not a Kubernetes label key: up to 63 letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit, optionally after a "
            "DNS prefix and '/' (e.g. 'stage' or 'example.com/stage').",
            field=field,
        )
    return key


def label_value(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or (value and not LABEL_NAME.fullmatch(value)):
        raise InvalidInput(
            f"Label value {_show(value)} is not a Kubernetes label value: up to 63 letters, "
            "digits, '-', '_' or '.', starting and ending with a letter or digit (or empty).",
            field=field,
        )
    return value


def labels(data: Any) -> dict[str, str]:
    """A version's labels: an object of Kubernetes label keys and values."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput("labels must be an object of string keys and values.", field="labels")
    _cap(data, "labels", MAX_LABELS)
    return {label_key(k, "labels"): label_value(v, "labels") for k, v in data.items()}


def label_list(data: Any) -> list[dict[str, str]]:
    """A project's labels: a list of ``{key, value}`` with Kubernetes label syntax."""
    if not isinstance(data, list) or not all(isinstance(x, dict) and "key" in x for x in data):
        raise InvalidInput("labels must be a list of {key, value}.", field="labels")
    _cap(data, "labels", MAX_LABELS)
    return [{"key": label_key(x["key"], "labels"), "value": label_value(x.get("value"), "labels")} for x in data]


# -- deploy settings -----------------------------------------------------------------------
def resource_request(data: Any) -> dict[str, Any]:
    """Check a resource request dict; returns the cleaned values that were given."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput("resource_request must be an object.", field="resource_request")
    out: dict[str, Any] = {}
    caps = {"min_replica": MAX_REPLICAS, "max_replica": MAX_REPLICAS, "workers": MAX_WORKERS}
    for key, cap in caps.items():
        if data.get(key) is not None:
            out[key] = whole_number(data[key], f"resource_request.{key}", 0, cap)
    replica_range(out)
    if out.get("max_replica") == 0:
        raise InvalidInput("max_replica must be at least 1.", field="resource_request.max_replica")
    if data.get("cpu_request") not in (None, ""):
        out["cpu_request"] = cpu_quantity(data["cpu_request"])
    if data.get("memory_request") not in (None, ""):
        out["memory_request"] = memory_quantity(data["memory_request"])
    if data.get("gpu_name") not in (None, ""):
        name = text(data["gpu_name"], "resource_request.gpu_name", 253)
        if not GPU_RESOURCE.fullmatch(name):
            raise InvalidInput(
                f"resource_request.gpu_name {name!r} is not a Kubernetes resource name "
                "(e.g. 'nvidia.com/gpu').",
                field="resource_request.gpu_name",
            )
        out["gpu_name"] = name
    if data.get("gpu_request") not in (None, ""):
        gpus = data["gpu_request"]
        if isinstance(gpus, str) and INT_TEXT.fullmatch(gpus):
            gpus = int(gpus)
        out["gpu_request"] = str(whole_number(gpus, "resource_request.gpu_request", 0, MAX_GPUS))
    return out


def replica_range(request: dict[str, Any]) -> dict[str, Any]:
    """min_replica <= max_replica, checked again once given values are merged over defaults."""
    low, high = request.get("min_replica"), request.get("max_replica")
    if low is not None and high is not None and low > high:
        raise InvalidInput(
            f"min_replica ({low}) is larger than max_replica ({high}): give a max_replica of at "
            f"least {low}.",
            field="resource_request.min_replica",
        )
    return request


def cpu_quantity(value: Any) -> str:
    return _quantity(value, CPU, "resource_request.cpu_request",
                     "a CPU quantity of at most 999 cores: cores ('2', '0.5') or millicores ('500m')")


def memory_quantity(value: Any) -> str:
    return _quantity(value, MEMORY, "resource_request.memory_request",
                     "a memory quantity of at most about 10Ti: e.g. '512Mi', '1.5Gi' or '2G' "
                     "(units Ki, Mi, Gi, Ti or k, M, G, T)")


def _quantity(value: Any, pattern: re.Pattern, field: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidInput(f"{field} {_show(value)} is not {what}.", field=field)
    return value


def env_vars(data: Any) -> list[dict[str, str]]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise InvalidInput("env_vars must be a list of {name, value}.", field="env_vars")
    _cap(data, "env_vars", MAX_ENV_VARS)
    out = []
    for item in data:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or len(name) > 253 or not ENV_VAR.fullmatch(name):
            raise InvalidInput(
                f"env_vars: {_show(item)} is not valid: each variable needs a name made of "
                "letters, digits and '_' (not starting with a digit) and a value.",
                field="env_vars",
            )
        value = item.get("value")
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"env_vars: the value of {name} must be a string, not {_show(value)}.", field="env_vars")
        if value is not None and len(value) > MAX_ENV_VALUE:
            raise InvalidInput(f"env_vars: the value of {name} is longer than {MAX_ENV_VALUE} characters.", field="env_vars")
        out.append({"name": name, "value": value or ""})
    return out


def autoscaling_policy(data: Any) -> dict[str, Any] | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise InvalidInput("autoscaling_policy must be an object.", field="autoscaling_policy")
    metric = choice(data.get("metrics_type", "concurrency"), "autoscaling_policy.metrics_type",
                    AUTOSCALING_METRICS, "Autoscaling metric")
    field = "autoscaling_policy.target_value"
    maximum = 100 if metric.endswith("utilization") else MAX_TARGET
    target = data.get("target_value", 1)
    if isinstance(target, (int, float)) and not isinstance(target, bool) and maximum < target < math.inf:
        if metric.endswith("utilization"):
            raise InvalidInput(f"{field} for {metric} is a percentage: give a value between 1 and 100.", field=field)
    return {"metrics_type": metric, "target_value": positive_number(target, field, maximum)}


def _cap(data: Any, field: str, maximum: int) -> None:
    if len(data) > maximum:
        raise InvalidInput(f"{field} has {len(data)} entries: at most {maximum}.", field=field)


def _show(value: Any) -> str:
    """A value for an error message, cut short: the message must stay readable."""
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."
