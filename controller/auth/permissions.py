"""Who may send which command: one table (``COMMAND_GATES``), one check (``authorize``).

The access middleware checks a route's role; the command API and the 好差评 case routes then
ask here about the command itself, because one route carries every command type. The table is
complete (a test compares it with ``AnyCommand``) and docs/haochaping.md prints it.

* Roles are ordered (viewer < operator < admin); duties (reviewer, followup, department) are
  granted beside them and never implied: separation is between accounts, not ranks.
* Ratings: the window's pad and the hall terminal rate only through the device hub, the
  citizen's 追评 only through the signed QR link (``/hcp/``); over the command API only an
  integration token whose scope names the rating's channel (``rating_source:phone``).
* A case step is recorded under the authenticated account (``by``), never the body's words;
  the rated clerk takes no step on their own case and the filer of an appeal does not decide it.
"""

from __future__ import annotations

import enum
from typing import Final

import msgspec

from controller.auth.directory import Principal
from controller.auth.model import INTEGRATION_CHANNELS, RATING_SOURCE_SCOPE, Duty, Role
from controller.core import commands as cmd
from controller.core.state import Case


class Gate(enum.Enum):
    """What lets a command through the API."""

    OPERATOR = "operator"  # role operator or admin
    ADMIN = "admin"  # role admin (otherwise only the daemon's own clock)
    RATING_SOURCE = "rating_source"  # a token scoped rating_source:<the rating's channel>
    DEVICES = "devices"  # evaluator devices through the device hub: never the API
    QR_LINK = "qr_link"  # the citizen's signed QR link (/hcp/): never the command API
    FOLLOWUP = "followup"  # duty followup; not the rated clerk
    DEPARTMENT = "department"  # duty department over the case's department; not the rated clerk
    REVIEWER = "reviewer"  # duty reviewer; neither the rated clerk nor the appeal's filer
    CONTACT_ROUTE = "contact_route"  # duty followup, through the case's contact route only
    OUTBOX = "outbox"  # the 好差评 outbox in the daemon (a destination's acknowledgement)
    BOOKING = "booking"  # the booking routes (public page, booking-scoped token), not /commands

    @property
    def text(self) -> str:
        return _GATE_TEXT[self]


_GATE_TEXT: Final = {
    Gate.OPERATOR: "operator or admin",
    Gate.ADMIN: "admin (otherwise the daemon's clock)",
    Gate.RATING_SOURCE: "evaluator devices (device hub); over the API only an integration "
    "token with scope rating_source:<channel> for pc, mobile, phone, sms",
    Gate.DEVICES: "evaluator devices only (device hub), never the API",
    Gate.QR_LINK: "the citizen's signed QR link only (/hcp/{hall}/{ticket})",
    Gate.FOLLOWUP: "duty followup; not the rated clerk",
    Gate.DEPARTMENT: "duty department over the case's department; not the rated clerk",
    Gate.REVIEWER: "duty reviewer; neither the rated clerk nor the appeal's filer",
    Gate.CONTACT_ROUTE: "duty followup, only through POST .../haochaping/contacts/{case} "
    "(and .../call); not the rated clerk",
    Gate.BOOKING: "the booking routes only (the citizens' page, or a token with scope booking: "
    "/api/v1/halls/{hall}/bookings), never the command API",
    Gate.OUTBOX: "the 好差评 outbox only (a destination's acknowledgement, e.g. the 12345 "
    "工单号), never the API",
}

COMMAND_GATES: Final[dict[str, Gate]] = {
    "issue_ticket": Gate.OPERATOR,
    "register_appointment": Gate.OPERATOR,
    "book_appointment": Gate.BOOKING,
    "cancel_appointment": Gate.BOOKING,
    "reschedule_appointment": Gate.BOOKING,
    "login": Gate.OPERATOR,
    "logout": Gate.OPERATOR,
    "call_next": Gate.OPERATOR,
    "recall": Gate.OPERATOR,
    "call_number": Gate.OPERATOR,
    "start": Gate.OPERATOR,
    "finish": Gate.OPERATOR,
    "no_show": Gate.OPERATOR,
    "suspend": Gate.OPERATOR,
    "call_back": Gate.OPERATOR,
    "transfer": Gate.OPERATOR,
    "transfer_ticket": Gate.OPERATOR,
    "cancel_ticket": Gate.OPERATOR,
    "pause": Gate.OPERATOR,
    "resume": Gate.OPERATOR,
    "set_window_services": Gate.OPERATOR,
    "rate": Gate.RATING_SOURCE,
    "follow_up_rate": Gate.QR_LINK,
    "set_case_number": Gate.OPERATOR,
    "contact_case": Gate.FOLLOWUP,
    "verify_case": Gate.DEPARTMENT,
    "review_case": Gate.REVIEWER,
    "rectify_case": Gate.DEPARTMENT,
    "close_case": Gate.DEPARTMENT,
    "unseal_contact": Gate.CONTACT_ROUTE,
    "record_hand_over": Gate.OUTBOX,
    "miss_evaluation": Gate.DEVICES,
    "tick": Gate.ADMIN,
    "close_day": Gate.ADMIN,
}

