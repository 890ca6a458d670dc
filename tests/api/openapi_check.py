"""Validates a live response against the served OpenAPI document."""
from __future__ import annotations

import copy
import re
from typing import Any

import jsonschema

from merlin_jupyter_server.routes.openapi import spec


def _nullable(schema: Any) -> Any:
    # OpenAPI 3.0's `nullable` is not JSON Schema: spell it as a type union.
    if isinstance(schema, dict):
        schema = {k: _nullable(v) for k, v in schema.items()}
        if schema.pop("nullable", False):
            if "type" in schema:
                schema["type"] = [schema["type"], "null"]
            elif "allOf" in schema:  # {allOf: [$ref], nullable: true}: that object, or null
                schema = {"anyOf": [{"type": "null"}, schema]}
        return schema
    if isinstance(schema, list):
        return [_nullable(s) for s in schema]
    return schema


DOC = _nullable(copy.deepcopy(spec()))


def template_for(path: str) -> str:
    """The spec's path template matching a concrete request path."""
    for template in DOC["paths"]:
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path):
            return template
    raise AssertionError(f"{path} is not in the OpenAPI document")


def validate(method: str, path: str, status: int, body: Any) -> None:
    operation = DOC["paths"][template_for(path.split("?", 1)[0])][method.lower()]
    response = operation["responses"].get(str(status)) or operation["responses"].get("default")
    assert response is not None, f"{method} {path} answered {status}, which the document does not list"
    if "$ref" in response:
        response = DOC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = response["content"]["application/json"]["schema"]
    wrapped = {**schema, "components": DOC["components"]}
    jsonschema.validate(body, wrapped, cls=jsonschema.Draft7Validator)
