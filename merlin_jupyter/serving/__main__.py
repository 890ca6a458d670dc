"""``python -m merlin_jupyter.serving``: serve one MLflow model over HTTP (V1 protocol)."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import traceback

FAILED = "merlin-serving: failed:"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m merlin_jupyter.serving", description=__doc__)
    parser.add_argument("--model-uri", required=True, help="MLflow model directory or URI")
    parser.add_argument("--model-name", required=True, help="name served under /v1/models/{name}")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=1)
    return parser.parse_args(argv)


def load(uri: str):
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(uri)


def input_columns(model) -> list[str] | None:
    """The column names of the model's input signature, if it has named columns."""
    schema = model.metadata.get_input_schema() if model.metadata else None
    if schema is None or not schema.has_input_names():
        return None
    return schema.input_names()


def to_input(instances, columns):
    """Rows (lists) or records (dicts) as the model expects them."""
    import pandas as pd

    frame = pd.DataFrame(instances)
    if all(isinstance(c, str) for c in frame.columns):
        return frame
    if columns and frame.shape[1] == len(columns):
        frame.columns = columns
        return frame
    return frame.values


def make_app(model, name: str):
    import tornado.web

    columns = input_columns(model)

    class Base(tornado.web.RequestHandler):
        def error(self, status: int, message: str) -> None:
            self.set_status(status)
            self.finish({"error": message})

    class Predict(Base):
        def post(self, served: str) -> None:
            if served != name:
                return self.error(404, f"Model {served!r} is not served here; this server serves {name!r}.")
            try:
                body = json.loads(self.request.body or b"")
                instances = body["instances"] if "instances" in body else body["inputs"]
            except (ValueError, TypeError, KeyError):
                return self.error(400, 'The body must be JSON like {"instances": [[...], ...]}.')
            try:
                result = model.predict(to_input(instances, columns))
            except Exception as exc:  # noqa: BLE001 - a bad request never stops the server
                return self.error(400, f"The model could not predict these instances: {exc}")
            predictions = result.tolist() if hasattr(result, "tolist") else list(result)
            self.finish({"predictions": predictions})

    class Ready(Base):
        def get(self, served: str = "") -> None:
            self.finish({"name": name, "ready": True})

    return tornado.web.Application([
        (r"/v1/models/([^/:]+):predict", Predict),
        (r"/v1/models/([^/:]+)", Ready),
        (r"/v2/health/(?:live|ready)", Ready),
    ])


async def serve(args: argparse.Namespace) -> None:
    try:
        model = load(args.model_uri)
    except Exception as exc:  # noqa: BLE001 - said in words as the last line
        traceback.print_exc()
        print(f"{FAILED} the model at {args.model_uri} could not be loaded: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    make_app(model, args.model_name).listen(args.port, args.host)
    logging.getLogger("merlin.serving").info("serving %s on %s:%s", args.model_name, args.host, args.port)
    await asyncio.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(serve(parse_args()))
