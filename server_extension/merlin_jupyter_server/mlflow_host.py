"""Hosts MLflow's tracking server inside this Jupyter server, under ``{base_url}merlin/mlflow``.

Why in-process: a separate ``mlflow server`` takes 10-50 s to start on a small machine and
~450 MB; mounted here it is ready once its import finishes in a background thread, shares
Jupyter's authentication (MLflow clients send the token as ``MLFLOW_TRACKING_TOKEN``), and both
current MLflow and the MLflow 1.26 client of merlin-sdk can log to it over HTTP. Artifacts are
not proxied: the artifact root is a local directory every local client writes to directly.

MLflow's server (with pandas, numpy and Flask) is imported when Merlin is first used (its API
or this mount is called), not at start, unless ``MerlinApp.mlflow_preload``: a control plane
that no one uses costs ~120 MiB less.
"""
from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from .leadership import migration_lock
from .store.db import MIGRATION_LOCK


class MlflowHost:
    def __init__(self, store_uri: str, artifact_root: str, prefix: str, workers: int = 4):
        self.store_uri = store_uri
        self.artifact_root = artifact_root
        self.prefix = prefix.rstrip("/")
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="merlin-mlflow")
        self._container: Future = Future()
        self._loading = threading.Lock()
        self._started = False

    def start(self, preload: bool = True) -> None:
        # MLflow's server app reads its stores from these variables when it first needs them.
        if "://" not in self.artifact_root:  # a directory here (s3:// roots need none)
            os.makedirs(self.artifact_root, exist_ok=True)
        os.environ["_MLFLOW_SERVER_FILE_STORE"] = self.store_uri
        os.environ["_MLFLOW_SERVER_REGISTRY_STORE"] = self.store_uri
        os.environ["_MLFLOW_SERVER_ARTIFACT_ROOT"] = self.artifact_root
        os.environ["_MLFLOW_SERVER_SERVE_ARTIFACTS"] = "false"
        if preload:
            self.begin()

    def begin(self) -> None:
        """Start importing MLflow's server in the background (once)."""
        with self._loading:
            if not self._started:
                self._started = True
                self.executor.submit(self._load)

    def _load(self) -> None:
        try:
            from mlflow.server import app as flask_app
            from mlflow.server import handlers
            from tornado.wsgi import WSGIContainer

            # The app caches its stores in module globals: a second host in this process (tests
            # start several servers) must not log into the first one's store.
            handlers._tracking_store = handlers._model_registry_store = handlers._artifact_repo = None

            self._container.set_result(
                WSGIContainer(self._mounted(flask_app, handlers), executor=self.executor))
        except BaseException as exc:  # noqa: BLE001 - reported on every request instead
            self._container.set_exception(exc)

    def _mounted(self, app: Callable, handlers: Any) -> Callable:
        prefix = self.prefix
        opened = []

        def mounted(environ: dict[str, Any], start_response: Callable) -> Any:
            if not opened:
                # MLflow opens its store on first use, creating its tables on a new database,
                # with Alembic: that must not overlap the control plane's own first open of it
                # (or any other migration in this process), which fails ("KeyError: 'script'").
                with MIGRATION_LOCK, migration_lock(self.store_uri):
                    handlers._get_tracking_store()
                opened.append(True)
            path = environ.get("PATH_INFO", "")
            environ["SCRIPT_NAME"] = prefix
            environ["PATH_INFO"] = path[len(prefix):] if path.startswith(prefix) else path
            return app(environ, start_response)

        return mounted

    def wait_loaded(self, timeout: float = 300.0) -> None:
        """Block until MLflow's server is imported (from a worker thread only)."""
        self.begin()
        self._container.result(timeout)

    async def container(self, timeout: float = 120.0) -> Any:
        self.begin()
        return await asyncio.wait_for(asyncio.wrap_future(self._container), timeout)

    def stop(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
