"""Domain errors, raised where a rule is broken and mapped to HTTP once (routes/base.py).

Every message is read by a person: say what failed, why, and what to do next.
"""
from __future__ import annotations


class MerlinError(Exception):
    """Base class: ``status`` is the HTTP status the API answers with."""

    status = 500

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(MerlinError):
    """The request is malformed or breaks a naming/value rule (400)."""

    status = 400


class NotFound(MerlinError):
    """The entity named in the request does not exist (404)."""

    status = 404


class Conflict(MerlinError):
    """The request clashes with current state: duplicate name, illegal transition (409)."""

    status = 409


class Unavailable(MerlinError):
    """A dependency (MLflow, a cluster) cannot be reached right now (503)."""

    status = 503


class DeploymentError(MerlinError):
    """A deployer could not carry out an action; the message says why in words."""

    status = 502


class TooLarge(MerlinError):
    """The request is larger than the control plane accepts (413)."""

    status = 413


class Forbidden(MerlinError):
    """The caller is known but lacks the role this needs (403); the message names the
    project, the role needed and who can grant it."""

    status = 403
