"""The account directory: accounts, sessions, tokens and audit survive a reopen; bad input
is refused with a typed error and changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from controller.auth.directory import AccessDirectory, AccessError, csrf_for
from controller.auth.model import ACCESS_STREAM, Role, Scope
from controller.auth.passwords import fast_hasher
from controller.store.group_commit import GroupCommitter
from controller.store.memory import MemoryStore


@pytest.fixture
async def env() -> AsyncIterator[tuple[MemoryStore, GroupCommitter]]:
    store = MemoryStore()
    async with GroupCommitter(store) as committer:
        yield store, committer


async def open_directory(env: tuple[MemoryStore, GroupCommitter]) -> AccessDirectory:
    store, committer = env
    return await AccessDirectory.open(store, committer, hasher=fast_hasher())


async def test_accounts_sessions_and_tokens_survive_a_reopen(env) -> None:
    directory = await open_directory(env)
    await directory.add_user("li", "correct-horse", Role.OPERATOR, display_name="李值班")
    session_id, principal = await directory.login("li", "correct-horse")
    assert principal.role is Role.OPERATOR and principal.csrf == csrf_for(session_id)
    token_id, secret = await directory.issue_token("li", "prometheus", by="li")
    await directory.audit(actor="li", via="session", action="command:pause", hall="h")

    again = await open_directory(env)
    assert again.accounts["li"].display_name == "李值班"
    assert again.session(session_id) == principal
    found = again.token(secret)
    assert found is not None and found.via == f"token:{token_id}" and found.csrf is None
    assert [a.action for a in again.audit_trail] == ["command:pause"]
    # Secrets are not in the log: only their digests.
    store, _ = env
    raw = b"".join(r.payload for r in store._records[ACCESS_STREAM])
    assert session_id.encode() not in raw and secret.encode() not in raw
    assert b"correct-horse" not in raw


async def test_wrong_password_unknown_user_and_throttle(env) -> None:
    directory = await open_directory(env)
    await directory.add_user("admin", "long-enough-1", Role.ADMIN)
    for user, password in [("admin", "nope-nope-nope"), ("ghost", "whatever-123")]:
        with pytest.raises(AccessError) as refused:
            await directory.login(user, password)
        assert refused.value.code == "bad_credentials"
    for _ in range(4):
        with pytest.raises(AccessError):
            await directory.login("admin", "nope-nope-nope")
    with pytest.raises(AccessError) as throttled:
        await directory.login("admin", "long-enough-1")
    assert throttled.value.code == "login_throttled"


@pytest.mark.parametrize(
    ("user", "password", "code"),
    [
        ("has space", "long-enough-1", "bad_user_name"),
        ("", "long-enough-1", "bad_user_name"),
        ("short", "1234567", "weak_password"),
        ("dup", "long-enough-1", "user_exists"),
    ],
)
async def test_bad_new_accounts_are_refused_and_change_nothing(env, user, password, code) -> None:
    directory = await open_directory(env)
    await directory.add_user("dup", "long-enough-1", Role.VIEWER)
    before = dict(directory.accounts)
    with pytest.raises(AccessError) as refused:
        await directory.add_user(user, password, Role.VIEWER)
    assert refused.value.code == code
    assert directory.accounts == before


async def test_logout_disable_and_revoke_end_access(env) -> None:
    directory = await open_directory(env)
    await directory.add_user("wang", "long-enough-1", Role.VIEWER)
    first, _ = await directory.login("wang", "long-enough-1")
    second, _ = await directory.login("wang", "long-enough-1")
    await directory.logout(first)
    assert directory.session(first) is None and directory.session(second) is not None
    token_id, secret = await directory.issue_token("wang", "screen", by="admin")
    await directory.revoke_token(token_id, by="admin")
    assert directory.token(secret) is None
    with pytest.raises(AccessError):
        await directory.revoke_token(token_id, by="admin")
    await directory.disable("wang", by="admin")
    assert directory.session(second) is None
    with pytest.raises(AccessError):
        await directory.login("wang", "long-enough-1")


async def test_sessions_expire(env) -> None:
    store, committer = env
    now = [1_000]
    directory = await AccessDirectory.open(
        store, committer, hasher=fast_hasher(), clock=lambda: now[0]
    )
    await directory.add_user("zhao", "long-enough-1", Role.VIEWER)
    session_id, _ = await directory.login("zhao", "long-enough-1")
    now[0] += 8 * 24 * 3600 * 1000
    assert directory.session(session_id) is None


async def test_a_token_s_scope_survives_a_reopen(env) -> None:
    directory = await open_directory(env)
    await directory.add_user("city", "long-password-1", Role.VIEWER)
    _, scoped = await directory.issue_token("city", "政务服务网", by="admin", scope=Scope.BOOKING)
    _, plain = await directory.issue_token("city", "screen", by="admin")
    reopened = await open_directory(env)
    scoped_principal, plain_principal = reopened.token(scoped), reopened.token(plain)
    assert scoped_principal is not None and scoped_principal.scope is Scope.BOOKING
    assert plain_principal is not None and plain_principal.scope is None
    assert {t.scope for t in reopened.tokens()} == {Scope.BOOKING, None}
