"""The tornado application factory: routes, error mapping, body limit and metrics per request."""
from __future__ import annotations

from typing import Any, Callable

import tornado.web

from . import jsoncodec, protocol_v1, protocol_v2
from .access_log import AccessLog
from .dataplane import DataPlane
from .errors import InvalidInput, PayloadTooLarge, ServingError
from .metrics import Metrics

DEFAULT_MAX_BODY = 8 * 1024 * 1024


class JsonHandler(tornado.web.RequestHandler):
    def set_default_headers(self) -> None:
        # Two revisions of an endpoint share its port during a redeploy; this header tells the
        # control plane which of them answered its readiness probe.
        self.set_header("X-Merlin-Server", self.settings.get("server_id", ""))

    def initialize(self, plane: DataPlane, metrics: Metrics | None = None, max_body: int = DEFAULT_MAX_BODY):
        self.plane = plane
        self.metrics = metrics
        self.max_body = max_body

    def answer(self, status: int, payload: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(jsoncodec.dumps(payload))

    def fail(self, error: ServingError) -> None:
        message = error.message
        if isinstance(error, InvalidInput) and "expects" not in message and self.plane.model.infer is None:
            message = f"{message.rstrip('.')}; the model expects {self.plane.model.signature.describe()}."
        self.answer(error.status, {"error": message})

    def run(self, name: str | None, call: Callable[[], Any]) -> None:
        try:
            if name is not None:
                self.plane.require(name)
            self.answer(200, call())
        except ServingError as error:
            self.fail(error)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.answer(status_code, {"error": self._reason})


@tornado.web.stream_request_body
class PredictHandler(JsonHandler):
    """Base of the two predict routes: streams the body to enforce the size limit (413)."""

    protocol = ""
    active = 0  # requests in flight in this worker (drained on SIGTERM)

    def prepare(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        PredictHandler.active += 1
        if self.metrics:
            self.metrics.inflight.inc()
        length = self.request.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > self.max_body:
            self._too_large()

    def data_received(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self.max_body:
            self._too_large()
        elif not self._finished:
            self._chunks.append(chunk)

    def _too_large(self) -> None:
        if not self._finished:
            self.fail(PayloadTooLarge(f"the body is larger than this server accepts ({self.max_body} bytes); "
                                      "send fewer instances per request."))

    def body(self) -> Any:
        try:
            body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
            return jsoncodec.loads(body)
        except ValueError as exc:
            raise InvalidInput(f"the body is not valid JSON ({exc})") from None

    def on_finish(self) -> None:
        PredictHandler.active -= 1
        self.after_request()

    def after_request(self) -> None:
        """The one place every prediction request passes once answered (the access log line is
        written just before, by the application's ``log_function``)."""
        if self.metrics:
            self.metrics.inflight.dec()
            self.metrics.observe(self.protocol, self.get_status(), self.request.request_time())


class V1Predict(PredictHandler):
    protocol = "v1"

    def post(self, name: str) -> None:
        # Custom models get the request headers too, as Merlin's PyFuncModel.infer does; no
        # other model reads them, so only theirs are copied.
        headers = dict(self.request.headers) if self.plane.model.infer is not None else None
        self.run(name, lambda: protocol_v1.predict(self.plane, self.body(), headers))


class V2Infer(PredictHandler):
    protocol = "v2"

    def post(self, name: str) -> None:
        self.run(name, lambda: protocol_v2.infer(self.plane, self.body()))


class ModelStatus(JsonHandler):
    def get(self, name: str) -> None:
        self.run(name, lambda: protocol_v1.status(self.plane))


class ModelMetadata(JsonHandler):
    def get(self, name: str, ready: str | None = None) -> None:
        self.run(name, lambda: {"name": name, "ready": True} if ready else self.plane.metadata())


class Live(JsonHandler):
    def get(self) -> None:
        self.answer(200, {"live": True})


class Ready(JsonHandler):
    def get(self) -> None:
        self.answer(200 if self.plane.ready else 503, {"ready": self.plane.ready})


class MetricsHandler(JsonHandler):
    def get(self) -> None:
        body, content_type = Metrics.render()
        self.set_header("Content-Type", content_type)
        self.finish(body)


def make_app(plane: DataPlane, metrics: Metrics | None = None, max_body: int = DEFAULT_MAX_BODY,
             server_id: str = "") -> tornado.web.Application:
    args = {"plane": plane, "metrics": metrics, "max_body": max_body}
    name = r"([^/:]+)"
    routes = [
        (rf"/v1/models/{name}:predict", V1Predict, args),
        (rf"/v1/models/{name}", ModelStatus, args),
        (r"/v2/health/live", Live, args),
        (r"/v2/health/ready", Ready, args),
        (rf"/v2/models/{name}/infer", V2Infer, args),
        (rf"/v2/models/{name}(/ready)?", ModelMetadata, args),
    ]
    if metrics is not None:
        routes.append((r"/metrics", MetricsHandler, args))
    return tornado.web.Application(routes, default_handler_class=NotFound, default_handler_args=args,
                                   server_id=server_id, log_function=AccessLog())


class NotFound(JsonHandler):
    def prepare(self) -> None:
        self.answer(404, {"error": f"no route {self.request.path}; predict with POST "
                                   f"/v1/models/{self.plane.name}:predict or /v2/models/{self.plane.name}/infer"})
