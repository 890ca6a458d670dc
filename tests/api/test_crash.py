"""Crashes and privileges of the local environment, against real `jupyter merlin` processes.

The control plane is killed with SIGKILL at each step of a deploy and of an undeploy
(MERLIN_TEST_CRASH_AT, crashpoints.py), restarted, and then must show the truth: one model
server per endpoint (counted by who listens on its port), running and answering, or terminated
with its port closed, and no process of its data dir left after a clean stop.
"""
from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import stat
import tempfile
import time
from datetime import datetime

import httpx
import psutil
import pytest

from merlin_jupyter_server.deployers.local_ownership import OWNER, owner_id
from tests.conftest import ControlPlaneProcess, _stop_model_servers, code_model, log_version, sklearn_model, unique
from tests.waiting import wait_until

from .test_traffic import serve, split

MATRIX: list[tuple[str, str]] = []
STARTED: list[ControlPlaneProcess] = []  # killed at the end whatever happened

ENV_MODEL = '''
import os

import mlflow


class ShowEnvironment(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input):
        return [",".join(sorted(os.environ))] * len(model_input)


mlflow.models.set_model(ShowEnvironment())
'''

CRASHING_MODEL = '''
import os

import mlflow


class DiesWhileLoading(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        print("loading the model, then dying", flush=True)
        os._exit(3)  # like a segfault in a native library: no word of why

    def predict(self, context, model_input):
        return model_input


mlflow.models.set_model(DiesWhileLoading())
'''


class Plane(ControlPlaneProcess):
    """`jupyter merlin` with a few more environment variables."""

    def __init__(self, home: pathlib.Path, extra_env: dict[str, str] | None = None,
                 standby: bool = True):
        super().__init__(home, app="merlin", extra_args=[
            "--MerlinApp.restart_backoff=0.3", f"--MerlinApp.warm_standby={standby}"])
        self.extra_env = extra_env or {}
        STARTED.append(self)

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **self.extra_env}

    def wait_killed(self, timeout: float = 90) -> None:
        assert self.proc is not None
        self.proc.wait(timeout)
        assert self.proc.returncode == -signal.SIGKILL, self.proc.returncode

    def wait_standby(self, timeout: float = 60) -> None:
        """Until its warm stand-by listens, so a deploy goes through it."""
        wait_until(lambda: list((self.home / "data" / "merlin" / "standby").glob("*.sock")), timeout,
                 "the stand-by did not get ready")