CaseCommand = cmd.ContactCase | cmd.VerifyCase | cmd.ReviewCase | cmd.RectifyCase | cmd.CloseCase


class Refused(Exception):
    """The command may not come from this principal: answered 403 with ``code``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def tag_of(command: cmd.AnyCommand) -> str:
    tag: str = type(command).__struct_config__.tag  # type: ignore[assignment]
    return tag


def case_id_of(command: cmd.AnyCommand) -> int | None:
    """The case a command acts on (its gate needs the case), None for other commands."""
    if isinstance(command, CaseCommand | cmd.UnsealContact):
        return command.case
    return None


def authorize(
    principal: Principal,
    command: cmd.AnyCommand,
    case: Case | None,
    *,
    contact_route: bool = False,
) -> cmd.AnyCommand:
    """The command to submit, its ``by`` being the principal's account; or ``Refused``.

    ``case``: the case the command names (None when unknown: the engine then answers
    ``unknown_case``). ``contact_route``: the caller is the route that opens a contact."""
    tag = tag_of(command)
    gate = COMMAND_GATES[tag]
    if gate in (Gate.OPERATOR, Gate.ADMIN):
        needed = Role.OPERATOR if gate is Gate.OPERATOR else Role.ADMIN
        if not principal.role.allows(needed):
            raise Refused("forbidden", f"{tag} needs {gate.text}")
        return command
    if gate is Gate.RATING_SOURCE:
        _check_rating_source(principal, command)
        return command
    if gate in (Gate.DEVICES, Gate.QR_LINK, Gate.OUTBOX, Gate.BOOKING) or (
        gate is Gate.CONTACT_ROUTE and not contact_route
    ):
        raise Refused("forbidden", f"{tag}: {gate.text}")
    _check_case_duty(principal, gate, case, tag)
    if isinstance(command, CaseCommand | cmd.UnsealContact):
        return msgspec.structs.replace(command, by=principal.user)
    return command


def _check_rating_source(principal: Principal, command: cmd.AnyCommand) -> None:
    assert isinstance(command, cmd.Rate)
    channel = command.channel
    if channel not in INTEGRATION_CHANNELS:
        raise Refused(
            "forbidden", f"{channel.value} ratings come only from the hall's evaluator devices"
        )
    if RATING_SOURCE_SCOPE + channel.value not in principal.scopes:
        raise Refused("forbidden", f"rate needs a token with scope rating_source:{channel.value}")


_DUTY_OF: Final = {
    Gate.FOLLOWUP: Duty.FOLLOWUP,
    Gate.CONTACT_ROUTE: Duty.FOLLOWUP,
    Gate.DEPARTMENT: Duty.DEPARTMENT,
    Gate.REVIEWER: Duty.REVIEWER,
}


def _check_case_duty(principal: Principal, gate: Gate, case: Case | None, tag: str) -> None:
    duty = _DUTY_OF[gate]
    if not principal.has(duty):
        raise Refused("forbidden", f"{tag} needs {gate.text}")
    if case is None:
        return
    if gate is Gate.DEPARTMENT and not principal.serves_department(case.department):
        raise Refused("forbidden", f"case {case.id} belongs to another department")
    if principal.staff_id and principal.staff_id == case.staff:
        raise Refused("conflict_of_interest", "the rated clerk takes no step on their own case")
    if gate is Gate.REVIEWER and case.filed_by == principal.user:
        raise Refused("conflict_of_interest", "an appeal is decided by someone else")


def command_table() -> list[tuple[str, str]]:
    """(command type, who may send it), for the documentation and its test."""
    return [(tag, gate.text) for tag, gate in COMMAND_GATES.items()]
