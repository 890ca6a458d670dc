"""The floor: the least a server can do around the same model. tornado, ``json`` in and out,
nothing else (no signature conversion, no errors in words, no metrics, no logs, no drain).

Two floors, since MLflow 3's pyfunc ``predict`` is itself most of a request's time (schema
enforcement and a DataFrame: ~1.5 ms of the ~2 ms a one-row request takes on this machine):
- ``pyfunc``: ``mlflow.pyfunc``'s ``predict`` on a DataFrame of the request's rows, what a
  server that knows only pyfunc must do;
- ``native``: the estimator's own ``predict`` on a numpy array of the rows, the least any
  server can do around this model, and what ours is held to.

``python -m benchmarks.floor_server MODEL_DIR PORT [PROCESSES] [pyfunc|native]``: the model is
loaded once, then PROCESSES processes are forked, each with its own ``SO_REUSEPORT`` socket.
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from typing import Callable

import tornado.httpserver
import tornado.web


class Predict(tornado.web.RequestHandler):
    def initialize(self, predict: Callable[[list], object]):
        self.predict = predict

    def post(self) -> None:
        predictions = self.predict(json.loads(self.request.body)["instances"])
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"predictions": predictions.tolist()}))


def predictor(path: str, kind: str) -> Callable[[list], object]:
    if kind == "native":
        import mlflow.sklearn
        import numpy as np

        estimator = mlflow.sklearn.load_model(path)
        return lambda rows: estimator.predict(np.asarray(rows, dtype=np.float64))
    import mlflow.pyfunc
    import pandas as pd

    model = mlflow.pyfunc.load_model(path)
    columns = model.metadata.get_input_schema().input_names()
    return lambda rows: model.predict(pd.DataFrame(rows, columns=columns))


async def serve(predict: Callable[[list], object], port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    sock.setblocking(False)
    app = tornado.web.Application([(r"/predict", Predict, {"predict": predict})])
    tornado.httpserver.HTTPServer(app).add_sockets([sock])
    await asyncio.Event().wait()


def main(argv: list[str]) -> None:
    path, port = argv[0], int(argv[1])
    processes = int(argv[2]) if len(argv) > 2 else 1
    predict = predictor(path, argv[3] if len(argv) > 3 else "pyfunc")
    for _ in range(processes - 1):
        if os.fork() == 0:
            break
    asyncio.run(serve(predict, port))


if __name__ == "__main__":
    main(sys.argv[1:])
