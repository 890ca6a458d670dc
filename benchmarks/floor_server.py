"""The floor: the least a server can do around the same model. tornado, ``mlflow.pyfunc``'s
``predict`` on a DataFrame of the request's rows, ``json`` in and out, nothing else (no
signature conversion, no errors in words, no metrics, no logs, no drain).

``python -m benchmarks.floor_server MODEL_DIR PORT [PROCESSES]``: the model is loaded once, then
PROCESSES processes are forked, each with its own ``SO_REUSEPORT`` socket.
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import sys

import mlflow.pyfunc
import pandas as pd
import tornado.httpserver
import tornado.web


class Predict(tornado.web.RequestHandler):
    def initialize(self, model, columns):
        self.model, self.columns = model, columns

    def post(self) -> None:
        rows = json.loads(self.request.body)["instances"]
        predictions = self.model.predict(pd.DataFrame(rows, columns=self.columns))
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"predictions": predictions.tolist()}))


async def serve(model, columns, port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    sock.setblocking(False)
    app = tornado.web.Application([(r"/predict", Predict, {"model": model, "columns": columns})])
    tornado.httpserver.HTTPServer(app).add_sockets([sock])
    await asyncio.Event().wait()


def main(argv: list[str]) -> None:
    path, port = argv[0], int(argv[1])
    processes = int(argv[2]) if len(argv) > 2 else 1
    model = mlflow.pyfunc.load_model(path)
    columns = model.metadata.get_input_schema().input_names()
    for _ in range(processes - 1):
        if os.fork() == 0:
            break
    asyncio.run(serve(model, columns, port))


if __name__ == "__main__":
    main(sys.argv[1:])
