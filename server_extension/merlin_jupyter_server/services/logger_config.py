"""Merlin's request/response logger settings of an endpoint (``logger`` in a deploy body).

Merlin's shape, as merlin-sdk 0.50 sends it: ``{"model": {"enabled": true, "mode": "all"},
"transformer": {...}, "prediction": {...}}``. ``model.sample_rate`` (this control plane's
addition, default 1) logs that share of predictions. Nothing here imports tornado.
"""
from __future__ import annotations

from typing import Any

from ..errors import Conflict, InvalidInput
from . import validation

MODES = ("all", "request", "response")
EXAMPLE = '{"model": {"enabled": true, "mode": "all"}}'


def logger(data: Any) -> dict[str, Any] | None:
    """The logger settings of a deploy body, checked and in their stored shape (None: none)."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise InvalidInput(f"logger must be an object, e.g. {EXAMPLE}.", field="logger")
    unknown = sorted(set(data) - {"model", "transformer", "prediction"})
    if unknown:
        raise InvalidInput(f"logger has no setting {unknown[0]!r}: it takes model, transformer and "
                           f"prediction, e.g. {EXAMPLE}.", field="logger")
    out: dict[str, Any] = {}
    if data.get("model") is not None:
        out["model"] = _config(data["model"], "logger.model")
    if data.get("transformer") is not None:
        out["transformer"] = _config(data["transformer"], "logger.transformer")
        if out["transformer"]["enabled"]:
            raise InvalidInput("logger.transformer: this control plane runs no transformers, so there is "
                               "nothing to log: leave it out (or set enabled false) and log the model's "
                               "requests with logger.model.", field="logger.transformer")
    if data.get("prediction") is not None:
        out["prediction"] = _prediction(data["prediction"])
    return out or None


def _config(data: Any, field: str) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("enabled"), bool):
        raise InvalidInput(f"{field} must be an object with enabled (true or false) and mode "
                           f"({', '.join(MODES)}), e.g. {{\"enabled\": true, \"mode\": \"all\"}}.", field=field)
    unknown = sorted(set(data) - {"enabled", "mode", "sample_rate"})
    if unknown:
        raise InvalidInput(f"{field} has no setting {unknown[0]!r}: it takes enabled, mode and sample_rate.",
                           field=field)
    mode = "all" if data.get("mode") is None else data["mode"]
    if mode not in MODES:  # exactly as Merlin's API spells them
        raise InvalidInput(f"{field}.mode {mode!r} is not a logger mode: choose one of {', '.join(MODES)}.",
                           field=f"{field}.mode")
    rate = data.get("sample_rate")
    rate = 1.0 if rate is None else validation.positive_number(rate, f"{field}.sample_rate", 1)
    return {"enabled": data["enabled"], "mode": mode, "sample_rate": rate}


def _prediction(data: Any) -> dict[str, Any]:
    # Merlin's prediction log feeds its model observability pipeline; like
    # enable_model_observability it is kept and answered as asked, and publishes nothing here.
    if not isinstance(data, dict) or not isinstance(data.get("enabled"), bool):
        raise InvalidInput("logger.prediction must be an object with enabled (true or false).",
                           field="logger.prediction")
    out: dict[str, Any] = {"enabled": data["enabled"]}
    for key in ("raw_features_table", "entities_table"):
        if data.get(key) is not None:
            out[key] = validation.text(data[key], f"logger.prediction.{key}", 1024)
    return out


def model_logging(settings: dict[str, Any] | None) -> dict[str, Any] | None:
    """``{"mode", "sample_rate"}`` when the model's requests are logged, else None."""
    model = (settings or {}).get("model") or {}
    return {"mode": model["mode"], "sample_rate": model["sample_rate"]} if model.get("enabled") else None


def check_environment(settings: dict[str, Any] | None, environment: Any) -> None:
    """A Kubernetes environment logs through KServe's logger: it needs a sink, and sends all."""
    logged = model_logging(settings)
    if logged is None or environment.kind == "local":
        return
    # 409, not 400: the body is valid; what it asks for conflicts with the environment's settings.
    if not environment.config.get("request_log_url"):
        raise Conflict(
            f"Environment {environment.name!r} has no request log sink: on Kubernetes each logged "
            "request is sent by KServe's logger to the environment's request_log_url (a CloudEvents "
            "receiver). Add request_log_url to that environment's settings, or deploy without logging.",
            field="logger",
        )
    if logged["sample_rate"] < 1:
        raise Conflict(
            f"logger.model.sample_rate is {logged['sample_rate']:g}: KServe's logger sends every request "
            f"of {environment.name!r} to its sink; sampling works on the local environment only. "
            "Leave sample_rate out (or 1).",
            field="logger.model.sample_rate",
        )
