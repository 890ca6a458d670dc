"""A warm template process (a zygote) from which every local model server is forked.

The template imports what every model server needs (Python, MLflow, numpy, pandas,
scikit-learn, tornado) and loads a tiny model once, then waits on a unix socket. For each
assignment it forks a child that becomes the model server: the child shares the template's
pages copy-on-write, so those pages count once however many endpoints run, and a deploy never
waits for a stand-by to warm up again (the template is never used up).

Crash-safety is that of the stand-by: before it answers, the template writes
``<prefix><pid>.assigned`` holding the endpoint's ``<id>:<revision>``, so a control plane that
dies in between still finds the child as that endpoint's model server. It reaps its children
and writes how each ended to ``<prefix><pid>.exit`` (the control plane's pidfd sees the end,
this file says how). The template exits when its control plane is gone; its children, in their
own sessions, keep serving and are re-adopted by the next control plane.
"""
from __future__ import annotations

import gc
import json
import os
import signal
import socket
import sys

from .standby import become, listen_at, orphaned, read_message, warm_up
from .workers import exited_children


def _write(path: str, text: str) -> None:
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.rename(path + ".tmp", path)


def _reaper(prefix: str):
    def reap(signum: int, frame: object) -> None:
        for pid, status in exited_children():
            try:
                _write(f"{prefix}{pid}.exit", str(os.waitstatus_to_exitcode(status)))
            except OSError:
                pass
    return reap


def run_template(path: str, prefix: str, parent: int | None = None) -> list[str]:
    """Warm up, then fork a model server per assignment; returns only in such a child."""
    if parent is not None and orphaned(parent):
        sys.exit(0)
    warm_up()
    gc.collect()
    gc.freeze()  # the collector never writes to (and so never copies) the template's objects
    server = listen_at(path, 16)  # after warm_up: the socket appears only once the template is warm
    signal.signal(signal.SIGCHLD, _reaper(prefix))
    while True:
        try:
            connection, _ = server.accept()
        except socket.timeout:
            if parent is not None and orphaned(parent):
                server.close()
                try:
                    os.unlink(path)
                except OSError:
                    pass
                sys.exit(0)
            continue
        try:
            assignment = read_message(connection)
        except (OSError, ValueError):
            connection.close()
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            server.close()
            connection.close()
            os.setsid()  # its own process group and session, like a detached process
            return become(assignment)
        try:
            _write(f"{prefix}{pid}.assigned", assignment.get("slot", ""))
            connection.sendall(f"ok {pid}\n".encode())
        except OSError:
            pass  # whoever asked is gone; the record says whose server the child is
        finally:
            connection.close()


def fork_server(path: str, args: list[str], env: dict[str, str], log: str, slot: str = "",
                timeout: float = 5.0) -> int | None:
    """Ask the template on ``path`` for a model server; its pid, or None if none answered."""
    message = json.dumps({"args": args, "env": env, "log": log, "slot": slot}).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(timeout)
            client.connect(path)
            client.sendall(message)
            answer = b""
            while not answer.endswith(b"\n"):
                chunk = client.recv(64)
                if not chunk:
                    break
                answer += chunk
    except OSError:
        return None
    parts = answer.split()
    return int(parts[1]) if len(parts) == 2 and parts[0] == b"ok" else None
