"""Fixtures shared by every test layer: a real control plane in a real Jupyter server process."""
from __future__ import annotations

import os
import pathlib
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Iterator

import httpx
import psutil
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
# The Kubernetes test kit lives beside the project (../shared/k8s), not in it.
sys.path.insert(0, str(SHARED / "k8s"))

# Plugins must be named in the top-level conftest: pytest-jupyter (real in-process servers for
# the API tests) and the shared Kubernetes kit (an emulated API server for tests/k8s).
pytest_plugins = ["pytest_jupyter.jupyter_server", "kube_plugin"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ControlPlaneProcess:
    """``jupyter server`` with the Merlin extension, isolated in its own directories.

    ``app`` is ``server`` (the extension inside a plain Jupyter server), ``lab`` (JupyterLab)
    or ``merlin`` (the standalone ``jupyter merlin``).
    """

    def __init__(self, home: pathlib.Path, app: str = "server", extra_args: list[str] | None = None):
        self.home = home
        self.app = app
        self.extra_args = extra_args or []
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = home / f"{app}.log"
        self.served = False  # once it has answered on its port, that port is its URL for good

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def api_url(self) -> str:
        return self.url + "merlin/api/v1"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            JUPYTER_DATA_DIR=str(self.home / "data"),
            JUPYTER_RUNTIME_DIR=str(self.home / "runtime"),
            JUPYTER_CONFIG_DIR=str(self.home / "config"),
            JUPYTER_PLATFORM_DIRS="1",
            PYTHONUNBUFFERED="1",
        )
        for key in ("MERLIN_URL", "MERLIN_TOKEN", "MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_TOKEN"):
            env.pop(key, None)
        return env

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "jupyter", self.app, "--no-browser", f"--port={self.port}",
               "--ip=127.0.0.1", f"--ServerApp.token={self.token}", f"--ServerApp.root_dir={self.home}",
               "--ServerApp.port_retries=0"]
        if os.getuid() == 0:
            cmd.append("--allow-root")
        return cmd + self.extra_args

    def start(self, timeout: float = 120.0) -> "ControlPlaneProcess":
        (self.home / "data").mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        logged = log.tell()
        self.proc = subprocess.Popen(self.command(), env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     cwd=self.home, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if self._lost_its_port(logged):
                    self.port = free_port()
                    return self.start(timeout)
                raise RuntimeError(f"control plane exited:\n{self.log_tail()}")
            try:
                if httpx.get(self.api_url + "/environments", headers=self.headers, timeout=2).status_code == 200:
                    self.served = True
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"control plane did not start:\n{self.log_tail()}")

    def mlflow_servers(self) -> list[psutil.Process]:
        """Its hosted MLflow tracking server's process, while that runs."""
        found = []
        for child in psutil.Process(self.proc.pid).children():
            try:
                if child.status() != psutil.STATUS_ZOMBIE and \
                        "merlin_jupyter_server.mlflow_server" in child.cmdline():
                    found.append(child)
            except psutil.Error:
                continue  # gone, or a zombie not yet reaped
        return found

    def log_tail(self, size: int = 3000) -> str:
        """The end of its log without the answers to the readiness polls (a server whose
        extension failed to load answers each with a 404, and they hid why it failed)."""
        poll = "/merlin/api/v1/environments"
        lines = [line for line in self.log_path.read_text(errors="replace").splitlines() if poll not in line]
        return "\n".join(lines)[-size:]

    def _lost_its_port(self, logged: int) -> bool:
        """The port picked for it was taken before it could listen: a client's connection can
        get any free port as its own end (the same range bind(0) picks from), so a port that
        was free is not always still free a second later. Only a first start moves port:
        a start after it served must keep its URL."""
        with open(self.log_path, "rb") as log:
            log.seek(logged)
            return not self.served and f"port {self.port} is not available".encode() in log.read()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self) -> "ControlPlaneProcess":
        self.stop()
        return self.start()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def client(self) -> "ApiClient":
        return ApiClient(self)


