"""The MLflow tracking server (API and UI), mounted behind Jupyter's authentication."""
from __future__ import annotations

import asyncio

from ..errors import Unavailable
from .base import MerlinHandler, protected


class MlflowHandler(MerlinHandler):
    def check_xsrf_cookie(self) -> None:
        # MLflow clients authenticate with the token (no XSRF needed); the MLflow UI's own
        # requests carry no XSRF header, so for cookie sessions only reads are allowed.
        if self.request.method not in ("GET", "HEAD", "OPTIONS"):
            super().check_xsrf_cookie()

    @protected
    async def get(self, path: str = "") -> None:
        host = self.settings.get("merlin_mlflow")
        if host is None:
            raise Unavailable("This server uses an external MLflow tracking server: open it directly.")
        try:
            container = await host.container()
        except asyncio.TimeoutError:
            raise Unavailable("The MLflow tracking server is still starting: try again in a moment.") from None
        except Exception as exc:  # noqa: BLE001
            raise Unavailable(f"The MLflow tracking server could not start: {exc}") from exc
        container(self.request)
        self._finished = True  # the WSGI container writes the response itself
        self.on_finish()

    post = put = patch = delete = head = get
