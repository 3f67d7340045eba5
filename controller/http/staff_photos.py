"""Staff photos (亮牌), served without login: evaluator pads fetch them by URL.

The 亮牌 rule makes a window clerk's name, 工号 and photo public (they hang at the counter), so
the photo needs no token; a pad could not hold one anyway. Only the photos named in the hall
configuration are served (``[[staff]] photo``, relative to the configuration file's folder);
the URL names the staff member, never a path, so nothing else on disk can be reached. Pads get
the absolute URL ``{[http] public_url}/public/{hall}/staff/{id}/photo`` (``devices.views``).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from aiohttp import web

from controller.http.api import HALLS, error

_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


async def staff_photo(request: web.Request) -> web.StreamResponse:
    runtime = request.app[HALLS].get(request.match_info["hall"])
    if runtime is None:
        return error(404, "unknown_hall", "没有这个大厅")
    config = runtime.engine.config
    staff_id = request.match_info["staff"]
    member = next((s for s in config.staff if s.id == staff_id), None)
    if member is None or not member.photo or member.photo.startswith(("http://", "https://")):
        return error(404, "no_photo", "没有这位工作人员的照片")
    folder = Path(config.source).parent if config.source else Path.cwd()
    path = folder / member.photo
    if not path.is_file():
        return error(404, "no_photo", "照片文件不存在，请管理员检查配置")
    kind = _TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    return web.FileResponse(
        path,
        headers={
            "Content-Type": kind or "application/octet-stream",
            "Cache-Control": "max-age=300",
        },
    )


def add_photo_routes(app: web.Application) -> None:
    app.router.add_get("/public/{hall}/staff/{staff}/photo", staff_photo)
