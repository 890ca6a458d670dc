"""The MLflow tracking server (API and UI), mounted behind Jupyter's authentication.

Each request is authenticated here and forwarded to the hosted server's process
(``mlflow_host.py``), started first if it was not running.
"""
from __future__ import annotations

import httpx

from ..errors import Unavailable
from .base import MerlinHandler, protected

# Hop-by-hop headers belong to one connection (RFC 9110 7.6.1). Jupyter's credentials stop here:
# the tracking server needs none. Host and Origin were this server's to check (authentication,
# XSRF, Sec-Fetch-Site above); the tracking server, on a socket only this server reaches, is
# asked as "localhost", which its own DNS-rebinding and CORS checks accept.
NOT_FORWARDED = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                           "upgrade", "host", "content-length", "authorization", "cookie", "origin"})
NOT_PASSED_BACK = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"})


class MlflowHandler(MerlinHandler):
    def check_xsrf_cookie(self) -> None:
        # MLflow clients authenticate with the token (no XSRF needed). The MLflow UI's own
        # requests carry no XSRF token, and it searches runs with POSTs; the browser marks them
        # Sec-Fetch-Site: same-origin, a header no page can set, which a forged request from
        # another site cannot carry. Anything else needs Jupyter's XSRF token as usual.
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return
        if self.request.headers.get("Sec-Fetch-Site") == "same-origin":
            return
        super().check_xsrf_cookie()

    @protected
    async def get(self, path: str = "") -> None:
        host = self.settings.get("merlin_mlflow")
        if host is None:
            raise Unavailable("This server uses an external MLflow tracking server: open it directly.")
        request = self.request
        headers = [(name, value) for name, value in request.headers.get_all() if name.lower() not in NOT_FORWARDED]
        async with host.async_client() as client:
            try:
                upstream = client.build_request(request.method, request.uri, headers=headers,
                                                content=request.body or None)
                answer = await client.send(upstream, stream=True)
                try:
                    body = b"".join([chunk async for chunk in answer.aiter_raw()])  # as sent (compressed or not)
                finally:
                    await answer.aclose()
            except httpx.HTTPError as exc:
                raise Unavailable(f"The MLflow tracking server did not answer ({exc or type(exc).__name__}): "
                                  f"try again; its log is {host.log_path}.") from exc
        self.set_status(answer.status_code, answer.reason_phrase or None)
        # Jupyter's API policy (default-src 'none') would stop the MLflow UI's own scripts.
        self.clear_header("Content-Security-Policy")
        for name, value in answer.headers.multi_items():
            if name.lower() not in NOT_PASSED_BACK and name.lower() != "content-type":
                self.add_header(name, value)
        if body and request.method != "HEAD":
            self.write(body)
        self.finish(set_content_type=answer.headers.get("Content-Type", "application/octet-stream"))

    post = put = patch = delete = head = get
