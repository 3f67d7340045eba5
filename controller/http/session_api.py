"""Logging in and out, and the administration of accounts, API tokens and the audit trail."""

from __future__ import annotations

import contextlib

import msgspec
from aiohttp import web

from controller.auth.directory import (
    SESSION_TTL_MS,
    STORE_UNAVAILABLE,
    AccessDirectory,
    AccessError,
    Account,
    Principal,
)
from controller.auth.model import ActionAudited, Duty, Role, Scope
from controller.http.access import SESSION_COOKIE
from controller.http.api import error, json_response
from controller.http.bodies import BadBody, read_body
from controller.http.context import AUDIT_ACTION, AUDIT_DETAIL, CONSOLE, PRINCIPAL


class LoginBody(msgspec.Struct, frozen=True):
    user: str
    password: str


class SessionView(msgspec.Struct, frozen=True):
    user: str
    role: Role
    csrf: str | None
    display_name: str = ""
    duties: list[Duty] = msgspec.field(default_factory=list)
    departments: list[str] = msgspec.field(default_factory=list)
    staff_id: str = ""


class NewUserBody(msgspec.Struct, frozen=True):
    user: str
    password: str
    role: Role
    display_name: str = ""


class PasswordBody(msgspec.Struct, frozen=True):
    password: str


class RoleBody(msgspec.Struct, frozen=True):
    role: Role


class DutiesBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """好差评 duties (reviewer, followup, department), the departments (ids or ``*``) the
    department duty covers, and the 工号 of the clerk the account belongs to."""

    duties: list[Duty]
    departments: list[str] = msgspec.field(default_factory=list)
    staff_id: str = ""


class UserView(msgspec.Struct, frozen=True):
    user: str
    role: Role
    display_name: str
    enabled: bool
    created_at: int
    duties: list[Duty] = msgspec.field(default_factory=list)
    departments: list[str] = msgspec.field(default_factory=list)
    staff_id: str = ""


class NewTokenBody(msgspec.Struct, frozen=True):
    user: str
    name: str
    scopes: list[str] = msgspec.field(default_factory=list)  # rating_source:<channel>
    scope: Scope | None = None  # a limit: "booking", the booking routes only


class TokenView(msgspec.Struct, frozen=True):
    token_id: str
    user: str
    name: str
    issued_at: int
    scopes: list[str] = msgspec.field(default_factory=list)
    scope: Scope | None = None


class NewTokenReply(msgspec.Struct, frozen=True):
    token_id: str
    token: str  # shown once


def _directory(request: web.Request) -> AccessDirectory:
    return request.app[CONSOLE].directory


def _user_view(account: Account) -> UserView:
    return UserView(
        account.user,
        account.role,
        account.display_name,
        account.enabled,
        account.created_at,
        sorted(account.duties, key=lambda d: d.value),
        list(account.departments),
        account.staff_id,
    )


def _session_view(principal: Principal, account: Account) -> SessionView:
    return SessionView(
        principal.user,
        principal.role,
        principal.csrf,
        account.display_name,
        sorted(account.duties, key=lambda d: d.value),
        list(account.departments),
        account.staff_id,
    )


def _principal(request: web.Request) -> Principal:
    principal: Principal = request[PRINCIPAL]
    return principal


def _refused(exc: AccessError) -> web.Response:
    status = {
        "bad_credentials": 401,
        "login_throttled": 429,
        "unknown_user": 404,
        STORE_UNAVAILABLE: 503,
    }.get(exc.code, 400)
    if exc.code in ("unknown_token",):
        status = 404
    return error(status, exc.code, exc.message)


async def login(request: web.Request) -> web.Response:
    directory = _directory(request)
    try:
        body = await read_body(request, LoginBody)
    except BadBody as bad:
        return bad.response
    try:
        session_id, principal = await directory.login(body.user, body.password)
    except AccessError as exc:
        if exc.code != STORE_UNAVAILABLE:  # nothing can be audited while the store is down
            with contextlib.suppress(AccessError):
                await directory.audit(
                    actor=body.user[:64],
                    via="password",
                    action="login",
                    status=401,
                    outcome=exc.code,
                )
        return _refused(exc)
    with contextlib.suppress(AccessError):  # the session is durable; its audit line may not be
        await directory.audit(actor=principal.user, via="password", action="login")
    account = directory.accounts[principal.user]
    response = json_response(_session_view(principal, account))
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=SESSION_TTL_MS // 1000,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
    )
    return response


async def current_session(request: web.Request) -> web.Response:
    principal = _principal(request)
    account = _directory(request).accounts[principal.user]
    return json_response(_session_view(principal, account))


async def logout(request: web.Request) -> web.Response:
    request[AUDIT_ACTION] = "logout"
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            await _directory(request).logout(cookie)
        except AccessError as exc:
            return _refused(exc)
    response = json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def list_users(request: web.Request) -> web.Response:
    accounts = _directory(request).accounts.values()
    return json_response([_user_view(a) for a in accounts])


async def add_user(request: web.Request) -> web.Response:
    request[AUDIT_ACTION] = "user_add"
    try:
        body = await read_body(request, NewUserBody)
    except BadBody as bad:
        return bad.response
    request[AUDIT_DETAIL] = f"{body.user} as {body.role.value}"
    try:
        account = await _directory(request).add_user(
            body.user,
            body.password,
            body.role,
            display_name=body.display_name,
            by=_principal(request).user,
        )
    except AccessError as exc:
        return _refused(exc)
    return json_response(_user_view(account))


