"""The model server's request-log options for a local endpoint (see merlin_jupyter.serving.request_log)."""
from __future__ import annotations

import os
from typing import Any

from ..services.logger_config import model_logging
from .base import DeploymentSpec

DEFAULT_MAX_AGE = 7 * 86400.0
DEFAULT_MAX_BYTES = 256 * 1024 * 1024


def retention(options: dict[str, Any]) -> tuple[float, int]:
    """(max age in seconds, max bytes) of each endpoint's request log (MerlinApp settings)."""
    return (float(options.get("request_log_max_age") or DEFAULT_MAX_AGE),
            int(options.get("request_log_max_bytes") or DEFAULT_MAX_BYTES))


def request_log_dir(state_dir: str, endpoint_id: str) -> str:
    """Where a local endpoint's model server writes its request log (the control plane reads it)."""
    return os.path.join(state_dir, "endpoints", endpoint_id, "requests")


def request_log_args(spec: DeploymentSpec, directory: str, options: dict[str, Any]) -> list[str]:
    logged = model_logging(spec.logger)
    if logged is None:
        return []
    max_age, max_bytes = retention(options)
    return ["--log-requests", logged["mode"], "--log-sample", repr(float(logged["sample_rate"])),
            "--log-dir", directory, "--log-version", str(spec.version),
            "--log-max-age", repr(max_age), "--log-max-bytes", str(max_bytes)]
