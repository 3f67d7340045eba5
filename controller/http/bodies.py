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
    """The body decoded as ``kind``; raises ``BadBody`` carrying the 400/413 answer."""
    body = await request.content.read(MAX_FORM_BYTES + 1)
    if len(body) > MAX_FORM_BYTES:
        raise BadBody(error(413, "too_large", f"a request body is at most {MAX_FORM_BYTES} bytes"))
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.DecodeError as exc:
        raise BadBody(error(400, "bad_request", str(exc))) from exc
