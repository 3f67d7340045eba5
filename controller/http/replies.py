"""JSON answers and the API's error shape ``{"code": ..., "message": ..., "detail": ...}``.

``code`` is the stable English code for machines, ``message`` the Chinese sentence people read
(from ``messages``, one table), ``detail`` the English particulars when there are any. Its own
module so that the body reader (``bodies``) and the routes can both use it without importing
each other."""

from __future__ import annotations

import re

import msgspec
from aiohttp import web

from controller.http import messages

_json = msgspec.json.Encoder()
_HAN = re.compile(r"[\u4e00-\u9fff]")


class ErrorReply(msgspec.Struct, frozen=True, omit_defaults=True):
    code: str
    message: str
    detail: str = ""


def json_response(body: object, status: int = 200) -> web.Response:
    return web.Response(body=_json.encode(body), status=status, content_type="application/json")


def error(status: int, code: str, detail: str, **facts: object) -> web.Response:
    """The error answer; a ``detail`` already in Chinese is the sentence's ``problem``."""
    if _HAN.search(detail):
        facts.setdefault("problem", detail)
        detail = ""
    message = messages.text(code, facts)
    return json_response(ErrorReply(code=code, message=message, detail=detail), status)
