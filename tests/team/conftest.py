"""Team mode for real: a JupyterHub on 127.0.0.1 (dummy authenticator, local-process spawner,
npm's configurable-http-proxy), users alice and bob, the Merlin control plane as its service,
started from deploy/jupyterhub/jupyterhub_config.py exactly as `make team` starts it.

The control plane's database comes from ``team_db_url`` alone: a fresh PostgreSQL database on
the session's throw-away cluster, unless ``MERLIN_TEST_TEAM_DB_URL`` names another.
"""
from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from typing import Iterator

import httpx
import pytest

from tests.playwright_kit import browser, jp_asyncio_loop, jp_server_cleanup  # noqa: F401 - fixtures

ROOT = pathlib.Path(__file__).resolve().parents[2]
HUB_DIR = ROOT / "deploy" / "jupyterhub"
PROXY = HUB_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
PASSWORD = "merlin"


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports (the hub uses its port and the next two)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = sock.getsockname()[1]
        if base + count < 65535 and all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no run of free ports on 127.0.0.1")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class Hub:
    def __init__(self, state: pathlib.Path, db_url: str):
        self.state = state
        self.port = free_ports(3)
        self.service_port = free_ports(1)
        while self.port <= self.service_port <= self.port + 2:  # not one the hub will take
            self.service_port = free_ports(1)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = state / "jupyterhub.log"
        self.db_url = db_url
        self.proc: subprocess.Popen | None = None
        self._tokens: dict[str, str] = {}

    @property
    def merlin_url(self) -> str:
        return f"{self.url}/services/merlin/"

    def start(self, timeout: float = 120) -> "Hub":
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MERLIN_", "JUPYTER", "MLFLOW_"))}
        env.update(MERLIN_TEAM_DIR=str(self.state), MERLIN_HUB_PORT=str(self.port),
                   MERLIN_SERVICE_PORT=str(self.service_port), MERLIN_TEAM_DB_URL=self.db_url,
                   PATH=f"{pathlib.Path(sys.executable).parent}:{env.get('PATH', '')}")
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(HUB_DIR / "jupyterhub_config.py")],
            cwd=self.state, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyterhub exited: {self.log_path.read_text()[-3000:]}")
            if self._answers(f"{self.url}/hub/api/", 200):  # its Merlin service may still start
                return self
            time.sleep(0.3)
        raise RuntimeError(f"the hub did not start: {self.log_path.read_text()[-3000:]}")

    def wait_merlin(self, timeout: float = 120) -> None:
        """Until the Merlin service answers behind the hub (401 from it, not the proxy's 503)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._answers(self.merlin_url + "merlin/api/v1/projects", 401):
                return
            time.sleep(0.3)
        raise RuntimeError(f"the Merlin service did not start: {self.log_path.read_text()[-3000:]}")

    @staticmethod
    def _answers(url: str, status: int) -> bool:
        try:
            return httpx.get(url, timeout=2, trust_env=False).status_code == status
        except httpx.HTTPError:
            return False

    def token(self, user: str) -> str:
        """A hub API token of ``user``, got as a script would: with the user's password."""
        if user not in self._tokens:
            answer = httpx.post(f"{self.url}/hub/api/users/{user}/tokens", trust_env=False, timeout=30,
                                json={"auth": {"username": user, "password": PASSWORD}, "note": "tests"})
            assert answer.status_code == 201, answer.text
            self._tokens[user] = answer.json()["token"]
        return self._tokens[user]

    def client(self, user: str, base: str) -> httpx.Client:
        return httpx.Client(base_url=base, headers={"Authorization": f"token {self.token(user)}"},
                            timeout=120, trust_env=False)

    def start_server(self, user: str) -> None:
        answer = httpx.post(f"{self.url}/hub/api/users/{user}/server", trust_env=False, timeout=30,
                            headers={"Authorization": f"token {self.token(user)}"})
        assert answer.status_code in (201, 202), answer.text

    def wait_server(self, user: str, timeout: float = 120) -> str:
        """The user's server URL, once it answers."""
        headers = {"Authorization": f"token {self.token(user)}"}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:  # the hub may be slow to answer while it spawns: a late answer is no failure
                model = httpx.get(f"{self.url}/hub/api/users/{user}", headers=headers, trust_env=False,
                                  timeout=30).json()
            except (httpx.HTTPError, ValueError):
                model = {}
            if model.get("servers", {}).get("", {}).get("ready"):
                return f"{self.url}/user/{user}/"
            time.sleep(0.5)
        raise RuntimeError(f"{user}'s server did not start: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the hub stops its users' servers and its service
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for pgid in {self.proc.pid} if self.proc else set():
            try:
                os.killpg(pgid, signal.SIGKILL)  # the proxy, if the hub could not stop it
            except (ProcessLookupError, PermissionError):
                pass
        stop_model_servers(self.state / "merlin-service" / "data")


def stop_model_servers(data_dir: pathlib.Path) -> None:
    """Model servers, stand-bys and the router of the service outlive it on purpose."""
    import psutil

    from merlin_jupyter_server.deployers.local_ownership import OWNER, owner_id

    owner = owner_id(str(data_dir))
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get(OWNER) == owner:
                os.killpg(proc.pid, signal.SIGKILL)
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue


@pytest.fixture(scope="module")
def team_db_url(postgres) -> Iterator[str]:
    """The team control plane's database: a fresh one on the session's PostgreSQL cluster, as a
    team runs it (``MERLIN_TEST_TEAM_DB_URL`` names another)."""
    if url := os.environ.get("MERLIN_TEST_TEAM_DB_URL"):
        yield url
        return
    url = postgres.fresh_database("team")
    yield url
    postgres.drop_database(url)


@pytest.fixture(scope="module")
def hub(tmp_path_factory, team_db_url) -> Iterator[Hub]:
    if not PROXY.exists():
        pytest.fail(f"JupyterHub's proxy is not installed at {PROXY}: run `make install-test` "
                    "(npm install in deploy/jupyterhub).")
    hub = Hub(tmp_path_factory.mktemp("team"), team_db_url)
    try:
        yield hub.start()
    finally:
        hub.stop()
        artifacts = ROOT / "tests" / "team" / "logs"
        artifacts.mkdir(exist_ok=True)
        (artifacts / "jupyterhub.log").write_bytes(hub.log_path.read_bytes())
