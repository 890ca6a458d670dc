"""Starts the standalone control plane (``jupyter merlin``) when a script or a plain IPython
session finds none running, so the SDK works outside JupyterLab without a terminal step.

The control plane serves this user's Jupyter data directory, like JupyterLab would; it keeps
running for other notebooks and scripts. Two control planes never manage one store: a second
one refuses to start and says which one does, and that reason is what the caller sees.
"""
from __future__ import annotations

import os
import socket
import subprocess
import time
from typing import Any

from . import processes

ENV_SWITCH = "MERLIN_AUTOSTART"  # "0": never start one, only say how


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no")


def start(runtime_dir: str, timeout: float = 120.0) -> dict[str, Any]:
    """Start ``jupyter merlin`` detached and return its runtime info (url, token, pid, log).

    Raises RuntimeError with the control plane's own last words when it does not come up."""
    os.makedirs(runtime_dir, exist_ok=True)
    log_path = os.path.join(runtime_dir, "merlin-autostart.log")
    command = processes.python("-m", "jupyter", "merlin", "--no-browser", "--ip=127.0.0.1",
                               f"--port={_free_port()}", "--ServerApp.port_retries=0")
    if hasattr(os, "getuid") and os.getuid() == 0:
        command.append("--allow-root")  # Jupyter refuses root without it (containers, CI)
    with open(log_path, "ab") as log:
        # Clean of a debugger attached to this kernel (processes.py), and detached: the control
        # plane outlives this kernel or script, for the others that use it.
        proc = processes.start(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    info_path = os.path.join(runtime_dir, f"merlin-server-{proc.pid}.json")
    deadline = time.monotonic() + timeout
    start = os.path.getsize(log_path)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"`jupyter merlin` stopped at once: {_last_words(log_path, start)}")
        refusal = _refusal(log_path, start)
        if refusal:  # the server runs on, but without a control plane: no use to anyone
            proc.terminate()
            raise RuntimeError(refusal)
        info = _read(info_path)
        if info is not None and _answers(info):
            return dict(info, log=log_path)
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"`jupyter merlin` did not start within {int(timeout)} s: {_last_words(log_path, start)}")


def _answers(info: dict[str, Any]) -> bool:
    import httpx

    try:
        return httpx.get(info["url"].rstrip("/") + "/merlin/api/v1/environments", timeout=2, trust_env=False,
                         headers={"Authorization": f"token {info.get('token', '')}"}).status_code == 200
    except (httpx.HTTPError, KeyError):
        return False


def _refusal(log_path: str, start: int) -> str | None:
    return next((line for line in _lines(log_path, start) if "already manages" in line), None)


def _read(path: str) -> dict[str, Any] | None:
    import json

    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None  # not written yet, or half written


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _lines(log_path: str, start: int) -> list[str]:
    try:
        with open(log_path, "rb") as log:
            log.seek(start)
            return [line.strip() for line in log.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return []


def _last_words(log_path: str, start: int) -> str:
    lines = _lines(log_path, start)
    return " / ".join(lines[-3:]) if lines else "it wrote nothing to its log"
