"""Reading JSON request bodies into typed structs, with the API's errors for bad ones."""

from __future__ import annotations

from typing import Final, TypeVar

import msgspec
from aiohttp import web

from controller.http.api import error

MAX_FORM_BYTES: Final = 16 * 1024

T = TypeVar("T")


class BadBody(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__(response.text)
        self.response = response


async def read_body(request: web.Request, kind: type[T]) -> T:
    """The body decoded as ``kind``; raises ``BadBody`` carrying the 400/413/415 answer.

    Only ``application/json`` is read: a browser cannot send that cross-site without a CORS
    preflight (which this server never grants), so a foreign page cannot forge a login or any
    other form-like request."""
    if request.content_type != "application/json":
        raise BadBody(error(415, "unsupported_media_type", "send the body as application/json"))
    body = await request.content.read(MAX_FORM_BYTES + 1)
    if len(body) > MAX_FORM_BYTES:
        raise BadBody(error(413, "too_large", f"a request body is at most {MAX_FORM_BYTES} bytes"))
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.DecodeError as exc:
        raise BadBody(error(400, "bad_request", str(exc))) from exc
