"""The one place the HTTP API reads and decodes request bodies, with its typed errors.

Every JSON-accepting route goes through here, so no body can reach a handler's logic (or the
log) unless it was within the size limit, valid UTF-8, nested no deeper than the decoder can
follow, and of the route's type. Anything else is answered 400/413/415 in the API's error
shape and changes nothing. Messages are Chinese: the console shows them to staff as they are.
"""

from __future__ import annotations

from typing import Final, TypeVar

import msgspec
from aiohttp import web

from controller.http.replies import error

MAX_FORM_BYTES: Final = 16 * 1024
JSON: Final = "application/json"

T = TypeVar("T")


class BadBody(Exception):
    """A body refused before it was used; ``response`` is the answer to send."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.response = error(status, code, message)


async def read_raw(request: web.Request, limit: int, *, media_type: str | None = JSON) -> bytes:
    """The whole body, at most ``limit`` bytes (413 beyond, without reading it all).

    ``media_type``: the only Content-Type accepted (415 otherwise); ``None`` takes any.
    Reads until the end: one ``read(n)`` returns what has arrived so far, not ``n`` bytes."""
    if media_type is not None and request.content_type != media_type:
        raise BadBody(415, "unsupported_media_type", f"请求内容须为 {media_type}")
    too_large = BadBody(413, "too_large", f"请求内容过大：最多 {limit} 字节")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    body = bytearray()
    while chunk := await request.content.read(limit + 1 - len(body)):
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


NOT_UTF8 = "请求内容不是有效的 UTF-8 文本"


def decode(
    body: bytes, decoder: msgspec.json.Decoder[T] | type[T], *, code: str = "bad_request"
) -> T:
    """``body`` as the decoder's type; ``BadBody`` (400, ``code``) for anything else.

    msgspec raises more than ``DecodeError`` on hostile input: ``UnicodeDecodeError`` for a
    string that is not UTF-8 (before 0.23; since, a ``DecodeError``: the body is checked
    again), ``RecursionError`` for arrays or objects nested thousands deep."""
    try:
        if isinstance(decoder, msgspec.json.Decoder):
            return decoder.decode(body)
        return msgspec.json.decode(body, type=decoder)
    except UnicodeDecodeError:
        raise BadBody(400, code, NOT_UTF8) from None
    except RecursionError:
        raise BadBody(400, code, "请求内容的 JSON 嵌套过深") from None
    except msgspec.ValidationError as exc:
        raise BadBody(400, code, f"请求内容的字段不符合要求：{exc}") from None
    except msgspec.DecodeError as exc:
        if not _is_utf8(body):
            raise BadBody(400, code, NOT_UTF8) from None
        raise BadBody(400, code, f"请求内容不是有效的 JSON：{exc}") from None


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def read_body(
    request: web.Request,
    kind: msgspec.json.Decoder[T] | type[T],
    *,
    limit: int = MAX_FORM_BYTES,
    media_type: str | None = JSON,
    code: str = "bad_request",
) -> T:
    """The body decoded as ``kind``; raises ``BadBody`` carrying the 400/413/415 answer.

    Only ``application/json`` is read by default: a browser cannot send that cross-site without
    a CORS preflight (which this server never grants), so a foreign page cannot forge a login or
    any other form-like request."""
    return decode(await read_raw(request, limit, media_type=media_type), kind, code=code)
