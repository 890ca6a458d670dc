"""The router as an HTTP/1.1 server, byte by byte on a socket: keep-alive, pipelining, chunked
and 100-continue bodies, limits, malformed requests, callers that hang up, a graceful stop."""
from __future__ import annotations

import json
import signal
import socket
import threading
import time

import httpx
import pytest

from .test_router import ROW, TOKEN, Router, Upstream

BODY = json.dumps(ROW).encode()


def post(path: str = "/shop/iris/v1/predict", body: bytes = BODY, extra: str = "", version: str = "1.1") -> bytes:
    return (f"POST {path} HTTP/{version}\r\nHost: r\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def read_answers(conn: socket.socket, count: int) -> list[tuple[bytes, bytes]]:
    """``count`` answers (head, body) read off ``conn``, framed by their Content-Length."""
    buffer, answers = b"", []
    while len(answers) < count:
        while b"\r\n\r\n" not in buffer:
            chunk = conn.recv(65536)
            assert chunk, f"closed after {len(answers)} answer(s): {buffer!r}"
            buffer += chunk
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))
        while len(buffer) < length:
            buffer += conn.recv(65536)
        answers.append((head, buffer[:length]))
        buffer = buffer[length:]
    return answers


def closed(conn: socket.socket) -> bool:
    try:
        return conn.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.fixture(scope="module")
def upstream():
    upstream = Upstream()
    yield upstream
    upstream.close()


@pytest.fixture(scope="module")
def router(upstream, tmp_path_factory):
    router = Router(tmp_path_factory.mktemp("router-http"), args=("--max-body-bytes", "4096"))
    router.apply(upstream.route())
    yield router
    router.stop()


def connect(router) -> socket.socket:
    return socket.create_connection(("127.0.0.1", router.port), timeout=10)


def test_pipelined_requests_are_answered_in_order_on_one_connection(router):
    with connect(router) as conn:
        conn.sendall(post() + b"GET /-/health HTTP/1.1\r\nHost: r\r\n\r\n" + post("/shop/nothing/v1/predict") + post())
        answers = read_answers(conn, 4)
    assert [head.split(b" ")[1] for head, _ in answers] == [b"200", b"200", b"404", b"200"]
    assert json.loads(answers[1][1])["routes"] == ["shop/iris"]
    assert b"X-Merlin-Version: 1" in answers[0][0] and b"X-Merlin-Version-Endpoint: ep-1" in answers[3][0]


def test_http_1_0_and_connection_close_end_the_connection_and_keep_alive_keeps_it(router):
    for request in (post(version="1.0"), post(extra="Connection: close\r\n")):
        with connect(router) as conn:
            conn.sendall(request)
            head, body = read_answers(conn, 1)[0]
            assert b" 200 " in head and b"Connection: close" in head and json.loads(body) == {"predictions": [0]}
            assert closed(conn)
    with connect(router) as conn:
        conn.sendall(post(version="1.0", extra="Connection: keep-alive\r\n"))
        assert b"Connection: keep-alive" in read_answers(conn, 1)[0][0]
        conn.sendall(post(version="1.0", extra="Connection: keep-alive\r\n"))
        assert b" 200 " in read_answers(conn, 1)[0][0]


def test_a_chunked_body_and_a_100_continue_body_reach_the_model_whole(router, upstream):
    with connect(router) as conn:
        half = len(BODY) // 2
        conn.sendall(b"POST /shop/iris/v1/predict HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, BODY[:half], len(BODY) - half, BODY[half:]))
        assert b" 200 " in read_answers(conn, 1)[0][0] and upstream.bodies[-1] == BODY
        conn.sendall(post(body=b"", extra="Expect: 100-continue\r\n").replace(b"Content-Length: 0",
                                                                               b"Content-Length: %d" % len(BODY)))
        assert conn.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"  # nothing else until the body comes
        conn.sendall(BODY)
        assert b" 200 " in read_answers(conn, 1)[0][0] and upstream.bodies[-1] == BODY
    assert "expect" not in upstream.seen[-1] and "transfer-encoding" not in upstream.seen[-2]


def test_a_body_over_the_limit_gets_a_413_that_says_so(router):
    big = b"[" + b"1," * 3000 + b"1]"
    for request in (post(body=big), post(body=b"", extra="Transfer-Encoding: chunked\r\n").replace(
            b"Content-Length: 0\r\n", b"") + b"%x\r\n%s\r\n0\r\n\r\n" % (len(big), big)):
        with connect(router) as conn:
            conn.sendall(request)
            head, body = read_answers(conn, 1)[0]
            assert b" 413 " in head and "larger than this router accepts (4096 bytes)" in json.loads(body)["error"]
            assert closed(conn)


@pytest.mark.parametrize("garbage", [b"NOT HTTP AT ALL\r\n\r\n", b"POST /x HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
                                     b"POST /shop/iris/v1/predict HTTP/1.1\r\nHost: r\r\nUpgrade: h2c\r\n"
                                     b"Connection: Upgrade\r\nContent-Length: 2\r\n\r\n[]"])
def test_a_malformed_request_gets_a_400_and_the_connection_closed(router, garbage):
    with connect(router) as conn:
        conn.sendall(garbage)
        head, body = read_answers(conn, 1)[0]
        assert head.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in head
        assert json.loads(body)["error"]
        assert closed(conn)
    assert router.predict().status_code == 200


def test_wrong_methods_unknown_paths_and_metrics(router):
    wrong = httpx.get(f"{router.url}/shop/iris/v1/predict")
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST" and "POST the request body" in wrong.json()["error"]
    assert httpx.get(f"{router.url}/-/reload").headers["Allow"] == "POST"
    nowhere = httpx.get(f"{router.url}/somewhere")
    assert nowhere.status_code == 404 and "/v1/predict" in nowhere.json()["error"]
    assert router.predict().status_code == 200
    metrics = httpx.get(f"{router.url}/-/metrics")
    assert metrics.headers["Content-Type"].startswith("text/plain")
    assert 'merlin_router_requests_total{route="shop/iris",status="200",version="1"}' in metrics.text
    assert httpx.head(f"{router.url}/-/health").content == b""


def test_callers_that_hang_up_mid_request_change_nothing(router):
    for partial in (post()[:30], post()[:-5], post() + post()[:20]):
        with connect(router) as conn:
            conn.sendall(partial)
    with connect(router) as conn:  # and one that leaves while the model answers
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.sendall(post())
    time.sleep(0.2)
    assert all(router.predict().status_code == 200 for _ in range(5))


def test_a_stop_lets_requests_in_flight_finish(tmp_path):
    slow = Upstream(delay=1.0)
    router = Router(tmp_path)
    try:
        router.apply(slow.route())
        answers = []
        caller = threading.Thread(target=lambda: answers.append(router.predict(timeout=10)))
        caller.start()
        time.sleep(0.3)
        router.proc.send_signal(signal.SIGTERM)
        caller.join()
        assert answers[0].status_code == 200 and answers[0].headers["Connection"] == "close"
        assert router.proc.wait(10) == 0
    finally:
        slow.close()
        if router.proc.poll() is None:
            router.stop()


def test_sighup_reloads_the_rules(router, upstream):
    router.write({})
    router.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while router.predict().status_code != 404:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    router.apply(upstream.route())
    assert httpx.post(f"{router.url}/-/reload", headers={"X-Merlin-Router-Token": TOKEN}).json()["routes"] == 1
