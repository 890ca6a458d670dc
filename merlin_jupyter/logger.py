"""Merlin's request/response logger settings: ``Logger``, ``LoggerConfig``, ``LoggerMode``.

``merlin.deploy(v, logger=Logger(model=LoggerConfig(enabled=True, mode=LoggerMode.ALL)))``
logs each prediction of the endpoint (on ``local``: to Parquet files the control plane
queries, ``endpoint.requests()``; on Kubernetes: through KServe's logger to the environment's
``request_log_url``). ``sample_rate`` (not in Merlin's SDK) logs that share of predictions.
"""
from __future__ import annotations

from enum import Enum
from typing import Any


class LoggerMode(Enum):
    ALL = "all"
    REQUEST = "request"
    RESPONSE = "response"


class LoggerConfig:
    """Whether (``enabled``) and what (``mode``) to log; ``sample_rate`` in (0, 1] on local."""

    def __init__(self, enabled: bool, mode: LoggerMode | str = LoggerMode.ALL, sample_rate: float = 1.0):
        self._enabled = bool(enabled)
        self._mode = mode if isinstance(mode, LoggerMode) else LoggerMode(str(mode).lower())
        self._sample_rate = float(sample_rate)

    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def mode(self) -> LoggerMode:
        return self._mode

    @property
    def sample_rate(self) -> float:
        return self._sample_rate

    def to_api(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "mode": self.mode.value, "sample_rate": self.sample_rate}

    def __repr__(self) -> str:
        rate = f", sample_rate={self.sample_rate:g}" if self.sample_rate != 1 else ""
        return f"LoggerConfig(enabled={self.enabled}, mode={self.mode}{rate})"


class Logger:
    """An endpoint's logger, as in Merlin: the ``model``'s (and a ``transformer``'s) settings."""

    def __init__(self, model: LoggerConfig | None = None, transformer: LoggerConfig | None = None):
        self._model = model
        self._transformer = transformer

    @property
    def model(self) -> LoggerConfig | None:
        return self._model

    @property
    def transformer(self) -> LoggerConfig | None:
        return self._transformer

    def to_api(self) -> dict[str, Any]:
        return {name: config.to_api() for name, config in
                (("model", self.model), ("transformer", self.transformer)) if config is not None}

    @classmethod
    def from_api(cls, data: dict[str, Any] | None) -> "Logger":
        def config(part: dict[str, Any] | None) -> LoggerConfig | None:
            if not part:
                return None
            return LoggerConfig(part.get("enabled", False), part.get("mode") or "all", part.get("sample_rate") or 1.0)

        data = data or {}
        return cls(config(data.get("model")), config(data.get("transformer")))

    def __repr__(self) -> str:
        return f"Logger(model={self.model!r}, transformer={self.transformer!r})"
