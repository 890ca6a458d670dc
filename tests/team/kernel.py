"""Runs code in a kernel of a user's Jupyter server, over the server's own REST and websocket
API (what JupyterLab does), so the code runs where a notebook cell of that user would."""
from __future__ import annotations

import json
import uuid

import httpx
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect


class KernelError(AssertionError):
    pass


async def run_in_kernel(server_url: str, token: str, code: str, timeout: float = 120) -> str:
    """Start a kernel, run ``code``, return what it printed; a traceback raises KernelError."""
    headers = {"Authorization": f"token {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=60, trust_env=False) as http:
        started = await http.post(f"{server_url}api/kernels", json={"name": "python3"})
        assert started.status_code == 201, started.text
        kernel_id = started.json()["id"]
        try:
            return await _execute(server_url, headers, kernel_id, code, timeout)
        finally:
            await http.delete(f"{server_url}api/kernels/{kernel_id}")


async def _execute(server_url: str, headers: dict, kernel_id: str, code: str, timeout: float) -> str:
    ws_url = server_url.replace("http", "ws", 1) + f"api/kernels/{kernel_id}/channels"
    conn = await websocket_connect(HTTPRequest(ws_url, headers=headers, request_timeout=timeout))
    msg_id = uuid.uuid4().hex
    conn.write_message(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                   "session": uuid.uuid4().hex, "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
    }))
    out, error = [], None
    import asyncio

    async def read() -> None:
        nonlocal error
        while True:
            raw = await conn.read_message()
            if raw is None:
                raise KernelError("the kernel's websocket closed")
            if isinstance(raw, bytes):
                continue  # binary (v1 protocol) frames: not asked for
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                error = "\n".join(content["traceback"])
            elif kind == "status" and content["execution_state"] == "idle":
                return

    try:
        await asyncio.wait_for(read(), timeout)
    finally:
        conn.close()
    if error:
        raise KernelError(f"{''.join(out)}\n{error}")
    return "".join(out)
