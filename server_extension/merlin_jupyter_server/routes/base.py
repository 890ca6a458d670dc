"""The one base handler: authentication on every verb, JSON in and out, errors mapped once."""
from __future__ import annotations

import asyncio
import json
import math
from typing import Any, Callable, TypeVar

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from ..errors import InvalidInput, MerlinError, TooLarge
from ..identity import Caller, caller_for, user_name
from ..services import validation

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
        """Who is calling, by the name Jupyter's identity provider gives (``who`` in events)."""
        return user_name(self.current_user)

    @property
    def caller(self) -> Caller:
        return caller_for(self.current_user, self.merlin.settings.team_mode)

    async def allow(self, check: str, key: Any, needed: str, doing: str) -> None:
        """Merlin's project membership for this request (services/access.py): ``check`` names
        what ``key`` is (project, model, endpoint); raises Forbidden in words."""
        caller = self.caller
        if not caller.unrestricted:  # single-user mode: no lookup, no thread hop
            await self.call(getattr(self.merlin.access, check), caller, key, needed, doing)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a (blocking) service call in a worker thread."""
        return await asyncio.to_thread(fn, *args)

    def body(self, required: bool = False) -> dict[str, Any]:
        """The request body as a JSON object, whatever the Content-Type said."""
        if not self.request.body and required:
            raise InvalidInput(
                f"{self.request.method} {self.request.path} needs a JSON object as its body: "
                "see GET /merlin/api/v1/openapi.json for its fields."
            )
        return parse_body(self.request.body or b"{}")

    def query_text(self, name: str, default: str | None = None) -> str | None:
        """A query parameter given at most once (``?limit=1&limit=2`` is refused, not guessed)."""
        values = self.get_query_arguments(name)
        if len(values) > 1:
            raise InvalidInput(f"{name} is given {len(values)} times: give it once.", field=name)
        return values[0] if values else default

    def query_int(self, name: str, default: int | None = None, minimum: int = 1) -> int | None:
        value = self.query_text(name)
        return default if value in (None, "") else validation.int_text(value, name, minimum)

    def query_bool(self, name: str) -> bool:
        value = self.query_text(name, "false").lower()
        if value not in TRUE + FALSE:
            raise InvalidInput(f"{name} must be true or false, not {value[:40]!r}.", field=name)
        return value in TRUE

    def reply(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.set_status(status)
        for key, value in (headers or {}).items():
            self.set_header(key, value)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def allowed_methods(self) -> list[str]:
        """The verbs this route implements (for a 405's Allow header)."""
        base = web.RequestHandler
        return [m for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
                if getattr(type(self), m.lower()) is not getattr(base, m.lower())]

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

    def _team_mode(self) -> bool:
        control_plane = self.settings.get("merlin")
        return bool(control_plane and control_plane.settings.team_mode)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        # Only once authentication ran (an XSRF refusal before it is a 403 of its own).
        anonymous = hasattr(self, "_jupyter_current_user") and not self._jupyter_current_user
        if status_code == 403 and anonymous:
            # Jupyter answers a request without credentials 403; HTTP's word for it is 401,
            # with the scheme to use, so clients and tools can tell it from "not allowed".
            self.set_status(401)
            self.set_header("WWW-Authenticate", 'Bearer realm="jupyter"')
            message = (
                "Authentication required: send the Jupyter server's token as "
                "'Authorization: token <token>' (or open JupyterLab and use its session)."
            ) if not self._team_mode() else (
                "Authentication required: send a JupyterHub API token with access to this service "
                "as 'Authorization: token <token>' (the hub's Token page issues one), or log in "
                "through the hub."
            )
        elif status_code == 405:
            allowed = self.allowed_methods()
            self.set_header("Allow", ", ".join(allowed))
            message = f"{self.request.method} is not supported here: use {' or '.join(allowed)}."
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
    """An id in a path: a whole number the store can hold (1 to 2^63-1)."""
    return validation.int_text(value, name)


TRUE, FALSE = ("1", "true", "yes"), ("0", "false", "no")
MAX_BODY_BYTES = 1024 * 1024
MAX_DEPTH = 32


def parse_body(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object of finite numbers, bounded in size and depth.

    Python's json takes ``NaN``, ``Infinity`` and ``1e400`` (as inf), which no JSON reader
    downstream accepts back, and integers too large for the store; all are refused here.
    """
    if len(raw) > MAX_BODY_BYTES:
        raise TooLarge(
            f"The request body is {len(raw)} bytes: at most {MAX_BODY_BYTES} (1 MiB) are accepted."
        )
    try:
        data = json.loads(raw, parse_constant=_no_constant, parse_float=_finite, parse_int=_bounded_int)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"The request body is not valid JSON: {exc}.") from None
    except RecursionError:
        data = None
        _too_deep()
    if not isinstance(data, dict):
        raise InvalidInput("The request body must be a JSON object.")
    _check_depth(data)
    return data


def _no_constant(name: str) -> Any:
    raise InvalidInput(f"The request body holds {name}, which is not a JSON number: send a finite number.")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidInput(f"The number {text[:40]} in the request body is too large: send a finite number.")
    return value


def _bounded_int(text: str) -> int:
    # Python refuses to parse integers of more than 4300 digits (a ValueError, not a JSON
    # error); each field bounds its own numbers to what it can take.
    if len(text) > 100:
        raise InvalidInput(f"The number {text[:40]}... in the request body has {len(text)} digits: it is too large.")
    return int(text)


def _check_depth(data: Any) -> None:
    # Iterative, so a deep body is measured without the recursion it would cause later.
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH and not isinstance(value, str):
            _too_deep()
        if isinstance(value, str):
            _encodable(value)
            continue
        if isinstance(value, dict):
            for key in value:
                _encodable(key)
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list, str)))


def _encodable(text: str) -> None:
    # A lone surrogate ("\ud800") parses, but cannot be stored as UTF-8.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("The request body holds a string that is not valid Unicode (a lone surrogate).") from None


def _too_deep() -> None:
    raise InvalidInput(f"The request body is nested more than {MAX_DEPTH} levels deep: no field needs that.")


class NotFoundHandler(MerlinHandler):
    """Unknown paths under the API answer 404 in JSON, with where to look."""

    @protected
    def get(self, path: str) -> None:
        self.reply({"error": f"No API route /{path}: see GET /merlin/api/v1/openapi.json.", "field": None}, 404)

    post = put = patch = delete = get