def port_of(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


def listening_groups(port: int) -> set[int]:
    """Process groups listening on ``port``: one per model server, however many workers."""
    groups = set()
    for conn in psutil.net_connections("tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
            try:
                groups.add(os.getpgid(conn.pid))
            except ProcessLookupError:
                pass
    return groups


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def owned_processes(home: pathlib.Path, leaders: bool = False) -> list[str]:
    """Processes started for this data dir (group leaders only: not a server's workers)."""
    owner = owner_id(str(home / "data" / "merlin"))
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and proc.environ().get(OWNER) == owner \
                    and (not leaders or os.getpgid(proc.pid) == proc.pid):
                found.append(f"{proc.pid} {' '.join(proc.info['cmdline'] or [])}")
        except psutil.Error:
            continue
    return found


@pytest.fixture(scope="module")
def home():
    # Outside pytest's basetemp: pytest sessions running beside this one prune each other's.
    home = pathlib.Path(tempfile.mkdtemp(prefix="merlin-crash-"))
    yield home
    for cp in STARTED:
        if cp.proc is not None and cp.proc.poll() is None:
            cp.proc.kill()
            cp.proc.wait()
    _stop_model_servers(home)
    shutil.rmtree(home, ignore_errors=True)


def log_a_version(cp: ControlPlaneProcess):
    api = cp.client()
    project = api.post("/projects", json={"name": unique("crash")})[1]
    model = api.post(f"/projects/{project['id']}/models", json={"name": unique("m"), "type": "sklearn"})[1]
    clf, sample = sklearn_model()
    log_version(cp, api, model["id"], clf, sample)
    return project, model, clf, sample


def endpoint_path(model: dict, endpoint_id: str) -> str:
    return f"/models/{model['id']}/versions/1/endpoint/{endpoint_id}"


def assert_running_once(api, model, endpoint_id, clf, sample) -> dict:
    endpoint = api.wait_endpoint(model["id"], 1, endpoint_id, timeout=90)
    assert endpoint["status"] == "running", endpoint
    port = port_of(endpoint["url"])
    assert len(listening_groups(port)) == 1, listening_groups(port)  # no second server beside it
    answer = httpx.post(endpoint["url"], json={"instances": sample.tolist()})
    assert answer.json()["predictions"] == clf.predict(sample).tolist()
    return endpoint


def assert_terminated(api, model, endpoint_id, port) -> None:
    endpoint = api.wait_endpoint(model["id"], 1, endpoint_id, until=("terminated",), timeout=60)
    assert endpoint["status"] == "terminated", endpoint
    wait_until(lambda: not listening_groups(port), 15, f"port {port} still served after the undeploy")
    assert not port_open(port)


def deploy_and_crash(cp: Plane, model: dict) -> None:
    cp.wait_standby()
    try:
        cp.client().post(f"/models/{model['id']}/versions/1/endpoint", json={"environment_name": "local"})
    except httpx.HTTPError:
        pass  # the control plane may die before it answers
    cp.wait_killed()


def undeploy_and_crash(cp: Plane, model: dict, endpoint_id: str) -> None:
    try:
        cp.client().delete(endpoint_path(model, endpoint_id))
    except httpx.HTTPError:
        pass  # the control plane died while answering
    cp.wait_killed()


@pytest.mark.timeout(600)
@pytest.mark.parametrize("deploy_step,undeploy_step", [
    ("deploy:before-spawn", "undeploy:before-stop"),
    ("deploy:after-spawn", "undeploy:after-stop"),
    ("deploy:after-record", "undeploy:after-record"),
])
def test_a_control_plane_killed_at_any_step_of_a_deploy_or_undeploy_leaves_the_truth(
        home, deploy_step, undeploy_step):
    """The first control plane dies at a step of a deploy, the second at a step of the
    undeploy; each restart must finish the step it finds half done."""
    cp = Plane(home, {"MERLIN_TEST_CRASH_AT": deploy_step}).start()
    _, model, clf, sample = log_a_version(cp)
    deploy_and_crash(cp, model)

    cp = Plane(home, {"MERLIN_TEST_CRASH_AT": undeploy_step}, standby=False).start()
    api = cp.client()
    live = [e for e in api.get(f"/models/{model['id']}/versions/1/endpoint")[1] if e["status"] != "terminated"]
    assert len(live) == 1, live
    endpoint = assert_running_once(api, model, live[0]["id"], clf, sample)
    # The killed control plane's stand-by was stopped: only the model server is left.
    assert len(owned_processes(home, leaders=True)) == 1, owned_processes(home)
    MATRIX.append((deploy_step, "after restart: running, 1 model server on its port, answers, "
                                "no stand-by left"))
    undeploy_and_crash(cp, model, endpoint["id"])

    cp = Plane(home, standby=False).start()
    assert_terminated(cp.client(), model, endpoint["id"], port_of(endpoint["url"]))
    cp.stop()
    MATRIX.append((undeploy_step, "after restart: terminated, port closed, no model server"))
    # Neither the stand-by of the killed control plane nor anything else outlived the last one.
    wait_until(lambda: owned_processes(home) == [], 15, f"left behind: {owned_processes(home)}")


@pytest.fixture(scope="module")
def plane(home):
    """A control plane with a cloud credential and a locale in its environment."""
    cp = Plane(home, {"AWS_SECRET_ACCESS_KEY": "control-plane-secret", "LC_ALL": "C.UTF-8"}).start()
    yield cp
    cp.stop()


@pytest.mark.timeout(600)
def test_a_killed_model_server_is_restarted_with_back_off_whoever_started_it(plane):
    cp = plane
    _, model, clf, sample = log_a_version(cp)
    api = cp.client()
    status, created = api.post(f"/models/{model['id']}/versions/1/endpoint", json={"environment_name": "local"})
    assert status == 201, created
    for starter in ("this control plane", "an earlier control plane"):
        if starter == "an earlier control plane":
            cp.restart()
            api = cp.client()
        endpoint = assert_running_once(api, model, created["id"], clf, sample)
        port = port_of(endpoint["url"])
        killed = listening_groups(port)
        killed_at, killed_wall = time.monotonic(), time.time()
        for pgid in killed:
            os.killpg(pgid, signal.SIGKILL)
        seen, lied, noticed = [], [], None
        while time.monotonic() - killed_at < 60:
            current = api.get(endpoint_path(model, created["id"]))[1]
            is_open = port_open(port)
            seen.append(current["status"])
            if current["status"] == "pending" and noticed is None:
                noticed = time.monotonic() - killed_at
            # once the control plane knew (a pidfd tells it), never "running" while nothing answers
            if noticed is not None and current["status"] in ("running", "serving") and not is_open:
                lied.append((starter, round(time.monotonic() - killed_at, 2), current["message"]))
            # Back: running and open, and either seen pending or served by a new process. A restart
            # through the warm stand-by can be quicker than one look on a loaded machine, and
            # then "pending" is never seen: that is no failure.
            if current["status"] == "running" and is_open and (noticed is not None or listening_groups(port) - killed):
                break
            time.sleep(0.05)
        events = api.get(f"/events?model_id={model['id']}&limit=50")[1]
        restarts = [e for e in events if "Restarting after a crash" in e["message"]]
        assert restarts, events
        if noticed is None:  # when the control plane noticed, by its own record
            noticed = datetime.fromisoformat(restarts[0]["created_at"].replace("Z", "+00:00")).timestamp() - killed_wall
        assert noticed < 10, (noticed, seen[-5:])
        assert not lied, (lied[0], len(lied))
        again = assert_running_once(api, model, created["id"], clf, sample)
        assert again["url"] == endpoint["url"]
        MATRIX.append((f"model server killed (started by {starter})",
                       f"pending {noticed:.2f} s after the kill, restarted on the same URL"))
    api.delete(endpoint_path(model, created["id"]))


def test_a_model_server_that_keeps_crashing_fails_with_the_reason(plane, tmp_path):
    cp = plane
    api = cp.client()
    model = code_model(cp, tmp_path, "loop", CRASHING_MODEL)
    status, created = api.post(f"/models/{model['id']}/versions/1/endpoint", json={"environment_name": "local"})
    assert status == 201, created
    failed = api.wait_endpoint(model["id"], 1, created["id"], until=("failed",), timeout=120)
    assert failed["status"] == "failed", failed
    assert "crashed 5 times within 10 minutes" in failed["message"], failed["message"]
    assert "exited with code 3" in failed["message"]
    assert "loading the model, then dying" in failed["message"]  # its last log lines
    MATRIX.append(("model server crashes 5 times in 10 min", "failed: exit code 3 + last log lines"))


def test_model_code_sees_no_credentials_and_the_data_dir_is_private(plane, home, tmp_path):
    cp = plane
    api = cp.client()
    model = code_model(cp, tmp_path, "env", ENV_MODEL)
    status, created = api.post(f"/models/{model['id']}/versions/1/endpoint", json={
        "environment_name": "local", "env_vars": [{"name": "FEATURE_STORE", "value": "redis://x"}]})
    assert status == 201, created
    endpoint = api.wait_endpoint(model["id"], 1, created["id"])
    assert endpoint["status"] == "running", endpoint["message"]
    answer = httpx.post(endpoint["url"], json={"instances": [[1.0]]})
    names = set(answer.json()["predictions"][0].split(","))
    assert not names & {"MERLIN_TOKEN", "MLFLOW_TRACKING_TOKEN", "AWS_SECRET_ACCESS_KEY",
                        "JUPYTER_DATA_DIR", "MERLIN_TEST_CRASH_AT"}, names
    assert {"FEATURE_STORE", "PATH", "HOME", "LC_ALL", "MLFLOW_TRACKING_URI"} <= names, names
    MATRIX.append(("model code's environment", f"{len(names)} names, no token or cloud credential"))

    serve(api, model["id"], split((endpoint, 100)))  # the router's rules are written too
    data = home / "data" / "merlin"
    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in (
        data / "merlin.db", data / "mlflow" / "mlflow.db", data / "router" / "routes.json",
        data / "router" / "router.json", data / "endpoints" / created["id"] / "r1.log")}
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert all(mode == 0o600 for mode in modes.values()), {str(p): oct(m) for p, m in modes.items()}
    for wal in data.glob("merlin.db-*"):
        assert stat.S_IMODE(wal.stat().st_mode) == 0o600, wal
    MATRIX.append(("file modes", "data dir 0700; db, mlflow db, rules, router state, logs 0600"))


def test_print_the_crash_matrix(capsys):
    width = max((len(step) for step, _ in MATRIX), default=10)
    with capsys.disabled():
        print("\ncrash matrix (step × outcome)")
        for step, outcome in MATRIX:
            print(f"  {step:<{width}}  {outcome}")
