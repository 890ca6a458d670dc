"""``GET /user``: who the control plane takes the caller for, so the panel and scripts can say it."""
from __future__ import annotations

from .base import MerlinHandler, protected


class CallerHandler(MerlinHandler):
    @protected
    async def get(self) -> None:
        caller = self.caller
        self.reply({"name": caller.name, "hub_admin": caller.hub_admin, "team_mode": caller.team})
