"""``GET /openapi.json``: the API's OpenAPI 3 document (a test keeps it true to the routes)."""
from __future__ import annotations

import functools
import pathlib
from typing import Any

import yaml

from .base import MerlinHandler, protected

SPEC = pathlib.Path(__file__).with_name("openapi.yaml")


@functools.lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC.read_text())


class OpenAPIHandler(MerlinHandler):
    @protected
    def get(self) -> None:
        self.reply(spec())
