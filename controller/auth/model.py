"""Roles and the access events kept in the store's access stream.

Events, not tables: an account, a session or a token exists because an event said so, and the
audit trail (who did what, when) is the same stream read by a person. Secrets are never stored:
passwords as argon2id hashes, session ids and API tokens as SHA-256 digests.
"""

from __future__ import annotations

import enum

import msgspec

ACCESS_STREAM = "~access"
"""The store stream holding access events; '~' keeps it apart from hall ids (``hallctl
replay`` skips streams starting with it)."""


class Role(enum.Enum):
    """Ordered: each role may do what the ones below it may."""

    VIEWER = "viewer"  # 查看: every page, no change
    OPERATOR = "operator"  # 值班: commands and actions on the hall
    ADMIN = "admin"  # 管理员: accounts, tokens, audit

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


class Scope(enum.Enum):
    """What a token is limited to. ``BOOKING``: the booking routes of the API and nothing else
    (the city's 政务服务网 or app books, cancels and reschedules appointments with it)."""

    BOOKING = "booking"


class AccessEvent(msgspec.Struct, frozen=True, tag_field="e", kw_only=True):
    at: int  # epoch ms


class UserAdded(AccessEvent, frozen=True, tag="user_added"):
    user: str
    role: Role
    password_hash: str
    display_name: str = ""
    by: str = ""


class PasswordChanged(AccessEvent, frozen=True, tag="password_changed"):
    user: str
    password_hash: str
    by: str = ""


class RoleChanged(AccessEvent, frozen=True, tag="role_changed"):
    user: str
    role: Role
    by: str = ""


class UserDisabled(AccessEvent, frozen=True, tag="user_disabled"):
    user: str
    by: str = ""


class SessionOpened(AccessEvent, frozen=True, tag="session_opened"):
    session_digest: str
    user: str
    expires_at: int


class SessionClosed(AccessEvent, frozen=True, tag="session_closed"):
    session_digest: str


class TokenIssued(AccessEvent, frozen=True, tag="token_issued"):
    token_id: str
    token_digest: str
    user: str
    name: str
    by: str = ""
    scope: Scope | None = None  # None: everything the user's role allows


class TokenRevoked(AccessEvent, frozen=True, tag="token_revoked"):
    token_id: str
    by: str = ""


class ActionAudited(AccessEvent, frozen=True, tag="action_audited"):
    """One action someone asked for, and how it ended (HTTP status and code)."""

    actor: str  # user name, or "-" for an anonymous request
    via: str  # "session", "token:<id>" or "cli"
    action: str  # e.g. "command:call_next", "notice", "login"
    hall: str = ""
    detail: str = ""
    status: int = 200
    outcome: str = "ok"


AnyAccessEvent = (
    UserAdded
    | PasswordChanged
    | RoleChanged
    | UserDisabled
    | SessionOpened
    | SessionClosed
    | TokenIssued
    | TokenRevoked
    | ActionAudited
)

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(list[AnyAccessEvent])


def encode_access_record(events: list[AnyAccessEvent]) -> bytes:
    return _encoder.encode(events)


def decode_access_record(payload: bytes) -> list[AnyAccessEvent]:
    return _decoder.decode(payload)
