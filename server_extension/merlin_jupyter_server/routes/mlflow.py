"""The MLflow tracking server (API and UI), mounted behind Jupyter's authentication."""
from __future__ import annotations

import asyncio

from ..errors import Unavailable
from .base import MerlinHandler, protected


class MlflowHandler(MerlinHandler):
    def check_xsrf_cookie(self) -> None:
        # MLflow clients authenticate with the token (no XSRF needed). The MLflow UI's own
        # requests carry no XSRF token, and it searches runs with POSTs; the browser marks them
        # Sec-Fetch-Site: same-origin, a header no page can set, which a forged request from
        # another site cannot carry. Anything else needs Jupyter's XSRF token as usual.
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return
        if self.request.headers.get("Sec-Fetch-Site") == "same-origin":
            return
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
