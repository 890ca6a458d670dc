"""The hosted MLflow tracking server's process: started when wanted, stopped when idle, gone
with its control plane, and a start that fails says why."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import psutil
import pytest

from merlin_jupyter_server.errors import Unavailable
from merlin_jupyter_server.mlflow_host import MlflowHost
from merlin_jupyter_server.services.mlflow_gateway import MlflowGateway

from ..waiting import wait_until
from .conftest import mlflow_reader


@pytest.fixture
def host(tmp_path):
    host = MlflowHost(f"sqlite:///{tmp_path}/mlflow.db", str(tmp_path / "artifacts"), "/merlin/mlflow",
                      run_dir=str(tmp_path / "run"), idle_stop=1.0)
    host.start()
    yield host
    host.stop()


def test_an_idle_server_is_stopped_and_the_next_call_starts_it_again(host):
    gateway = MlflowGateway("http://tracking", host)
    first = gateway.ensure_experiment("team/churn")
    pid = host._proc.pid
    wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
               timeout=30, what="the idle MLflow server to be stopped")
    assert not host.running
    # Nothing is lost with the process: the store has the experiment, and a call finds it.
    assert gateway.ensure_experiment("team/churn") == first
    assert host.starts == 2
    assert mlflow_reader(host).get_experiment(str(first)).name == "team/churn"


def test_a_server_that_cannot_open_its_store_says_why(tmp_path):
    (tmp_path / "not-a-dir").write_text("a file where the store's directory should be")
    host = MlflowHost(f"sqlite:///{tmp_path}/not-a-dir/mlflow.db", str(tmp_path / "artifacts"), "/",
                      run_dir=str(tmp_path / "run"))
    host.start()
    try:
        with pytest.raises(Unavailable) as raised:
            MlflowGateway("http://tracking", host).ensure_experiment("team/churn")
        message = raised.value.message
        assert "could not start" in message and "The MLflow tracking store cannot be opened" in message, message
        assert str(tmp_path / "run" / "mlflow-server.log") in message
    finally:
        host.stop()


def test_the_server_exits_with_its_control_plane_even_when_that_is_killed(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from merlin_jupyter_server.mlflow_host import MlflowHost
        host = MlflowHost("sqlite:///{tmp_path}/mlflow.db", "{tmp_path}/artifacts", "/", run_dir="{tmp_path}/run")
        host.ensure()
        print(host._proc.pid, flush=True)
        time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        child = int(parent.stdout.readline())
        assert psutil.Process(child).is_running()
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        wait_until(lambda: not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE,
                   timeout=30, what="the MLflow server to exit after its control plane was killed")
    finally:
        parent.kill()
