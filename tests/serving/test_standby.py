"""A warm stand-by process becomes a model server when handed an assignment."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import psutil

from merlin_jupyter.serving.standby import assign

from .conftest import FAILED, ROOT, free_port


def wait_for(path, proc, timeout=90):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the stand-by never got warm"
        time.sleep(0.05)


def test_a_stand_by_serves_the_model_it_is_assigned(model_dir, tmp_path):
    sock, log, port = tmp_path / "standby.sock", tmp_path / "endpoint.log", free_port()
    proc = subprocess.Popen([sys.executable, "-m", "merlin_jupyter.serving", "--standby", str(sock)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(sock, proc)
        args = ["--model-uri", str(model_dir / "iris"), "--model-name", "iris-1",
                "--port", str(port), "--workers", "1"]
        record = tmp_path / "standby.assigned"
        assert assign(str(sock), args, {"MERLIN_TEST": "1"}, str(log), str(record), "endpoint-1:2")
        assert not sock.exists()  # one assignment per stand-by
        assert record.read_text() == "endpoint-1:2"  # whose server it is now, written before "ok"
        url = f"http://127.0.0.1:{port}/v1/models/iris-1:predict"
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.post(url, json={"instances": [[5.1, 3.5, 1.4, 0.2]]})
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.02)
        assert answer.json() == {"predictions": [0]}
        assert "serving iris-1" in log.read_text()  # the endpoint's own log, not the stand-by's
    finally:
        proc.terminate()
        proc.wait(20)


def test_a_stand_by_assigned_a_broken_model_fails_in_words(tmp_path):
    sock, log = tmp_path / "standby.sock", tmp_path / "endpoint.log"
    proc = subprocess.Popen([sys.executable, "-m", "merlin_jupyter.serving", "--standby", str(sock)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(sock, proc)
    args = ["--model-uri", str(tmp_path / "missing"), "--model-name", "x-1", "--port", str(free_port())]
    assert assign(str(sock), args, {}, str(log))
    assert proc.wait(30) != 0
    assert log.read_text().strip().splitlines()[-1].startswith(f"{FAILED} there is no model at")


def test_no_stand_by_means_no_assignment(tmp_path):
    assert assign(str(tmp_path / "absent.sock"), [], {}, str(tmp_path / "log")) is False


PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-m", "merlin_jupyter.serving", "--standby", sys.argv[1]],
                         start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(child.pid, flush=True)
time.sleep(600)
"""


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_stand_by_does_not_outlive_the_control_plane_that_started_it(tmp_path):
    sock = tmp_path / "standby.sock"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(sock)], cwd=ROOT, stdout=subprocess.PIPE)
    standby = int(parent.stdout.readline())
    try:
        wait_for(sock, parent)
        parent.kill()  # like a control plane killed with SIGKILL
        parent.wait()
        deadline = time.monotonic() + 30  # it looks for its parent now and then; late on a loaded machine
        while running(standby) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running(standby), "the stand-by outlived its control plane"
        assert not sock.exists()
    finally:
        try:
            os.kill(standby, signal.SIGKILL)
        except ProcessLookupError:
            pass
