"""A user's Jupyter server that works against the team's control plane (``MerlinApp.control_plane_url``).

Such a server runs no control plane of its own: its panel's calls are forwarded to the team's
(routes/team_proxy.py), and its kernels get the team's URL and a token of their own. Under
JupyterHub the token is asked from the hub for this server's user with one scope, access to
the Merlin service (``access:services!service=<name>``), so neither the kernels nor this server
hand anyone the server's own hub token. Tokens an earlier start of this server asked for are
revoked first, and this one when the server stops.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import httpx

from .errors import Unavailable

@dataclass
class ControlPlaneLink:
    url: str  # the team control plane's base URL, ending in "/"
    token: str = ""  # MerlinApp.control_plane_token, or the one asked from the hub
    service: str = "merlin"
    hub_token_id: str | None = None
    hub_user: str = field(default_factory=lambda: os.environ.get("JUPYTERHUB_USER", ""))
    log: logging.Logger = field(default=logging.getLogger(__name__))  # the server's own log

    @property
    def note(self) -> str:
        server = os.environ.get("JUPYTERHUB_SERVER_NAME") or "default"
        return f"merlin: the kernels of server {self.hub_user}/{server}"

    def require_token(self) -> str:
        if not self.token:
            raise Unavailable(
                f"This server has no token for the team's Merlin control plane at {self.url}: "
                "set MerlinApp.control_plane_token, or run it under JupyterHub (which issues one)."
            )
        return self.token

    async def connect(self) -> None:
        """Ask the hub for this user's token to the Merlin service, unless one was configured."""
        if self.token or not (self.hub_user and os.environ.get("JUPYTERHUB_API_TOKEN")):
            return
        api = os.environ.get("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api").rstrip("/")
        headers = {"Authorization": f"token {os.environ['JUPYTERHUB_API_TOKEN']}"}
        tokens = f"{api}/users/{self.hub_user}/tokens"
        try:
            async with httpx.AsyncClient(headers=headers, timeout=30, trust_env=False) as hub:
                listed = await hub.get(tokens)
                if listed.status_code == 200:
                    for old in listed.json().get("api_tokens", []):
                        if old.get("note") == self.note:
                            await hub.delete(f"{tokens}/{old['id']}")
                made = await hub.post(tokens, json={
                    "note": self.note, "scopes": [f"access:services!service={self.service}"]})
        except httpx.HTTPError as exc:  # the server still starts; Merlin's calls say what is missing
            self.log.error("Could not ask the hub at %s for a Merlin token: %s", api, exc)
            return
        if made.status_code != 201:
            self.log.error(
                "The hub refused a token for the Merlin service (%s %s): give the 'server' role "
                "the scope tokens!user (deploy/jupyterhub/jupyterhub_config.py). The panel, "
                "%%merlin and the SDK cannot reach the team control plane until then.",
                made.status_code, made.text[:200])
            return
        body = made.json()
        self.token, self.hub_token_id = body["token"], body.get("id")
        self.log.info("Merlin: kernels use the team control plane at %s as %s", self.url, self.hub_user)

    async def close(self) -> None:
        """Revoke the hub token this server asked for (its kernels are gone with it)."""
        if not self.hub_token_id:
            return
        api = os.environ.get("JUPYTERHUB_API_URL", "").rstrip("/")
        headers = {"Authorization": f"token {os.environ.get('JUPYTERHUB_API_TOKEN', '')}"}
        try:
            async with httpx.AsyncClient(headers=headers, timeout=10, trust_env=False) as hub:
                await hub.delete(f"{api}/users/{self.hub_user}/tokens/{self.hub_token_id}")
        except httpx.HTTPError as exc:  # the hub may be stopping too; the token then expires with it
            self.log.warning("Could not revoke the Merlin token: %s", exc)

    def kernel_environment(self) -> dict[str, str]:
        """What kernels started by this server need to reach the team control plane."""
        return {"MERLIN_URL": self.url, "MERLIN_TOKEN": self.token, "MLFLOW_TRACKING_TOKEN": self.token}
