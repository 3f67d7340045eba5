"""回访 call-through: the hall's telephony platform rings the citizen through a masked number.

``[evaluation] call_webhook`` names the platform. The 回访 clerk asks for a call; hallctl opens
the case's sealed contact (recorded first, purpose ``call``) and POSTs the case id and the phone
to the platform, so the number goes machine to machine and the clerk never sees it. One attempt,
answered at once: a failed call is the clerk's to retry, not an outbox's.
"""

from __future__ import annotations

from typing import Final

import msgspec

from controller.haochaping.adapters.base import Request

CALL_TIMEOUT_S: Final = 5.0


class CallRequest(msgspec.Struct, frozen=True):
    """What the telephony platform receives."""

    case_id: str  # "<hall>-C<n>", as in the reporting records
    hall: str
    phone: str
    requested_by: str  # the 回访 clerk's account


class CallReply(msgspec.Struct, frozen=True):
    """What the clerk gets back: the platform's answer, never the number."""

    case_id: str
    status: int
    answer: str  # the platform's body, at most 500 characters


def call_request(url: str, hall: str, case: int, phone: str, requested_by: str) -> Request:
    body = CallRequest(case_id=f"{hall}-C{case}", hall=hall, phone=phone, requested_by=requested_by)
    return Request(
        url=url,
        body=msgspec.json.encode(body),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )


def call_reply(hall: str, case: int, status: int, body: bytes) -> CallReply:
    return CallReply(
        case_id=f"{hall}-C{case}", status=status, answer=body[:500].decode("utf-8", "replace")
    )
