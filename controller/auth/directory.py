"""The account directory: accounts, sessions and tokens folded from the access stream.

Theory of operation. ``AccessDirectory.open`` folds the access stream into memory; every change
(an account added, a login, a token issued, an audited action) is one event appended through
the group committer and applied only once durable, exactly as halls do. Lookups on the request
path (``session``, ``token``) are dictionary reads of SHA-256 digests: the secrets themselves
exist only in the client's cookie or header. Password hashing (argon2id, ~50 ms) runs in a
thread so a login never stalls the hall's event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Protocol

from argon2 import PasswordHasher

from controller.auth import passwords
from controller.auth.model import (
    ACCESS_STREAM,
    ALL_DEPARTMENTS,
    ActionAudited,
    AnyAccessEvent,
    DutiesChanged,
    Duty,
    PasswordChanged,
    Role,
    RoleChanged,
    Scope,
    SessionClosed,
    SessionOpened,
    TokenIssued,
    TokenRevoked,
    UserAdded,
    UserDisabled,
    decode_access_record,
    encode_access_record,
    scope_channel,
)
from controller.store.base import EventStore, StoreError, fault_of

SESSION_TTL_MS: Final = 7 * 24 * 3600 * 1000  # a hall-screen TV stays logged in for a week
AUDIT_MEMORY: Final = 5000
THROTTLE_FAILURES: Final = 5
THROTTLE_WINDOW_S: Final = 60.0
USER_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
DEPARTMENT_ID = re.compile(r"^(\*|[A-Za-z0-9_.-]{1,64})$")
STAFF_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
MAX_SCOPES: Final = 8
TOKEN_PREFIX: Final = "hct_"
STORE_UNAVAILABLE: Final = "store_unavailable"


class AccessError(Exception):
    """A refused access operation; ``code`` is what the API answers."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Appender(Protocol):
    """The part of ``GroupCommitter`` the directory needs."""

    async def append(self, hall_id: str, payload: bytes) -> int: ...


@dataclass(slots=True)
class Account:
    user: str
    role: Role
    password_hash: str
    display_name: str = ""
    enabled: bool = True
    created_at: int = 0
    duties: frozenset[Duty] = frozenset()
    departments: tuple[str, ...] = ()
    staff_id: str = ""  # 工号 of the clerk this account belongs to ("" for none)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the account, its role and duties, and how they proved it."""

    user: str
    role: Role
    via: str  # "session" or "token:<id>"
    csrf: str | None = None  # set for sessions: state-changing requests must echo it
    duties: frozenset[Duty] = frozenset()
    departments: tuple[str, ...] = ()
    staff_id: str = ""
    scopes: tuple[str, ...] = ()  # a token's grants beyond its role (e.g. rating_source:phone)
    scope: Scope | None = None  # a token's limit: a scoped token may do only what it names

    def has(self, duty: Duty) -> bool:
        return duty in self.duties

    def serves_department(self, department: str) -> bool:
        """Department duty over ``department`` ("" = a window naming none: only ``*``)."""
        if Duty.DEPARTMENT not in self.duties:
            return False
        return ALL_DEPARTMENTS in self.departments or (
            department != "" and department in self.departments
        )


def principal_of(
    account: Account,
    via: str,
    csrf: str | None = None,
    scopes: tuple[str, ...] = (),
    scope: Scope | None = None,
) -> Principal:
    return Principal(
        account.user,
        account.role,
        via,
        csrf,
        account.duties,
        account.departments,
        account.staff_id,
        tuple(scopes),
        scope,
    )


@dataclass(slots=True)
class _Session:
    user: str
    expires_at: int


