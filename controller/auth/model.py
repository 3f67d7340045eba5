"""Roles and the access events kept in the store's access stream.

Events, not tables: an account, a session or a token exists because an event said so, and the
audit trail (who did what, when) is the same stream read by a person. Secrets are never stored:
passwords as argon2id hashes, session ids and API tokens as SHA-256 digests.
"""

from __future__ import annotations

import enum

import msgspec

from controller.core.commands import RatingChannel

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


class Duty(enum.Enum):
    """好差评 duties, granted beside the role and never implied by it (an admin is no reviewer
    unless made one): the separation an audit asks for is between accounts, not ranks."""

    REVIEWER = "reviewer"  # 申诉复核: decides appeals (never on a case they filed or are rated in)
    FOLLOWUP = "followup"  # 回访: may open a case's sealed contact to call the citizen
    DEPARTMENT = "department"  # 部门: verifies, appeals, rectifies, closes its departments' cases

    @property
    def label(self) -> str:
        return _DUTY_LABELS[self]


_DUTY_LABELS = {Duty.REVIEWER: "复核", Duty.FOLLOWUP: "回访", Duty.DEPARTMENT: "部门经办"}

ALL_DEPARTMENTS = "*"
"""A department grant naming every department (and cases of windows with none)."""

RATING_SOURCE_SCOPE = "rating_source:"
"""A token scope ``rating_source:<channel>``: an integration that may submit ratings of that
channel (``pc``, ``mobile``, ``phone``, ``sms``) through the command API."""

INTEGRATION_CHANNELS = frozenset(
    {RatingChannel.PC, RatingChannel.MOBILE, RatingChannel.PHONE, RatingChannel.SMS}
)
"""Channels an integration may rate through: the device channels (window pad, hall terminal)
come only from devices, ``qr_code`` only through the ticket's signed QR link."""


def scope_channel(scope: str) -> RatingChannel | None:
    """The channel a ``rating_source:<channel>`` scope names, None when it is not one."""
    if not scope.startswith(RATING_SOURCE_SCOPE):
        return None
    try:
        channel = RatingChannel(scope[len(RATING_SOURCE_SCOPE) :])
    except ValueError:
        return None
    return channel if channel in INTEGRATION_CHANNELS else None


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


class DutiesChanged(AccessEvent, frozen=True, tag="duties_changed"):
    """The account's 好差评 duties, departments (ids, or ``*``) and 工号 (the clerk it belongs
    to, "" for none), replacing the previous ones."""

    user: str
    duties: tuple[Duty, ...] = ()
    departments: tuple[str, ...] = ()
    staff_id: str = ""
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
    scopes: tuple[str, ...] = ()
    scope: Scope | None = None  # a limit: None means everything the role (and scopes) allow


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
    | DutiesChanged
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