def _not_yourself(request: web.Request, user: str) -> web.Response | None:
    """An admin cannot disable or demote themselves: someone must be left to undo it."""
    if user == _principal(request).user:
        return error(409, "self_lockout", "ask another admin to disable or demote you")
    return None


async def disable_user(request: web.Request) -> web.Response:
    user = request.match_info["user"]
    request[AUDIT_ACTION] = "user_disable"
    request[AUDIT_DETAIL] = user
    refused = _not_yourself(request, user)
    if refused is not None:
        return refused
    try:
        await _directory(request).disable(user, by=_principal(request).user)
    except AccessError as exc:
        return _refused(exc)
    return json_response({"ok": True})


async def set_password(request: web.Request) -> web.Response:
    user = request.match_info["user"]
    request[AUDIT_ACTION] = "user_password"
    request[AUDIT_DETAIL] = user
    try:
        body = await read_body(request, PasswordBody)
        await _directory(request).set_password(user, body.password, by=_principal(request).user)
    except BadBody as bad:
        return bad.response
    except AccessError as exc:
        return _refused(exc)
    return json_response({"ok": True})


async def set_role(request: web.Request) -> web.Response:
    user = request.match_info["user"]
    request[AUDIT_ACTION] = "user_role"
    try:
        body = await read_body(request, RoleBody)
        request[AUDIT_DETAIL] = f"{user} -> {body.role.value}"
        refused = _not_yourself(request, user) if body.role is not Role.ADMIN else None
        if refused is not None:
            return refused
        await _directory(request).set_role(user, body.role, by=_principal(request).user)
    except BadBody as bad:
        return bad.response
    except AccessError as exc:
        return _refused(exc)
    return json_response({"ok": True})


async def set_duties(request: web.Request) -> web.Response:
    """Grant 好差评 duties. An admin may grant them to themselves: the grant is audited, and
    separation is still enforced per case (no step on one's own case, no deciding one's own
    appeal)."""
    user = request.match_info["user"]
    request[AUDIT_ACTION] = "user_duties"
    try:
        body = await read_body(request, DutiesBody)
        request[AUDIT_DETAIL] = (
            f"{user}: {','.join(d.value for d in body.duties) or '-'}"
            f" departments={','.join(body.departments) or '-'} staff={body.staff_id or '-'}"
        )
        await _directory(request).set_duties(
            user,
            tuple(body.duties),
            departments=tuple(body.departments),
            staff_id=body.staff_id,
            by=_principal(request).user,
        )
    except BadBody as bad:
        return bad.response
    except AccessError as exc:
        return _refused(exc)
    return json_response(_user_view(_directory(request).accounts[user]))


async def list_tokens(request: web.Request) -> web.Response:
    return json_response(
        [
            TokenView(t.token_id, t.user, t.name, t.issued_at, list(t.scopes), t.scope)
            for t in _directory(request).tokens()
        ]
    )


async def issue_token(request: web.Request) -> web.Response:
    request[AUDIT_ACTION] = "token_issue"
    try:
        body = await read_body(request, NewTokenBody)
    except BadBody as bad:
        return bad.response
    scoped = f" ({body.scope.value})" if body.scope is not None else ""
    request[AUDIT_DETAIL] = f"{body.name} for {body.user}{scoped}" + (
        f" scopes={','.join(body.scopes)}" if body.scopes else ""
    )
    try:
        token_id, secret = await _directory(request).issue_token(
            body.user,
            body.name,
            by=_principal(request).user,
            scopes=tuple(body.scopes),
            scope=body.scope,
        )
    except AccessError as exc:
        return _refused(exc)
    return json_response(NewTokenReply(token_id, secret))


async def revoke_token(request: web.Request) -> web.Response:
    token_id = request.match_info["token_id"]
    request[AUDIT_ACTION] = "token_revoke"
    request[AUDIT_DETAIL] = token_id
    try:
        await _directory(request).revoke_token(token_id, by=_principal(request).user)
    except AccessError as exc:
        return _refused(exc)
    return json_response({"ok": True})


async def audit_trail(request: web.Request) -> web.Response:
    try:
        limit = max(1, min(1000, int(request.query.get("limit", "200"))))
    except ValueError:
        return error(400, "bad_request", "limit must be an integer")
    trail: list[ActionAudited] = list(_directory(request).audit_trail)[-limit:]
    trail.reverse()
    return json_response(trail)


def add_session_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/session", login)
    app.router.add_get("/api/v1/session", current_session)
    app.router.add_delete("/api/v1/session", logout)
    app.router.add_get("/api/v1/users", list_users)
    app.router.add_post("/api/v1/users", add_user)
    app.router.add_post("/api/v1/users/{user}/disable", disable_user)
    app.router.add_post("/api/v1/users/{user}/password", set_password)
    app.router.add_post("/api/v1/users/{user}/role", set_role)
    app.router.add_post("/api/v1/users/{user}/duties", set_duties)
    app.router.add_get("/api/v1/tokens", list_tokens)
    app.router.add_post("/api/v1/tokens", issue_token)
    app.router.add_delete("/api/v1/tokens/{token_id}", revoke_token)
    app.router.add_get("/api/v1/audit", audit_trail)