@dataclass(slots=True)
class _Token:
    token_id: str
    user: str
    name: str
    issued_at: int
    scopes: tuple[str, ...] = ()
    scope: Scope | None = None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: str
    user: str
    name: str
    issued_at: int
    scopes: tuple[str, ...] = ()
    scope: Scope | None = None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def csrf_for(session_id: str) -> str:
    """The CSRF token of a session: derived from its secret id, so nothing extra is stored."""
    return hmac.new(session_id.encode("utf-8"), b"hallctl-csrf", hashlib.sha256).hexdigest()[:40]


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class AccessDirectory:
    appender: Appender
    hasher: PasswordHasher = field(default_factory=passwords.production_hasher)
    clock: Callable[[], int] = wall_clock_ms
    accounts: dict[str, Account] = field(default_factory=dict)
    audit_trail: deque[ActionAudited] = field(default_factory=lambda: deque(maxlen=AUDIT_MEMORY))
    _sessions: dict[str, _Session] = field(default_factory=dict)
    _tokens: dict[str, _Token] = field(default_factory=dict)
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _dummy_hash: str | None = None

    @classmethod
    async def open(
        cls,
        store: EventStore,
        appender: Appender,
        *,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> AccessDirectory:
        directory = cls(appender, hasher or passwords.production_hasher(), clock)
        async for chunk in store.read(ACCESS_STREAM, 0):
            for record in chunk:
                for event in decode_access_record(record.payload):
                    directory._apply(event)
        return directory

    # -- the fold ------------------------------------------------------------------------

    def _apply(self, event: AnyAccessEvent) -> None:
        if isinstance(event, UserAdded):
            self.accounts[event.user] = Account(
                event.user, event.role, event.password_hash, event.display_name, True, event.at
            )
        elif isinstance(event, PasswordChanged):
            self.accounts[event.user].password_hash = event.password_hash
        elif isinstance(event, RoleChanged):
            self.accounts[event.user].role = event.role
        elif isinstance(event, DutiesChanged):
            account = self.accounts[event.user]
            account.duties = frozenset(event.duties)
            account.departments = event.departments
            account.staff_id = event.staff_id
        elif isinstance(event, UserDisabled):
            self.accounts[event.user].enabled = False
        elif isinstance(event, SessionOpened):
            self._sessions[event.session_digest] = _Session(event.user, event.expires_at)
        elif isinstance(event, SessionClosed):
            self._sessions.pop(event.session_digest, None)
        elif isinstance(event, TokenIssued):
            self._tokens[event.token_digest] = _Token(
                event.token_id, event.user, event.name, event.at, event.scopes, event.scope
            )
        elif isinstance(event, TokenRevoked):
            for key, token in list(self._tokens.items()):
                if token.token_id == event.token_id:
                    del self._tokens[key]
        elif isinstance(event, ActionAudited):
            self.audit_trail.append(event)

    async def _record(self, event: AnyAccessEvent) -> None:
        """Durable first, then applied (a failed write changes nothing: ``store_unavailable``)."""
        try:
            await self.appender.append(ACCESS_STREAM, encode_access_record([event]))
        except StoreError as exc:
            raise AccessError(
                STORE_UNAVAILABLE,
                f"系统存储暂时无法写入（{fault_of(exc).label}），请稍后再试",
            ) from exc
        self._apply(event)

    # -- accounts ------------------------------------------------------------------------

    async def add_user(
        self, user: str, password: str, role: Role, *, display_name: str = "", by: str = "cli"
    ) -> Account:
        if not USER_NAME.match(user):
            raise AccessError("bad_user_name", "user names are 1-64 of A-Z a-z 0-9 _ . @ -")
        if user in self.accounts:
            raise AccessError("user_exists", f"user {user!r} already exists")
        self._check_rules(password)
        password_hash = await asyncio.to_thread(self.hasher.hash, password)
        await self._record(
            UserAdded(
                at=self.clock(),
                user=user,
                role=role,
                password_hash=password_hash,
                display_name=display_name[:64],
                by=by,
            )
        )
        return self.accounts[user]

    async def set_password(self, user: str, password: str, *, by: str) -> None:
        self._account(user)
        self._check_rules(password)
        password_hash = await asyncio.to_thread(self.hasher.hash, password)
        await self._record(
            PasswordChanged(at=self.clock(), user=user, password_hash=password_hash, by=by)
        )

    async def set_role(self, user: str, role: Role, *, by: str) -> None:
        self._account(user)
        await self._record(RoleChanged(at=self.clock(), user=user, role=role, by=by))

    async def set_duties(
        self,
        user: str,
        duties: tuple[Duty, ...],
        *,
        departments: tuple[str, ...] = (),
        staff_id: str = "",
        by: str,
    ) -> None:
        """Replace the account's 好差评 duties, departments and 工号."""
        self._account(user)
        if any(not DEPARTMENT_ID.match(d) for d in departments) or len(departments) > 64:
            raise AccessError("bad_duties", "departments are ids (or *), at most 64")
        if (Duty.DEPARTMENT in duties) != bool(departments):
            raise AccessError("bad_duties", "the department duty names its departments")
        if staff_id and not STAFF_ID.match(staff_id):
            raise AccessError("bad_duties", "a 工号 is 1-32 of A-Z a-z 0-9 _ . -")
        await self._record(
            DutiesChanged(
                at=self.clock(),
                user=user,
                duties=tuple(sorted(set(duties), key=lambda d: d.value)),
                departments=tuple(dict.fromkeys(departments)),
                staff_id=staff_id,
                by=by,
            )
        )

    async def disable(self, user: str, *, by: str) -> None:
        self._account(user)
        await self._record(UserDisabled(at=self.clock(), user=user, by=by))
        for key, session in list(self._sessions.items()):
            if session.user == user:
                await self._record(SessionClosed(at=self.clock(), session_digest=key))

    def _account(self, user: str) -> Account:
        account = self.accounts.get(user)
        if account is None:
            raise AccessError("unknown_user", f"no user {user!r}")
        return account

    @staticmethod
    def _check_rules(password: str) -> None:
        try:
            passwords.check_password_rules(password)
        except passwords.WeakPassword as exc:
            raise AccessError("weak_password", str(exc)) from exc

    # -- sessions ------------------------------------------------------------------------

    async def login(self, user: str, password: str) -> tuple[str, Principal]:
        """Check the password; open a session. Returns the session's secret id."""
        self._check_throttle(user)
        account = self.accounts.get(user)
        if account is None or not account.enabled:
            await asyncio.to_thread(self._burn_time, password)  # no timing hint of who exists
            self._note_failure(user)
            raise AccessError("bad_credentials", "wrong user name or password")
        ok = await asyncio.to_thread(passwords.verify, self.hasher, account.password_hash, password)
        if not ok:
            self._note_failure(user)
            raise AccessError("bad_credentials", "wrong user name or password")
        self._failures.pop(user, None)
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        await self._record(
            SessionOpened(
                at=now,
                session_digest=digest(session_id),
                user=user,
                expires_at=now + SESSION_TTL_MS,
            )
        )
        return session_id, principal_of(account, "session", csrf_for(session_id))

    def session(self, session_id: str) -> Principal | None:
        found = self._sessions.get(digest(session_id))
        if found is None or found.expires_at <= self.clock():
            return None
        account = self.accounts.get(found.user)
        if account is None or not account.enabled:
            return None
        return principal_of(account, "session", csrf_for(session_id))

    async def logout(self, session_id: str) -> None:
        key = digest(session_id)
        if key in self._sessions:
            await self._record(SessionClosed(at=self.clock(), session_digest=key))

    def _burn_time(self, password: str) -> None:
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash("hallctl-no-such-user")
        passwords.verify(self.hasher, self._dummy_hash, password)

    def _check_throttle(self, user: str) -> None:
        failures = self._failures.get(user)
        if failures is None:
            return
        horizon = time.monotonic() - THROTTLE_WINDOW_S
        while failures and failures[0] < horizon:
            failures.popleft()
        if len(failures) >= THROTTLE_FAILURES:
            raise AccessError("login_throttled", "too many failed logins; wait a minute")

    def _note_failure(self, user: str) -> None:
        if len(self._failures) > 10_000:  # bounded memory under a spraying attack
            self._failures.clear()
        self._failures.setdefault(user, deque(maxlen=THROTTLE_FAILURES)).append(time.monotonic())

    # -- API tokens ----------------------------------------------------------------------

    async def issue_token(
        self,
        user: str,
        name: str,
        *,
        by: str,
        scopes: tuple[str, ...] = (),
        scope: Scope | None = None,
    ) -> tuple[str, str]:
        """A new API token for ``user``: (token id, secret shown once). ``scopes``: what an
        integration may do beyond its account's role (``rating_source:<channel>``); ``scope``:
        a limit (``booking``: the booking routes and nothing else)."""
        self._account(user)
        if len(scopes) > MAX_SCOPES or any(scope_channel(s) is None for s in scopes):
            raise AccessError(
                "bad_scope", "scopes are rating_source:pc, :mobile, :phone or :sms (at most 8)"
            )
        token_id = secrets.token_hex(4)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        await self._record(
            TokenIssued(
                at=self.clock(),
                token_id=token_id,
                token_digest=digest(secret),
                user=user,
                name=name[:64],
                by=by,
                scopes=tuple(dict.fromkeys(scopes)),
                scope=scope,
            )
        )
        return token_id, secret

    def token(self, secret: str) -> Principal | None:
        found = self._tokens.get(digest(secret))
        if found is None:
            return None
        account = self.accounts.get(found.user)
        if account is None or not account.enabled:
            return None
        return principal_of(
            account, f"token:{found.token_id}", scopes=found.scopes, scope=found.scope
        )

    def tokens(self) -> list[TokenInfo]:
        return [
            TokenInfo(t.token_id, t.user, t.name, t.issued_at, t.scopes, t.scope)
            for t in self._tokens.values()
        ]

    async def revoke_token(self, token_id: str, *, by: str) -> None:
        if not any(t.token_id == token_id for t in self._tokens.values()):
            raise AccessError("unknown_token", f"no token {token_id!r}")
        await self._record(TokenRevoked(at=self.clock(), token_id=token_id, by=by))

    # -- audit ---------------------------------------------------------------------------

    async def audit(
        self,
        *,
        actor: str,
        via: str,
        action: str,
        hall: str = "",
        detail: str = "",
        status: int = 200,
        outcome: str = "ok",
    ) -> None:
        await self._record(
            ActionAudited(
                at=self.clock(),
                actor=actor,
                via=via,
                action=action,
                hall=hall,
                detail=detail[:500],
                status=status,
                outcome=outcome,
            )
        )
