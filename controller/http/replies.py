"""JSON answers and the API's error shape ``{"code": ..., "message": ...}``.

Its own module so that the body reader (``bodies``) and the routes can both use it without
importing each other."""

from __future__ import annotations

import msgspec
from aiohttp import web

_json = msgspec.json.Encoder()


class ErrorReply(msgspec.Struct, frozen=True):
    code: str
    message: str


def json_response(body: object, status: int = 200) -> web.Response:
    return web.Response(body=_json.encode(body), status=status, content_type="application/json")


def error(status: int, code: str, message: str) -> web.Response:
    return json_response(ErrorReply(code=code, message=message), status)
