"""Hosts MLflow's tracking server for this control plane, under ``{base_url}merlin/mlflow``.

The server runs in a child process (``mlflow_server.py``) on an owner-only Unix socket; the
control plane forwards to it (the mount in ``routes/mlflow.py``, behind Jupyter's authentication)
and calls its REST API for experiments and runs (``services/mlflow_gateway.py``). The child is
started when MLflow is first wanted and stopped after ``idle_stop`` seconds without a request:
MLflow's server with pandas, scipy and Flask is ~150 MiB, which a control plane that imported it
once would keep for good. A request that finds it stopped waits the few seconds of its start.

Why hosted at all, rather than a user-run ``mlflow server``: it needs no set-up, shares Jupyter's
authentication (MLflow clients send the token as ``MLFLOW_TRACKING_TOKEN``), and both current
MLflow and the MLflow 1.26 client of merlin-sdk log to it over HTTP. Artifacts are not proxied:
the artifact root is a local directory every local client writes to directly.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from typing import AsyncIterator, Iterator

import httpx

from .deployers.local_process import size, tail
from .errors import Unavailable
from .private_files import private_dir

log = logging.getLogger("merlin_jupyter_server.mlflow")
MAX_SOCKET_PATH = 100  # Unix socket paths are limited to ~108 bytes
REQUEST_TIMEOUT = httpx.Timeout(300, connect=10)  # a search of many runs may be slow
FAILED = "merlin-mlflow: failed:"  # how mlflow_server.py says why it exits


class MlflowHost:
    """The hosted tracking server's process: started when wanted, stopped when idle."""

    def __init__(self, store_uri: str, artifact_root: str, prefix: str, run_dir: str,
                 idle_stop: float = 600.0, start_timeout: float = 120.0, python: str = sys.executable):
        self.store_uri = store_uri
        self.artifact_root = artifact_root
        self.prefix = prefix.rstrip("/") or "/"
        self.idle_stop = idle_stop
        self.start_timeout = start_timeout
        self.python = python
        private_dir(run_dir)
        self.log_path = os.path.join(run_dir, "mlflow-server.log")
        self.socket_path = os.path.join(run_dir, "mlflow.sock")
        if len(self.socket_path) > MAX_SOCKET_PATH:
            self.socket_path = os.path.join(tempfile.mkdtemp(prefix="merlin-mlflow-"), "mlflow.sock")
        self.starts = 0  # how many times the server was started (the tests and the benchmark read it)
        self._proc: subprocess.Popen | None = None
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()  # one start or stop at a time
        self._in_flight = 0
        self._last_used = time.monotonic()
        self._counted = threading.Lock()
        self._closed = threading.Event()
        self._watcher: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self, preload: bool = False) -> None:
        if "://" not in self.artifact_root:  # a directory here (s3:// roots need none)
            os.makedirs(self.artifact_root, exist_ok=True)
        if preload:
            threading.Thread(target=self._preload, name="merlin-mlflow-start", daemon=True).start()

    def _preload(self) -> None:
        try:
            self.ensure()
        except Unavailable as exc:
            log.warning("%s", exc.message)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def ensure(self) -> None:
        """Start the server unless it runs, and wait until it answers. Blocking: call it from a
        worker thread. Raises Unavailable, with the server's own last lines, if it cannot start."""
        with self._lock:
            if self._closed.is_set():
                raise Unavailable("The control plane is stopping: MLflow is not available.")
            if self.running:
                return
            if self._proc is not None:
                log.warning("the MLflow tracking server had exited (%s); starting it again",
                            self._proc.returncode)
            self._spawn()
            self._wait_ready()

    def _spawn(self) -> None:
        env = dict(os.environ)
        env.update(_MLFLOW_SERVER_FILE_STORE=self.store_uri, _MLFLOW_SERVER_REGISTRY_STORE=self.store_uri,
                   _MLFLOW_SERVER_ARTIFACT_ROOT=self.artifact_root, _MLFLOW_SERVER_SERVE_ARTIFACTS="false",
                   PYTHONUNBUFFERED="1")
        env.pop("MLFLOW_TRACKING_URI", None)  # the server is the store, not a client of one
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        self._log_start = size(self.log_path)
        with os.fdopen(os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as out:
            # stdin is a pipe the child watches: when this process ends, however it ends, the
            # kernel closes it and the child exits (a SIGKILLed control plane leaves no server).
            self._proc = subprocess.Popen(
                [self.python, "-m", "merlin_jupyter_server.mlflow_server", "--socket", self.socket_path,
                 "--prefix", self.prefix],
                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, env=env,
                start_new_session=True)
        self.starts += 1
        self._client = None
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch_idle, name="merlin-mlflow-idle", daemon=True)
            self._watcher.start()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        client = httpx.Client(transport=httpx.HTTPTransport(uds=self.socket_path), timeout=5)
        try:
            while True:
                if self._proc.poll() is not None:
                    raise Unavailable(self._failed(f"it exited with code {self._proc.returncode}"))
                if os.path.exists(self.socket_path):
                    try:
                        if client.get("http://localhost/health").status_code == 200:
                            log.info("MLflow tracking server started (pid %d)", self._proc.pid)
                            return
                    except httpx.HTTPError:
                        pass
                if time.monotonic() > deadline:
                    self._terminate()
                    raise Unavailable(self._failed(f"it did not answer within {self.start_timeout:g} s"))
                time.sleep(0.05)
        finally:
            client.close()

    def _failed(self, why: str) -> str:
        lines = [line for line in tail(self.log_path, 20, self._log_start) if line.strip()]
        said = next((line for line in reversed(lines) if line.startswith(FAILED)), "")
        last = said[len(FAILED):].strip() if said else " ".join(lines[-3:])
        return (f"The MLflow tracking server could not start ({why}): {last or 'it wrote nothing'} "
                f"Its log: {self.log_path}.")

    def _idle(self) -> bool:
        with self._counted:
            return self._in_flight == 0 and time.monotonic() - self._last_used > self.idle_stop

    def _watch_idle(self) -> None:
        while not self._closed.wait(min(5.0, max(0.2, self.idle_stop / 4))):
            if self.idle_stop <= 0 or not self.running or not self._idle():
                continue
            with self._lock:
                # Asked again under the lock: a request may have come in while it was awaited.
                if self._idle() and self.running:
                    log.info("MLflow tracking server idle for %g s: stopping it", self.idle_stop)
                    self._terminate()

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        client, self._client = self._client, None
        if client is not None:
            client.close()
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        self._closed.set()
        with self._lock:
            self._terminate()

    # -- use --------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def in_use(self) -> Iterator[None]:
        """Counts a request: the server is not stopped for idleness while one is in flight."""
        with self._counted:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._counted:
                self._in_flight -= 1
                self._last_used = time.monotonic()

    @contextlib.contextmanager
    def client(self) -> Iterator[httpx.Client]:
        """A client of the running server (started if it was not). Blocking."""
        with self.in_use():
            self.ensure()
            client = self._client
            if client is None:
                client = self._client = httpx.Client(
                    transport=httpx.HTTPTransport(uds=self.socket_path), base_url="http://localhost/",
                    timeout=REQUEST_TIMEOUT)
            yield client

    @contextlib.asynccontextmanager
    async def async_client(self) -> AsyncIterator[httpx.AsyncClient]:
        """The same, for the event loop: the start (if any) waits in a worker thread."""
        with self.in_use():
            await asyncio.get_running_loop().run_in_executor(None, self.ensure)
            # One per request: it lives on this loop, and a restarted server is a new socket.
            async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=self.socket_path),
                                         base_url="http://localhost", timeout=REQUEST_TIMEOUT) as client:
                yield client
