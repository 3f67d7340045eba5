"""The OpenAPI document: every $ref resolves, and every API route is documented."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.controller.http.console_app import HALL, Console, console_app


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    async with console_app() as app:
        yield app


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


async def test_document_is_public_complete_and_self_consistent(console: Console) -> None:
    response = await console.client.get("/api/v1/openapi.json")
    assert response.status == 200
    doc = await response.json()
    assert doc["openapi"].startswith("3.1")
    schemas = doc["components"]["schemas"]
    missing = {r for r in refs(doc) if r.removeprefix("#/components/schemas/") not in schemas}
    assert not missing
    params = doc["paths"]["/api/v1/halls/{hall}"]["parameters"]
    assert params[0]["schema"]["enum"] == [HALL]
    documented = {
        (method.upper(), path) for path, ops in doc["paths"].items() for method in ops
    } | {("HEAD", p) for p in doc["paths"]}
    for route in console.client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)  # {ticket:\d+} -> {ticket}
        path = path.replace("figures.{fmt}", "figures.csv")
        if not path.startswith("/api/v1/") or route.method == "HEAD" or "openapi" in path:
            continue
        assert (route.method, path) in documented, (route.method, path)
