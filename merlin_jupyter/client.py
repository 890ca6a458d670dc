"""The REST client of the control plane, and how a kernel finds it.

Discovery order: ``set_url(...)``; the ``MERLIN_URL``/``MERLIN_TOKEN`` variables a Jupyter server
with the extension exports to the kernels it starts; the ``merlin-server-<pid>.json`` files such
servers write in Jupyter's runtime directory; with none running, the standalone control plane is
started (``MERLIN_AUTOSTART=0``: say how to start one instead).
"""
from __future__ import annotations

import glob
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import httpx

from . import autostart

API_PATH = "merlin/api/v1"


class MerlinError(Exception):
    """The control plane refused a request or could not be reached; ``str()`` says why."""

    def __init__(self, message: str, status: int | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field


def _server_root(url: str) -> str:
    """The Jupyter server's base URL, given it or the ``.../merlin/api[/v1]`` URL."""
    url = url.strip().rstrip("/")
    for suffix in ("/merlin/api/v1", "/merlin/api"):
        url = url.removesuffix(suffix)
    return url + "/"


def _runtime_files() -> list[dict[str, Any]]:
    try:
        from jupyter_core.paths import jupyter_runtime_dir

        runtime = jupyter_runtime_dir()
    except ImportError:
        return []
    found = []
    for path in sorted(glob.glob(os.path.join(runtime, "merlin-server-*.json")), key=os.path.getmtime, reverse=True):
        try:
            with open(path) as handle:
                info = json.load(handle)
            os.kill(int(info["pid"]), 0)  # skip files left by servers that are gone
            found.append(info)
        except (OSError, ValueError, KeyError):
            continue
    return found


def discover() -> tuple[str, str]:
    """``(server_url, token)`` of a running control plane, or MerlinError saying how to start one."""
    if os.environ.get("MERLIN_URL"):
        return _server_root(os.environ["MERLIN_URL"]), os.environ.get("MERLIN_TOKEN", "")
    for info in _runtime_files():
        return _server_root(info["url"]), info.get("token", "")
    how = ("Open this notebook in JupyterLab with merlin-jupyter installed (`make lab`), or start "
           "one with `jupyter merlin` in a terminal, or call merlin.set_url('http://host:port', "
           "token='...') with a running server's URL and token.")
    if not autostart.enabled():
        raise MerlinError(f"No Merlin control plane found. {how}")
    from jupyter_core.paths import jupyter_runtime_dir

    print("No Merlin control plane is running: starting `jupyter merlin` for this user's data "
          "directory...", file=sys.stderr, flush=True)
    try:
        info = autostart.start(jupyter_runtime_dir())
    except RuntimeError as exc:
        raise MerlinError(f"No Merlin control plane found, and starting one failed: {exc} {how}") from None
    print(f"Started a Merlin control plane at {info['url']} (pid {info['pid']}, data in "
          f"{info.get('data_dir')}, log {info['log']}). It keeps running for other notebooks and "
          f"scripts; stop it with `kill {info['pid']}`.", file=sys.stderr, flush=True)
    return _server_root(info["url"]), info.get("token", "")


class Client:
    """Calls ``{server}merlin/api/v1`` with Jupyter's token; answers are JSON, errors MerlinError."""

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 60.0):
        if url is None:
            url, found_token = discover()
            token = token if token is not None else found_token
        self.server_url = _server_root(url)
        self.token = token or ""
        headers = {"Authorization": f"token {self.token}"} if self.token else {}
        self._http = httpx.Client(base_url=self.server_url + API_PATH, headers=headers, timeout=timeout, trust_env=False)

    @property
    def tracking_uri(self) -> str:
        return self.server_url + "merlin/mlflow"

    def _unreachable(self, exc: httpx.HTTPError) -> MerlinError:
        return MerlinError(
            f"Cannot reach the Merlin control plane at {self.server_url} ({exc.__class__.__name__}: "
            f"{exc}). Is the Jupyter server still running? Reconnect with `%merlin connect <url>` "
            "or merlin.set_url(...)."
        )

    @staticmethod
    def _error(response: httpx.Response) -> MerlinError:
        try:
            data = response.json()
            message, field = data.get("error") or data.get("message"), data.get("field")
        except ValueError:
            message, field = response.text[:500], None
        return MerlinError(message or f"HTTP {response.status_code}", response.status_code, field)

    def request(self, method: str, path: str, json_body: Any = None, *, timeout: float | None = None,
                **params: Any) -> Any:
        params = {k: v for k, v in params.items() if v is not None}
        extra = {"timeout": timeout} if timeout is not None else {}
        try:
            response = self._http.request(method, path, json=json_body, params=params or None, **extra)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if response.status_code >= 400:
            raise self._error(response)
        return response.json() if response.content else None

    def stream_lines(self, path: str, **params: Any) -> LineStream:
        """GET ``path`` as a stream of text lines (no read timeout); errors are MerlinError."""
        try:
            request = self._http.build_request("GET", path, params=params, timeout=httpx.Timeout(10.0, read=None))
            response = self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if response.status_code >= 400:
            response.read()
            response.close()
            raise self._error(response)
        return LineStream(response, self)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, **params)

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.request("POST", path, body if body is not None else {}, **params)

    def put(self, path: str, body: Any = None) -> Any:
        return self.request("PUT", path, body if body is not None else {})

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)


class LineStream:
    """Lines of a streamed answer as they arrive; ``close()`` (from any thread) ends it."""

    def __init__(self, response: httpx.Response, client: Client):
        self._response = response
        self._client = client
        self.closed = False

    def __iter__(self) -> Iterator[str]:
        try:
            yield from self._response.iter_lines()
        except (httpx.HTTPError, OSError, RuntimeError) as exc:
            if not self.closed:
                raise MerlinError(f"The log stream from {self._client.server_url} broke off ({exc}).") from None
        finally:
            self._response.close()

    def close(self) -> None:
        self.closed = True
        self._response.close()
