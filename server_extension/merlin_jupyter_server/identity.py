"""Who is calling: the one seam between Jupyter's identity and Merlin's membership rules.

Single-user mode (the default: one person, Jupyter's token) has one caller who may do
everything. In team mode (``MerlinApp.team_mode``, the JupyterHub service) the caller is the
user Jupyter's identity provider names; under JupyterHub that is the hub's user model
(jupyterhub's ``JupyterHubIdentityProvider`` over HubOAuth), whose ``admin`` flag makes a hub
admin.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Caller:
    name: str
    hub_admin: bool = False
    team: bool = False  # False: single-user mode, the one person administers everything

    @property
    def unrestricted(self) -> bool:
        return not self.team


def user_name(user: Any) -> str:
    """The name Jupyter's identity provider gives the user (``who`` in every event)."""
    return getattr(user, "username", None) or getattr(user, "name", None) or "anonymous"


def caller_for(user: Any, team_mode: bool) -> Caller:
    name = user_name(user)
    if not team_mode:
        return Caller(name)
    hub_user = getattr(user, "hub_user", None) or {}  # JupyterHubUser carries the hub's model
    return Caller(name, hub_admin=bool(hub_user.get("admin")), team=True)
