"""Authenticated proxy to endpoints, for browsers and remote hubs that cannot reach 127.0.0.1.

``{base_url}merlin/serve/endpoints/{endpoint_id}/<path>`` → the version endpoint's server;
``{base_url}merlin/serve/models/{project}/{model}/<path>`` → the model endpoint (the router).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from ..errors import NotFound, Unavailable
from ..services.access import READER
from .base import MerlinHandler, protected

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate", "host", "authorization", "cookie",
              "content-length"}


class ServeProxyHandler(MerlinHandler):
    async def target_base(self, key: str) -> str:
        """The base URL requests under this prefix go to."""
        raise NotImplementedError

    @protected
    async def get(self, key: str, path: str = "") -> None:
        base = await self.target_base(key)
        url = base.rstrip("/") + "/" + path + (f"?{self.request.query}" if self.request.query else "")
        headers = {k: v for k, v in self.request.headers.get_all() if k.lower() not in HOP_BY_HOP}
        body = self.request.body if self.request.method in ("POST", "PUT", "PATCH") else None
        request = HTTPRequest(url, method=self.request.method, headers=headers, body=body,
                              request_timeout=300, follow_redirects=False)
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as exc:
            raise Unavailable(f"The endpoint at {base} does not answer ({exc}): check its status and logs.") from exc
        if response.code == 599:
            raise Unavailable(f"The endpoint at {base} does not answer: check its status and logs.")
        self.set_status(response.code, response.reason)
        for key_, value in response.headers.get_all():
            if key_.lower() not in HOP_BY_HOP | {"server", "date", "content-encoding"}:
                self.set_header(key_, value)
        self.finish(response.body or b"")

    post = put = patch = delete = get


class EndpointProxyHandler(ServeProxyHandler):
    async def target_base(self, endpoint_id: str) -> str:
        await self.allow("endpoint", endpoint_id, READER, "call its endpoints")
        endpoint = await self.call(self.merlin.endpoints.get_by_id, endpoint_id)
        if not endpoint.url or endpoint.status.value not in ("running", "serving"):
            raise Unavailable(
                f"Endpoint {endpoint_id} is {endpoint.status.value}, not running: deploy it and wait "
                "until it is running."
            )
        parts = urlsplit(endpoint.url)
        return f"{parts.scheme}://{parts.netloc}"


class ModelProxyHandler(ServeProxyHandler):
    async def target_base(self, key: str) -> str:
        project, _, model = key.partition("/")
        await self.allow("model_by_name", (project, model), READER, "call its models")
        endpoint = await self.call(self.merlin.model_endpoints.serving_url, project, model)
        if not endpoint:
            raise NotFound(
                f"Model {project}/{model} serves no traffic in the default environment: "
                "route it with serve_traffic (or %merlin traffic) first."
            )
        return endpoint
