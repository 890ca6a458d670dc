"""``python -m merlin_jupyter_server.mlflow_server``: the hosted MLflow tracking server, in a
process of its own on a private Unix socket.

Why a process: MLflow's server (with pandas, scipy, numpy and Flask) is ~150 MiB that a control
plane importing it would keep for the rest of its life once a single run was logged. In a child
it runs while it is used and is stopped when idle (``mlflow_host.py``), so an idle control plane
costs what Jupyter and its own code cost.

It has no authentication of its own: the socket is in an owner-only directory, and the only
client is the control plane, which authenticates every request with Jupyter's before it forwards
it here (``routes/mlflow.py``). It exits when its control plane is gone: its stdin is a pipe from
the control plane, which the kernel closes however that process ended.

The store comes in the environment (``_MLFLOW_SERVER_FILE_STORE`` and the others), as
``mlflow server`` hands it to its own workers.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

log = logging.getLogger("merlin.mlflow")


def mounted(app: Callable, prefix: str) -> Callable:
    """MLflow's app under ``prefix``: the URLs it makes for its UI carry it (``SCRIPT_NAME``).

    WSGI paths are decoded, so the prefix is compared decoded too (a base URL may hold ``%40``).
    The control plane's own calls come without it."""
    prefix = urllib.parse.unquote(prefix.rstrip("/"))

    def under_prefix(environ: dict[str, Any], start_response: Callable) -> Any:
        path = environ.get("PATH_INFO", "")
        environ["SCRIPT_NAME"] = prefix
        environ["PATH_INFO"] = path[len(prefix):] if path.startswith(prefix) else path
        return app(environ, start_response)

    return under_prefix


def open_store() -> Callable:
    """Import MLflow's server and open its store (creating the tables of a new one)."""
    from mlflow.server import app, handlers

    from .leadership import migration_lock

    # On PostgreSQL, replicas share MLflow's schema: one Alembic upgrade at a time among them.
    with migration_lock(os.environ["_MLFLOW_SERVER_FILE_STORE"]):
        handlers._get_tracking_store()
    return app


async def serve(app: Callable, socket_path: str, threads: int) -> None:
    import tornado.httpserver
    import tornado.netutil
    from tornado.wsgi import WSGIContainer

    executor = ThreadPoolExecutor(threads, thread_name_prefix="mlflow")
    server = tornado.httpserver.HTTPServer(WSGIContainer(app, executor=executor))
    # Bound under a temporary name and renamed: the control plane waits for the socket to answer,
    # and a half-made one at the real path must never be taken for this server.
    listener = tornado.netutil.bind_unix_socket(socket_path + ".tmp", mode=0o600)
    os.replace(socket_path + ".tmp", socket_path)
    mine = os.stat(socket_path).st_ino
    server.add_socket(listener)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def parent_gone() -> None:
        if not os.read(0, 4096):  # EOF: the control plane closed its end, or died
            loop.remove_reader(0)
            stop.set()

    loop.add_reader(0, parent_gone)
    log.info("MLflow tracking server ready on %s", socket_path)
    await stop.wait()
    server.stop()
    # Requests already in MLflow's threads finish their writes to the store before the exit.
    await loop.run_in_executor(None, executor.shutdown, True)
    try:
        if os.stat(socket_path).st_ino == mine:  # a server started after this one has its own
            os.unlink(socket_path)
    except FileNotFoundError:
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m merlin_jupyter_server.mlflow_server",
                                     description="MLflow's tracking server on a Unix socket.")
    parser.add_argument("--socket", required=True, help="the Unix socket to serve on")
    parser.add_argument("--prefix", default="/", help="the URL path MLflow is served under")
    parser.add_argument("--threads", type=int, default=8, help="MLflow requests served at once")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        app = open_store()
    except Exception as exc:  # noqa: BLE001 - the control plane shows this line to the user
        print(f"merlin-mlflow: failed: The MLflow tracking store cannot be opened ({exc}): check "
              "MerlinApp.data_dir (or db_url) and mlflow_artifact_root.",
              file=sys.stderr, flush=True)
        sys.exit(2)
    asyncio.run(serve(mounted(app, args.prefix), args.socket, args.threads))


if __name__ == "__main__":
    main()
