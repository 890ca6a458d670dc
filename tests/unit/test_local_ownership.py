"""What a local model server inherits, how crashes back off, and finding our processes again."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time

from merlin_jupyter_server.deployers import local_ownership as own
from merlin_jupyter_server.deployers.local_process import stop_group
from merlin_jupyter_server.restarts import RestartPolicy


def test_a_model_server_inherits_no_token_and_no_cloud_credential():
    source = {"PATH": "/bin", "HOME": "/home/u", "LC_ALL": "C.UTF-8", "LANG": "C",
              "MERLIN_TOKEN": "t", "MLFLOW_TRACKING_TOKEN": "t", "JUPYTER_TOKEN": "t",
              "AWS_SECRET_ACCESS_KEY": "s", "GOOGLE_APPLICATION_CREDENTIALS": "/k.json",
              "AZURE_CLIENT_SECRET": "s", "MERLIN_URL": "http://x", "JUPYTER_DATA_DIR": "/d",
              "PIP_INDEX_URL": "https://u:p@index"}
    env = own.base_environ(None, source)
    assert set(env) == {"PATH", "HOME", "LC_ALL", "LANG", "PIP_INDEX_URL"}
    assert "PIP_INDEX_URL" not in own.serving_environ(env)  # only an environment build sees it
    # An allowlist that says "everything" still never hands over a credential.
    assert set(own.base_environ(["*"], source)) == {
        "PATH", "HOME", "LC_ALL", "LANG", "MERLIN_URL", "JUPYTER_DATA_DIR", "PIP_INDEX_URL"}


def test_crashes_back_off_by_doubling_and_five_in_ten_minutes_give_up():
    policy, history, delays = RestartPolicy(backoff=1.0, cap=5.0), None, []
    for crash in range(5):
        history = policy.after_crash(history, 1000.0 + crash, "was killed by SIGKILL")
        delays.append(history["delay"])
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0] and policy.gives_up(history)
    # A crash long after the earlier ones starts over.
    fresh = policy.after_crash(history, 1000.0 + 601 + 4, "exited with code 1")
    assert fresh["crashes"] == [1605.0] and fresh["delay"] == 1.0 and not policy.gives_up(fresh)


def test_a_group_is_found_by_its_marker_even_after_its_leader_died(tmp_path):
    owner = own.owner_id(str(tmp_path))
    env = {**os.environ, own.OWNER: owner, own.ROLE: own.MODEL_SERVER, own.ENDPOINT: "e1:3"}
    # a leader with a worker, like a model server's supervisor and its forked workers
    leader = subprocess.Popen(["sh", "-c", "sleep 60 & wait"], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 30  # a shell and its child: late on a loaded machine
        while len([f for f in own.scan(owner, str(tmp_path))]) != 1 or \
                len(subprocess.run(["pgrep", "-g", str(leader.pid)], capture_output=True).stdout.split()) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        (found,) = own.scan(owner, str(tmp_path))
        assert (found.pgid, found.role, found.endpoint, found.revision, found.leader_alive) == \
            (leader.pid, own.MODEL_SERVER, "e1", 3, True)
        assert own.scan(own.owner_id(str(tmp_path / "other")), str(tmp_path)) == []

        os.kill(leader.pid, signal.SIGKILL)  # the supervisor dies, its worker goes on
        leader.wait()
        (orphan,) = own.scan(owner, str(tmp_path))
        assert orphan.pgid == leader.pid and not orphan.leader_alive
        asyncio.run(stop_group(orphan.pgid, orphan.leader_alive, grace=5))
        assert own.scan(owner, str(tmp_path)) == []
    finally:
        try:
            os.killpg(leader.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
