"""Errors the data plane raises, each with the HTTP status it maps to (mapped once, in app.py)."""
from __future__ import annotations


class ServingError(Exception):
    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(ServingError):
    """The request cannot be turned into what the model expects (400)."""

    status = 400


class ModelNotFound(ServingError):
    status = 404


class PayloadTooLarge(ServingError):
    status = 413


class ModelNotReady(ServingError):
    status = 503


class LoadFailed(Exception):
    """The model cannot be served; ``reason`` says why in words (printed as the last line)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
