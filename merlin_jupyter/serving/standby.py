"""A warm stand-by model server: heavy imports done, waiting for the model it will serve.

A cold model server spends seconds importing MLflow, pandas and scikit-learn before it can
load a model in ~20 ms. The control plane keeps one stand-by process ready; a deploy hands it
its arguments over a unix socket, so the endpoint answers about a second after the deploy.

Until it is assigned, a stand-by exits as soon as its parent (the control plane) is gone: an
idle stand-by is of use to no one else. Assigned, it writes the endpoint it now serves to the
file the assignment names before it answers, so a control plane that dies in between still
finds it as that endpoint's model server.
"""
from __future__ import annotations

import json
import os
import socket
import sys

PARENT_CHECK = 0.5  # seconds between looks at whether the control plane is still there

WARM_MODULES = ("mlflow.pyfunc", "mlflow.sklearn", "pandas", "sklearn.linear_model",
                "sklearn.ensemble", "sklearn.pipeline", "sklearn.preprocessing", "tornado.web")


WARMED = False  # True in a template and in the model servers forked from it


def warm_once() -> None:
    if not WARMED:
        warm_up()


def warm_up() -> None:
    global WARMED
    import importlib

    WARMED = True
    # Loading a model saved with skops (MLflow's default for scikit-learn) reaches
    # scikit-learn's test helpers, which import pytest when it is installed: ~6 MiB no model
    # server uses. Hidden while warming only; a model that imports pytest itself still gets it.
    hide = "pytest" not in sys.modules
    if hide:
        sys.modules["pytest"] = None  # type: ignore[assignment] - makes ``import pytest`` fail
    try:
        for name in WARM_MODULES:
            try:
                importlib.import_module(name)
            except ImportError:
                pass  # a library this environment lacks is simply not warmed
        try:
            _load_a_model()
        except Exception:  # noqa: BLE001 - warming is best effort; a real load reports its own errors
            pass
    finally:
        if hide and sys.modules.get("pytest", False) is None:
            del sys.modules["pytest"]


def _load_a_model() -> None:
    """Load (and predict with) a tiny model: MLflow's loader imports its deserializer and indexes
    the installed packages (to compare them with the model's requirements) on first use, ~2 s a
    deploy would otherwise pay. It is saved in MLflow's default format (skops), so loading one
    warms that path. A throwaway child saves it: saving imports
    what only saving needs, which would stay in this process. With pytest kept out (above),
    the template is ~9 MiB smaller (180 -> 171 MiB private)."""
    import tempfile

    import mlflow.pyfunc
    import numpy

    X = numpy.array([[0.0], [1.0]])
    with tempfile.TemporaryDirectory(prefix="merlin-warm-") as tmp:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                import mlflow.sklearn
                from sklearn.linear_model import LogisticRegression

                mlflow.sklearn.save_model(LogisticRegression().fit(X, [0, 1]), f"{tmp}/model",
                                          pip_requirements=["scikit-learn"])
                code = 0
            finally:
                os._exit(code)
        os.waitpid(pid, 0)
        mlflow.pyfunc.load_model(f"{tmp}/model").predict(X)


def orphaned(parent: int) -> bool:
    return os.getppid() != parent


def listen_at(path: str, backlog: int) -> socket.socket:
    """A Unix socket listening at ``path``, which appears only now, when it can be used (the
    control plane waits for the path); accepts time out every ``PARENT_CHECK`` seconds."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(path):
        os.unlink(path)
    server.bind(path + ".tmp")
    os.rename(path + ".tmp", path)
    server.listen(backlog)
    server.settimeout(PARENT_CHECK)
    return server


def read_message(connection: socket.socket) -> dict:
    """One JSON message, up to its newline (the control plane's assignment)."""
    connection.settimeout(10)
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    return json.loads(data)


def wait_for_assignment(path: str, parent: int | None = None) -> dict:
    """Listen on ``path`` (created only once warm) and return the first assignment received.

    Exits (code 0) when ``parent`` is no longer this process's parent."""
    if parent is not None and orphaned(parent):
        sys.exit(0)
    server = listen_at(path, 1)
    while True:
        try:
            connection, _ = server.accept()
            break
        except socket.timeout:
            if parent is not None and orphaned(parent):
                server.close()
                os.unlink(path)
                sys.exit(0)
    assignment = read_message(connection)
    server.close()
    os.unlink(path)  # before answering, so whoever assigned us never finds the socket again
    if assignment.get("record"):
        fd = os.open(assignment["record"] + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(assignment.get("slot", ""))
        os.rename(assignment["record"] + ".tmp", assignment["record"])
    try:
        connection.sendall(b"ok\n")
        connection.close()
    except OSError:
        pass  # whoever assigned us is gone; the record file says whose server this is now
    return assignment


def become(assignment: dict) -> list[str]:
    """Take on the endpoint's environment and log file; returns its command-line arguments."""
    os.environ.update(assignment.get("env", {}))
    log = os.open(assignment["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    return assignment["args"]


def assign(path: str, args: list[str], env: dict[str, str], log: str, record: str = "",
           slot: str = "", timeout: float = 2.0) -> bool:
    """Hand a deployment to the stand-by listening on ``path``; False if none took it.

    The stand-by writes ``slot`` to ``record`` before it answers."""
    message = json.dumps({"args": args, "env": env, "log": log, "record": record,
                          "slot": slot}).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(timeout)
            client.connect(path)
            client.sendall(message)
            return client.recv(16).startswith(b"ok")
    except OSError:
        return False
