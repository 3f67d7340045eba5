"""The OpenAPI document: every $ref resolves, and every API route is documented."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from controller.haochaping.service import Haochaping
from controller.http.haochaping_api import add_haochaping_routes
from tests.controller.http.console_app import HALL, Console, console_app


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    """The console with the 好差评 routes too (as ``hallctl run`` has them)."""

    def with_haochaping(app: web.Application) -> None:
        add_haochaping_routes(app, Haochaping(tmp_path / "hall.db"))

    async with console_app(with_haochaping) as app:
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
    for new in (
        "/api/v1/halls/{hall}/staff/{staff_id}/photo",
        "/api/v1/halls/{hall}/haochaping/contacts/{case}",
        "/api/v1/halls/{hall}/haochaping/contacts/{case}/call",
        "/api/v1/users/{user}/duties",
    ):
        assert new in doc["paths"], new
    photo = doc["paths"]["/api/v1/halls/{hall}/staff/{staff_id}/photo"]["get"]
    assert photo["security"] == []  # 亮牌 needs no login
