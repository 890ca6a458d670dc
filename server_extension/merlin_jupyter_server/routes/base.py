"""The one base handler: authentication on every verb, JSON in and out, errors mapped once."""
from __future__ import annotations

import asyncio
import json
from typing import Any, Callable, TypeVar

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from ..errors import InvalidInput, MerlinError

T = TypeVar("T")
AUTH_RESOURCE = "merlin"


def protected(method: Callable) -> Callable:
    """Jupyter's authentication and authorization, required on every verb of every route."""
    return web.authenticated(authorized(method))


class MerlinHandler(ExtensionHandlerMixin, APIHandler):
    auth_resource = AUTH_RESOURCE

    async def prepare(self) -> None:
        await super().prepare()
        # Servers that are never "started" (embedded, tests) begin reconciling on first use.
        self.merlin.start()

    @property
    def merlin(self):
        """The control plane (services, reconciler) this server runs."""
        return self.settings["merlin"]

    @property
    def actor(self) -> str:
        user = self.current_user
        return getattr(user, "username", None) or getattr(user, "name", None) or "anonymous"

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a (blocking) service call in a worker thread."""
        return await asyncio.to_thread(fn, *args)

    def body(self) -> dict[str, Any]:
        """The request body as a JSON object, whatever the Content-Type said."""
        raw = self.request.body or b"{}"
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"The request body is not valid JSON: {exc}.") from None
        if not isinstance(data, dict):
            raise InvalidInput("The request body must be a JSON object.")
        return data

    def query_int(self, name: str, default: int | None = None) -> int | None:
        value = self.get_query_argument(name, None)
        return default if value in (None, "") else to_int(value, name)

    def reply(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.set_status(status)
        for key, value in (headers or {}).items():
            self.set_header(key, value)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def _handle_request_exception(self, e: BaseException) -> None:
        # Domain errors are answered with their own status and message, not "Unhandled error".
        if isinstance(e, MerlinError) and not self._finished:
            self.clear()
            self.set_status(e.status)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"error": e.message, "field": e.field}))
            self.log.info("merlin: %s %s -> %s: %s", self.request.method, self.request.path, e.status, e.message)
            return
        super()._handle_request_exception(e)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if status_code == 403 and not self.current_user:
            message = (
                "Authentication required: send the Jupyter server's token as "
                "'Authorization: token <token>' (or open JupyterLab and use its session)."
            )
        elif isinstance(exc, web.HTTPError):
            message = exc.log_message or exc.reason or self._reason
        elif status_code >= 500:
            message = (
                "The Merlin control plane hit an internal error; the server log has the details. "
                "Please report it with the request you made."
            )
        else:
            message = self._reason
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": message, "field": None}))


def to_int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a whole number, not {value!r}.", field=name) from None


class NotFoundHandler(MerlinHandler):
    """Unknown paths under the API answer 404 in JSON, with where to look."""

    @protected
    def get(self, path: str) -> None:
        self.reply({"error": f"No API route /{path}: see GET /merlin/api/v1/openapi.json.", "field": None}, 404)

    post = put = patch = delete = get
