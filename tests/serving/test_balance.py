"""Keep-alive connections spread evenly over the workers, wherever the kernel would hash them."""
from __future__ import annotations

import http.client
import json

import psutil
import pytest

from .conftest import Server

ROW = {"instances": [[5.1, 3.5, 1.4, 0.2]]}


def established(pid: int, port: int) -> int:
    return sum(1 for c in psutil.Process(pid).net_connections(kind="tcp")
               if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED)


@pytest.fixture(scope="module")
def two_workers(model_dir, tmp_path_factory):
    server = Server(str(model_dir / "iris"), "iris-1", tmp_path_factory.mktemp("balance") / "server.log",
                    workers=2).wait_ready()
    assert len(server.wait_for_workers(2)) == 2  # a worker still forking would take no connection
    yield server
    server.stop()


def test_eight_keep_alive_connections_on_two_workers_are_served_four_by_each(two_workers):
    connections = []
    try:
        for _ in range(8):  # as a connection pool opens them: one after another, each then used
            connection = http.client.HTTPConnection("127.0.0.1", two_workers.port, timeout=30)
            connection.request("POST", f"/v1/models/{two_workers.name}:predict", json.dumps(ROW),
                               {"Content-Type": "application/json"})
            answer = connection.getresponse()
            assert answer.status == 200 and json.loads(answer.read()) == {"predictions": [0]}
            connections.append(connection)
        spread = sorted(established(pid, two_workers.port) for pid in two_workers.workers())
        assert spread == [4, 4], f"open connections per worker: {spread}"
        for connection in connections:  # every connection still answers, on the worker it has
            connection.request("POST", f"/v1/models/{two_workers.name}:predict", json.dumps(ROW),
                               {"Content-Type": "application/json"})
            assert connection.getresponse().read()
    finally:
        for connection in connections:
            connection.close()
