"""Access control: refused without a session, with the wrong role or a bad CSRF token, with a
malformed body; sessions and tokens let the right people in; every change is audited."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.controller.http.console_app import HALL, Console, console_app

COMMANDS = f"/api/v1/halls/{HALL}/commands"


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    async with console_app() as app:
        yield app


async def test_login_sets_an_httponly_samesite_cookie(console: Console) -> None:
    response = await console.client.post(
        "/api/v1/session", json={"user": "op", "password": "test-password-1"}
    )
    assert response.status == 200
    cookie = response.headers["Set-Cookie"]
    assert "hallctl_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    body = await response.json()
    assert body["role"] == "operator" and len(body["csrf"]) == 40
    me = await console.client.get("/api/v1/session")
    assert (await me.json())["csrf"] == body["csrf"]


@pytest.mark.parametrize(
    "path", ["/api/v1/halls", f"/api/v1/halls/{HALL}", f"/api/v1/halls/{HALL}/devices", "/metrics"]
)
async def test_reads_need_a_session(console: Console, path: str) -> None:
    response = await console.client.get(path)
    assert response.status == 401
    assert (await response.json())["code"] == "not_logged_in"


async def test_command_without_session_is_401_and_changes_nothing(console: Console) -> None:
    response = await console.client.post(COMMANDS, json={"type": "issue_ticket", "service": "A"})
    assert response.status == 401
    assert console.runtime.state.totals.issued == 0


async def test_bad_csrf_is_403_audited_and_changes_nothing(console: Console) -> None:
    csrf = await console.login("op")
    for sent in (None, "wrong", csrf[:-1]):
        response = await console.post(COMMANDS, {"type": "issue_ticket", "service": "A"}, sent)
        assert response.status == 403
        assert (await response.json())["code"] == "bad_csrf"
    assert console.runtime.state.totals.issued == 0
    audit = list(console.ctx.directory.audit_trail)
    assert [a.outcome for a in audit[-3:]] == ["bad_csrf"] * 3 and audit[-1].actor == "op"


async def test_viewer_may_read_but_not_command(console: Console) -> None:
    csrf = await console.login("viewer")
    assert (await console.client.get(f"/api/v1/halls/{HALL}")).status == 200
    response = await console.post(COMMANDS, {"type": "issue_ticket", "service": "A"}, csrf)
    assert response.status == 403
    assert (await response.json())["code"] == "forbidden"
    assert console.runtime.state.totals.issued == 0
    assert (await console.client.get("/api/v1/users")).status == 403


async def test_operator_command_is_durable_and_audited(console: Console) -> None:
    csrf = await console.login("op")
    response = await console.post(COMMANDS, {"type": "issue_ticket", "service": "A"}, csrf)
    assert response.status == 200
    assert console.runtime.state.totals.issued == 1
    last = console.ctx.directory.audit_trail[-1]
    assert (last.actor, last.via, last.action, last.hall, last.status) == (
        "op",
        "session",
        "command:issue_ticket",
        HALL,
        200,
    )
    assert '"service":"A"' in last.detail.replace(" ", "")


async def test_refused_command_is_audited_with_the_engine_reason(console: Console) -> None:
    csrf = await console.login("op")
    response = await console.post(COMMANDS, {"type": "call_next", "window": 1}, csrf)
    assert response.status == 409
    last = console.ctx.directory.audit_trail[-1]
    assert (last.status, last.outcome) == (409, "window_logged_out")


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{}", b'{"user": "op"}', b'{"user": 1, "password": "x"}', b"[]"],
)
async def test_malformed_login_is_400(console: Console, body: bytes) -> None:
    response = await console.client.post(
        "/api/v1/session", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert (await response.json())["code"] == "bad_request"


async def test_login_from_a_form_is_refused(console: Console) -> None:
    """A cross-site form can post text/plain, never application/json without a preflight."""
    response = await console.client.post(
        "/api/v1/session",
        data=b'{"user": "op", "password": "test-password-1"}',
        headers={"Content-Type": "text/plain"},
    )
    assert response.status == 415
    assert "Set-Cookie" not in response.headers


async def test_wrong_password_is_401_and_audited(console: Console) -> None:
    response = await console.client.post(
        "/api/v1/session", json={"user": "op", "password": "not-the-password"}
    )
    assert response.status == 401
    assert (await response.json())["code"] == "bad_credentials"
    last = console.ctx.directory.audit_trail[-1]
    assert (last.actor, last.action, last.outcome) == ("op", "login", "bad_credentials")


async def test_api_token_needs_no_csrf_and_can_be_revoked(console: Console) -> None:
    csrf = await console.login("admin")
    issued = await console.post("/api/v1/tokens", {"user": "op", "name": "kiosk-bridge"}, csrf)
    assert issued.status == 200
    token = (await issued.json())["token"]
    token_id = (await issued.json())["token_id"]
    console.client.session.cookie_jar.clear()
    bearer = {"Authorization": f"Bearer {token}"}
    response = await console.client.post(
        COMMANDS, json={"type": "issue_ticket", "service": "B"}, headers=bearer
    )
    assert response.status == 200
    assert console.ctx.directory.audit_trail[-1].via == f"token:{token_id}"
    csrf = await console.login("admin")
    revoked = await console.client.delete(
        f"/api/v1/tokens/{token_id}", headers={"X-CSRF-Token": csrf}
    )
    assert revoked.status == 200
    console.client.session.cookie_jar.clear()
    again = await console.client.get(f"/api/v1/halls/{HALL}", headers=bearer)
    assert again.status == 401


async def test_admin_manages_accounts(console: Console) -> None:
    csrf = await console.login("admin")
    added = await console.post(
        "/api/v1/users",
        {"user": "zhang", "password": "another-pass-1", "role": "operator", "display_name": "张"},
        csrf,
    )
    assert added.status == 200
    weak = await console.post(
        "/api/v1/users", {"user": "li", "password": "short", "role": "viewer"}, csrf
    )
    assert weak.status == 400 and (await weak.json())["code"] == "weak_password"
    bad_role = await console.post(
        "/api/v1/users", {"user": "li", "password": "long-enough-1", "role": "king"}, csrf
    )
    assert bad_role.status == 400
    users = {u["user"]: u["role"] for u in await (await console.client.get("/api/v1/users")).json()}
    assert users["zhang"] == "operator" and "li" not in users
    trail = await (await console.client.get("/api/v1/audit?limit=5")).json()
    assert trail[0]["action"] == "user_add" and trail[0]["outcome"] == "bad_request"


async def test_logout_ends_the_session(console: Console) -> None:
    csrf = await console.login("viewer")
    response = await console.client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})
    assert response.status == 200
    assert (await console.client.get(f"/api/v1/halls/{HALL}")).status == 401


async def test_console_pages_are_public_and_locked_down(console: Console) -> None:
    response = await console.client.get("/console/common.css")
    assert response.status == 200
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    root = await console.client.get("/", allow_redirects=False)
    assert root.status == 302 and root.headers["Location"] == "/console/hall.html"


async def test_an_admin_cannot_lock_themselves_out(console: Console) -> None:
    csrf = await console.login("admin")
    disabled = await console.post("/api/v1/users/admin/disable", {}, csrf)
    demoted = await console.post("/api/v1/users/admin/role", {"role": "viewer"}, csrf)
    assert [disabled.status, demoted.status] == [409, 409]
    assert (await demoted.json())["code"] == "self_lockout"
    assert console.ctx.directory.accounts["admin"].enabled
    assert console.ctx.directory.accounts["admin"].role.value == "admin"
