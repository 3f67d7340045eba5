"""亮牌: the staff photo, served without login (a clerk's name, 工号 and photo are public at the
window by rule) to the console's window tiles, the hall screen and the evaluator pads.

``GET /api/v1/halls/{hall}/staff/{staff_id}/photo`` (and the same at ``PAD_ROUTE``, the
absolute URL ``{[http] public_url}/public/{hall}/staff/{id}/photo`` that pads are sent by
``devices.views.photo_url``): the ``[[staff]] photo`` file, its path
relative to the configuration file's folder; the content type is read from the file's first
bytes (JPEG, PNG, GIF, WebP), never from its name; files over ``MAX_PHOTO_BYTES`` or of another
kind are not served. A photo given as an http(s) URL is a redirect to it. Unknown staff, no
photo, or a file that cannot be served: 404 with a code (``unknown_staff``, ``no_photo``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Final

from aiohttp import web

from controller.config.model import HallConfig
from controller.daemon.runtime import HallRuntime
from controller.http.replies import error

log = logging.getLogger("hallctl.http")

MAX_PHOTO_BYTES: Final = 2 * 1024 * 1024
PHOTO_HALLS: Final = web.AppKey("photo_halls", dict[str, HallRuntime])
ROUTE: Final = "/api/v1/halls/{hall}/staff/{staff_id}/photo"
PAD_ROUTE: Final = "/public/{hall}/staff/{staff_id}/photo"  # under the public prefix


def path_of(hall_id: str, staff_id: str) -> str:
    """The route for one clerk's photo (what the console and the screen ask for)."""
    return f"/api/v1/halls/{hall_id}/staff/{staff_id}/photo"


def image_type(head: bytes) -> str | None:
    """The image's media type from its magic bytes, None for anything else."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def photo_file(config: HallConfig, photo: str) -> Path:
    """``photo`` relative to the configuration file's folder (the working directory for a
    configuration that was not read from a file)."""
    path = Path(photo)
    if path.is_absolute() or config.source.startswith("<"):
        return path
    return Path(os.path.dirname(os.path.abspath(config.source))) / path


def _read(path: Path) -> tuple[bytes, str] | str:
    """(bytes, media type), or why the file is not served."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_PHOTO_BYTES + 1)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    if len(data) > MAX_PHOTO_BYTES:
        return f"{path} is over {MAX_PHOTO_BYTES // 1024} KiB"
    kind = image_type(data[:16])
    if kind is None:
        return f"{path} is not a JPEG, PNG, GIF or WebP image"
    return data, kind


async def get_photo(request: web.Request) -> web.StreamResponse:
    runtime = request.app[PHOTO_HALLS].get(request.match_info["hall"])
    if runtime is None:
        return error(404, "unknown_hall", "no such hall")
    config = runtime.engine.config
    staff_id = request.match_info["staff_id"]
    staff = next((s for s in config.staff if s.id == staff_id), None)
    if staff is None:
        return error(404, "unknown_staff", "no such staff member")
    if not staff.photo:
        return error(404, "no_photo", "this staff member has no photo")
    if staff.photo.startswith(("http://", "https://")):
        raise web.HTTPFound(staff.photo)
    read = await asyncio.to_thread(_read, photo_file(config, staff.photo))
    if isinstance(read, str):
        log.warning("staff photo not served: %s", read, extra={"hall": runtime.hall_id})
        return error(404, "no_photo", "the photo cannot be served")
    data, kind = read
    return web.Response(
        body=data, content_type=kind, headers={"Cache-Control": "public, max-age=300"}
    )


def add_photo_route(app: web.Application, halls: dict[str, HallRuntime]) -> None:
    app[PHOTO_HALLS] = halls
    app.router.add_get(ROUTE, get_photo)
    app.router.add_get(PAD_ROUTE, get_photo)