class ApiClient:
    """A thin httpx client for tests: ``api.post("/projects", json=...)`` → (status, body)."""

    def __init__(self, cp: ControlPlaneProcess):
        self.http = httpx.Client(base_url=cp.api_url, headers=cp.headers, timeout=120)

    def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        response = self.http.request(method, path, **kwargs)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text

    def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.request("DELETE", path, **kw)

    def wait_endpoint(self, model_id: int, version: int, endpoint_id: str, until=("running", "failed"),
                      timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            _, endpoint = self.get(f"/models/{model_id}/versions/{version}/endpoint/{endpoint_id}")
            if endpoint["status"] in until or time.monotonic() > deadline:
                return endpoint
            time.sleep(0.1)


@pytest.fixture(scope="session")
def postgres() -> Iterator["PostgresCluster"]:
    """A throw-away PostgreSQL cluster (tests/postgres.py), started on first use."""
    from tests.postgres import PostgresCluster, wait_ready

    cluster = PostgresCluster().start()
    wait_ready(cluster)
    yield cluster
    cluster.stop()


def database_url(request, tmp_path: pathlib.Path, backend: str) -> Iterator[str]:
    """A fresh, empty database on ``backend`` ("sqlite" or "postgresql"), dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/merlin.db"
        return
    cluster = request.getfixturevalue("postgres")
    url = cluster.fresh_database()
    yield url
    cluster.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> Iterator[str]:
    """The URL of a fresh database, once on SQLite and once on PostgreSQL."""
    yield from database_url(request, tmp_path, request.param)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory) -> Iterator[ControlPlaneProcess]:
    """One control plane for the session (tests create uniquely named projects in it)."""
    cp = ControlPlaneProcess(tmp_path_factory.mktemp("merlin-home")).start()
    yield cp
    cp.stop()
    _stop_model_servers(cp.home)


@pytest.fixture
def live_api(control_plane) -> ApiClient:
    return control_plane.client()


@pytest.fixture
def api(live_api) -> ApiClient:
    """The session control plane's API (tests/api overrides it with an in-process server)."""
    return live_api


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def _stop_model_servers(home: pathlib.Path) -> None:
    """Model servers outlive their control plane on purpose; tests clean up after themselves."""
    try:
        import psutil
    except ImportError:
        return
    from merlin_jupyter_server.deployers.local_ownership import OWNER, owner_id

    owner = owner_id(str(home / "data" / "merlin"))  # model servers get a minimal environment
    for proc in psutil.process_iter(["pid", "cmdline", "environ"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            env = proc.environ()
        except (psutil.Error, TypeError):
            continue
        if "merlin_jupyter.serving" in cmdline and (
                env.get(OWNER) == owner or str(home) in env.get("JUPYTER_DATA_DIR", "")):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
    shutil.rmtree(home / "runtime", ignore_errors=True)


def sklearn_model(n_features: int = 4):
    """A small fitted classifier and a sample of its input."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.random((60, n_features))
    y = (X[:, 0] > 0.5).astype(int)
    return LogisticRegression().fit(X, y), X[:3]


def log_version(cp: ControlPlaneProcess, api: ApiClient, model_id: int, model=None, sample=None,
                labels: dict[str, str] | None = None) -> dict[str, Any]:
    """Create a version through the API and log a scikit-learn model into its MLflow run."""
    import mlflow

    if model is None:
        model, sample = sklearn_model()
    status, version = api.post(f"/models/{model_id}/versions", json={"labels": labels or {}})
    assert status == 201, version
    os.environ["MLFLOW_TRACKING_TOKEN"] = cp.token
    mlflow.set_tracking_uri(cp.url + "merlin/mlflow")
    with mlflow.start_run(run_id=version["mlflow_run_id"]):
        mlflow.sklearn.log_model(model, name="model", input_example=sample,
                                 pip_requirements=["scikit-learn", "mlflow"])
    return version


def log_code_version(cp: ControlPlaneProcess, api: ApiClient, model_id: int, source: str,
                     code_dir: pathlib.Path, filename: str = "model_code.py") -> dict[str, Any]:
    """Create a version through the API and log a pyfunc model from ``source`` (MLflow's
    models-from-code: a file that ends with ``mlflow.models.set_model(...)``) into its run."""
    import mlflow

    status, version = api.post(f"/models/{model_id}/versions", json={})
    assert status == 201, version
    code = code_dir / filename
    code.write_text(source)
    os.environ["MLFLOW_TRACKING_TOKEN"] = cp.token
    mlflow.set_tracking_uri(cp.url + "merlin/mlflow")
    with mlflow.start_run(run_id=version["mlflow_run_id"]):
        mlflow.pyfunc.log_model(name="model", python_model=str(code), pip_requirements=["mlflow"])
    return version


def code_model(cp: ControlPlaneProcess, code_dir: pathlib.Path, prefix: str, source: str) -> dict[str, Any]:
    """A new pyfunc model in a new project, with ``source`` logged as its version 1; the model."""
    api = cp.client()
    project = api.post("/projects", json={"name": unique(prefix)})[1]
    model = api.post(f"/projects/{project['id']}/models", json={"name": unique(prefix), "type": "pyfunc"})[1]
    log_code_version(cp, api, model["id"], source, code_dir, f"{prefix}_model.py")
    return model


@pytest.fixture
def live_project(live_api) -> dict[str, Any]:
    status, body = live_api.post("/projects", json={"name": unique("proj")})
    assert status == 201, body
    return body


@pytest.fixture
def live_model(live_api, live_project) -> dict[str, Any]:
    status, body = live_api.post(
        f"/projects/{live_project['id']}/models", json={"name": unique("model"), "type": "sklearn"}
    )
    assert status == 201, body
    return body


@pytest.fixture
def project(live_project) -> dict[str, Any]:
    return live_project


@pytest.fixture
def model(live_model) -> dict[str, Any]:
    return live_model
