"""A warm stand-by model server: heavy imports done, waiting for the model it will serve.

A cold model server spends seconds importing MLflow, pandas and scikit-learn before it can
load a model in ~20 ms. The control plane keeps one stand-by process ready; a deploy hands it
its arguments over a unix socket, so the endpoint answers about a second after the deploy.
"""
from __future__ import annotations

import json
import os
import socket
import sys

WARM_MODULES = ("mlflow.pyfunc", "mlflow.sklearn", "pandas", "sklearn.linear_model",
                "sklearn.ensemble", "sklearn.pipeline", "sklearn.preprocessing", "tornado.web")


def warm_up() -> None:
    import importlib

    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # a library this environment lacks is simply not warmed
    try:
        _load_a_model()
    except Exception:  # noqa: BLE001 - warming is best effort; a real load reports its own errors
        pass


def _load_a_model() -> None:
    """Save and load a tiny model: MLflow's loader imports its serializer and indexes the installed
    packages (to compare them with the model's requirements) on first use, ~2 s a deploy would
    otherwise pay."""
    import tempfile

    import mlflow.pyfunc
    import mlflow.sklearn
    import numpy
    from sklearn.linear_model import LogisticRegression

    X = numpy.array([[0.0], [1.0]])
    with tempfile.TemporaryDirectory(prefix="merlin-warm-") as tmp:
        mlflow.sklearn.save_model(LogisticRegression().fit(X, [0, 1]), f"{tmp}/model",
                                  pip_requirements=["scikit-learn"])
        mlflow.pyfunc.load_model(f"{tmp}/model").predict(X)


def wait_for_assignment(path: str) -> dict:
    """Listen on ``path`` (created only once warm) and return the first assignment received."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)
    server.bind(path + ".tmp")
    os.rename(path + ".tmp", path)  # the socket appears only when it can be used
    server.listen(1)
    connection, _ = server.accept()
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    assignment = json.loads(data)
    server.close()
    os.unlink(path)  # before answering, so whoever assigned us never finds the socket again
    connection.sendall(b"ok\n")
    connection.close()
    return assignment


def become(assignment: dict) -> list[str]:
    """Take on the endpoint's environment and log file; returns its command-line arguments."""
    os.environ.update(assignment.get("env", {}))
    log = os.open(assignment["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    return assignment["args"]


def assign(path: str, args: list[str], env: dict[str, str], log: str, timeout: float = 2.0) -> bool:
    """Hand a deployment to the stand-by listening on ``path``; False if none took it."""
    message = json.dumps({"args": args, "env": env, "log": log}).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(timeout)
            client.connect(path)
            client.sendall(message)
            return client.recv(16).startswith(b"ok")
    except OSError:
        return False
