"""Who may do what: authentication, roles, CSRF and the audit of every state change.

One aiohttp middleware in front of every route:

1. Public routes (login, static console assets, ``/healthz``, the OpenAPI document, the
   citizens' 追评 pages under ``/hcp/``, staff photos for 亮牌) pass.
2. Otherwise the request needs a principal: an ``Authorization: Bearer hct_...`` API token
   (machine clients) or the ``hallctl_session`` cookie (HttpOnly, SameSite=Strict). None: 401.
3. A state-changing request made with a session cookie must echo the session's CSRF token in
   ``X-CSRF-Token`` (403 ``bad_csrf`` otherwise); tokens are not sent by browsers on their own,
   so they need none.
4. The route's role (``ROUTE_ROLES``; reads default to viewer, changes to operator) is checked;
   the command API and the 好差评 case routes then check the command's own gate
   (``controller.auth.permissions``). A token with a limit (``scope``: ``booking``) instead
   reaches exactly its ``SCOPE_ROUTES`` and nothing else.
5. Every non-GET request that reached step 2 is audited as an access event after it ran:
   who, what (``request[AUDIT_ACTION]`` set by the handler, else method and route), which
   hall, the outcome's HTTP status and error code. Refusals are audited too.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Final

import msgspec
from aiohttp import web

from controller.auth.directory import STORE_UNAVAILABLE, AccessError, Principal
from controller.auth.model import Role, Scope
from controller.daemon.logs import Reminder
from controller.http.api import error
from controller.http.context import AUDIT_ACTION, AUDIT_DETAIL, CONSOLE, PRINCIPAL

log = logging.getLogger("hallctl.http")

SESSION_COOKIE: Final = "hallctl_session"
CSRF_HEADER: Final = "X-CSRF-Token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
# /hcp/: the citizen's 追评 page behind a ticket's QR code (its signed token is the credential).
# /public/, /api/v1/public/: 评价信息公开 (counts and rates only), the citizens' booking page
# and its API (rate-limited per address), and the staff photos pads fetch (亮牌 makes them
# public: controller.http.staff_photos).
PUBLIC_PREFIXES: Final = (
    "/console/",
    "/healthz",
    "/api/v1/openapi.json",
    "/hcp/",
    "/public/",
    "/api/v1/public/",
)
PUBLIC_ROUTES: Final = frozenset(
    {
        ("POST", "/api/v1/session"),
        ("GET", "/"),
        ("GET", "/api/v1/halls/{hall}/staff/{staff_id}/photo"),  # 亮牌 is public
        ("HEAD", "/api/v1/halls/{hall}/staff/{staff_id}/photo"),
    }
)

ROUTE_ROLES: Final[dict[tuple[str, str], Role]] = {
    ("GET", "/api/v1/users"): Role.ADMIN,
    ("POST", "/api/v1/users"): Role.ADMIN,
    ("POST", "/api/v1/users/{user}/disable"): Role.ADMIN,
    ("POST", "/api/v1/users/{user}/password"): Role.ADMIN,
    ("POST", "/api/v1/users/{user}/role"): Role.ADMIN,
    ("POST", "/api/v1/users/{user}/duties"): Role.ADMIN,
    ("GET", "/api/v1/tokens"): Role.ADMIN,
    ("POST", "/api/v1/tokens"): Role.ADMIN,
    ("DELETE", "/api/v1/tokens/{token_id}"): Role.ADMIN,
    ("GET", "/api/v1/audit"): Role.ADMIN,
    ("DELETE", "/api/v1/session"): Role.VIEWER,  # anyone may log out
    # One route, every command: the command's own gate decides (controller.auth.permissions),
    # so an integration token of a viewer account may still rate through its scoped channel.
    ("POST", "/api/v1/halls/{hall}/commands"): Role.VIEWER,
    # 好差评 case steps and 回访: the duty decides (reviewer, followup, department).
    ("POST", "/api/v1/halls/{hall}/haochaping/cases/{case}/{step}"): Role.VIEWER,
    ("POST", "/api/v1/halls/{hall}/haochaping/contacts/{case}"): Role.VIEWER,
    ("POST", "/api/v1/halls/{hall}/haochaping/contacts/{case}/call"): Role.VIEWER,
}

# What a scoped token may reach: these routes and nothing else (any role may use them).
SCOPE_ROUTES: Final[dict[Scope, frozenset[tuple[str, str]]]] = {
    Scope.BOOKING: frozenset(
        {
            ("GET", "/api/v1/halls/{hall}/booking"),
            ("GET", "/api/v1/halls/{hall}/booking/slots"),
            ("POST", "/api/v1/halls/{hall}/bookings"),
            ("GET", "/api/v1/halls/{hall}/bookings/{code}"),
            ("POST", "/api/v1/halls/{hall}/bookings/{code}/cancel"),
            ("POST", "/api/v1/halls/{hall}/bookings/{code}/reschedule"),
        }
    )
}

_AUDIT_REMINDER: Final = Reminder(60.0)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_error_decoder = msgspec.json.Decoder(dict[str, str])


def route_pattern(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else request.path


def needed_role(method: str, pattern: str) -> Role:
    role = ROUTE_ROLES.get((method, pattern))
    if role is not None:
        return role
    return Role.VIEWER if method in SAFE_METHODS else Role.OPERATOR


def is_public(method: str, path: str, pattern: str) -> bool:
    return (method, pattern) in PUBLIC_ROUTES or path.startswith(PUBLIC_PREFIXES)


def authenticate(request: web.Request) -> Principal | None:
    directory = request.app[CONSOLE].directory
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return directory.token(header[7:].strip())
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return directory.session(cookie)
    return None


def _outcome(response: web.StreamResponse) -> str:
    if response.status < 400:
        return "ok"
    body = getattr(response, "body", None)
    if isinstance(body, bytes):
        try:
            return _error_decoder.decode(body).get("code", "error")
        except msgspec.DecodeError:
            pass
    return "error"


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    pattern = route_pattern(request)
    method = request.method
    if is_public(method, request.path, pattern):
        return await handler(request)
    principal = authenticate(request)
    if principal is None:
        return error(401, "not_logged_in", "log in or send an API token")
    refusal: web.Response | None = None
    if method not in SAFE_METHODS and principal.csrf is not None:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), principal.csrf.encode()):
            refusal = error(403, "bad_csrf", f"missing or wrong {CSRF_HEADER} header")
    role = needed_role(method, pattern)
    if principal.scope is not None:
        if refusal is None and (method, pattern) not in SCOPE_ROUTES[principal.scope]:
            refusal = error(
                403, "forbidden", f"a {principal.scope.value} token may only use its routes"
            )
    elif refusal is None and not principal.role.allows(role):
        refusal = error(
            403, "forbidden", f"{principal.role.value} may not do this; needs {role.value}"
        )
    if refusal is not None:
        if method not in SAFE_METHODS:
            await _audit(request, principal, pattern, refusal)
        return refusal
    request[PRINCIPAL] = principal
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if method not in SAFE_METHODS:
            await _audit(request, principal, pattern, exc)
        raise
    if method not in SAFE_METHODS:
        await _audit(request, principal, pattern, response)
    return response


async def _audit(
    request: web.Request, principal: Principal, pattern: str, response: web.StreamResponse
) -> None:
    directory = request.app[CONSOLE].directory
    try:
        await directory.audit(
            actor=principal.user,
            via=principal.via,
            action=request.get(AUDIT_ACTION) or f"{request.method} {pattern}",
            hall=request.match_info.get("hall", ""),
            detail=request.get(AUDIT_DETAIL, ""),
            status=response.status,
            outcome=_outcome(response),
        )
    except AccessError as exc:
        if exc.code != STORE_UNAVAILABLE:
            log.exception("audit record failed", extra={"user": principal.user})
        elif _AUDIT_REMINDER.due():  # the store supervisor has logged the outage itself
            log.warning("audit records lost while the store cannot be written")
    except Exception:  # the action itself is already durable; say loudly that its audit is not
        log.exception("audit record failed", extra={"user": principal.user})


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """No framing, no foreign scripts: the console only ever loads its own assets."""
    response = await handler(request)
    if not response.prepared:
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
            "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
