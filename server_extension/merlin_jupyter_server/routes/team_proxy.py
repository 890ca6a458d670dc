"""A user's server forwards ``merlin/api``, ``merlin/serve`` and ``merlin/mlflow`` to the team's
control plane, as its user: the panel keeps calling its own server (no cross-origin calls from
the browser, Jupyter's session and XSRF rules as before) and the team control plane sees the
user's own hub token, so its membership rules and events name that user.
"""
from __future__ import annotations

import asyncio
import os

import httpx
from jupyter_server.base.handlers import APIHandler
from tornado.iostream import StreamClosedError

from ..errors import Forbidden, Unavailable
from .base import MerlinHandler, protected

# Not passed on: hop-by-hop headers, and this server's own credentials (the token added
# instead is the user's token to the Merlin service).
DROPPED = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host",
           "proxy-authorization", "proxy-authenticate", "authorization", "cookie", "x-xsrftoken",
           "content-length"}


class TeamProxyHandler(MerlinHandler):
    async def prepare(self) -> None:
        await APIHandler.prepare(self)  # no control plane here to start

    @property
    def link(self):
        return self.settings["merlin_link"]

    def check_xsrf_cookie(self) -> None:
        # The MLflow UI's searches are POSTs without Jupyter's XSRF token (see routes/mlflow.py).
        if self.path_args and self.path_args[0] == "mlflow" and \
                self.request.headers.get("Sec-Fetch-Site") == "same-origin":
            return
        super().check_xsrf_cookie()

    @protected
    async def get(self, kind: str, path: str = "") -> None:
        owner = self.link.hub_user
        if owner and self.actor != owner:  # someone this server is shared with
            raise Forbidden(
                f"This server acts for {owner} on the team's Merlin control plane; you are "
                f"{self.actor}: use Merlin from your own server."
            )
        self._merlin_forward = asyncio.ensure_future(self._forward(kind, path))
        try:
            await self._merlin_forward
        except (StreamClosedError, asyncio.CancelledError):
            return

    post = put = patch = delete = get

    async def _forward(self, kind: str, path: str) -> None:
        url = f"{self.link.url}merlin/{kind}/{path}" + (f"?{self.request.query}" if self.request.query else "")
        headers = {k: v for k, v in self.request.headers.get_all() if k.lower() not in DROPPED}
        headers["Authorization"] = f"token {self.link.require_token()}"
        body = self.request.body if self.request.method in ("POST", "PUT", "PATCH") else None
        client = self.settings["merlin_link_http"]
        try:
            async with client.stream(self.request.method, url, headers=headers, content=body) as answer:
                self.set_status(answer.status_code, answer.reason_phrase or None)
                for key, value in answer.headers.multi_items():
                    if key.lower() not in DROPPED | {"server", "date", "set-cookie"}:
                        self.add_header(key, value)
                async for chunk in answer.aiter_raw():  # streamed: `logs?follow=true` too
                    self.write(chunk)
                    await self.flush()
        except httpx.HTTPError as exc:
            if self._headers_written:
                return  # the answer was under way: it ends here, as the upstream one did
            raise Unavailable(
                f"The team's Merlin control plane at {self.link.url} does not answer "
                f"({exc.__class__.__name__}): ask the hub's admins whether the Merlin service runs."
            ) from None
        self.finish()

    def on_connection_close(self) -> None:
        task = getattr(self, "_merlin_forward", None)
        if task is not None:
            task.cancel()


def team_route_table() -> list[tuple]:
    return [(r"/merlin/(api|serve|mlflow)/?(.*)", TeamProxyHandler)]


def http_client() -> httpx.AsyncClient:
    # No read timeout: an undeploy waits up to a minute, a followed log for as long as it runs.
    return httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None), trust_env=False,
                             follow_redirects=False, verify=os.environ.get("SSL_CERT_FILE") or True)
