"""``hotline_12345``: hands every 差评 case over to the 12345 hotline, which answers a 工单号.

One signed JSON POST per opened case (``X-App-Key``, ``X-Timestamp`` epoch seconds,
``X-Signature`` = HMAC-SHA256 hex of ``timestamp + "\\n" + body``). Times are ISO 8601 with
the hall's offset; the level is its Chinese name. The hotline answers ``{"accepted": true,
"work_order_no": "…"}`` (the same number again for a case it already has); the outbox records
that number on the case (``RecordHandOver`` → ``CaseHandedOver``). The rater's identity is not
sent: it stays sealed in the hall (回访 is the hall's, the hotline tracks the work order).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

import msgspec

from controller.core import commands as cmd
from controller.haochaping.adapters.base import Destination, Request, Verdict, http_verdict
from controller.haochaping.adapters.signing import hmac_sha256
from controller.haochaping.keys import Credentials
from controller.haochaping.records import AnyRecord, CaseRecord

MAX_REFERENCE: Final = 64


class _Answer(msgspec.Struct):
    accepted: bool
    work_order_no: str = ""
    reason: str = ""


class HotlineAdapter:
    def __init__(
        self,
        url: str,
        credentials: Credentials,
        tz: ZoneInfo,
        *,
        name: str = "hotline_12345",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.credentials = credentials
        self.tz = tz
        self.name = name
        self._clock = clock

    @classmethod
    def from_destination(cls, destination: Destination) -> HotlineAdapter:
        reporting = destination.reporting
        return cls(
            reporting.url, destination.needed_credentials(), destination.tz, name=reporting.name
        )

    def wants(self, record: AnyRecord) -> bool:
        return isinstance(record, CaseRecord) and record.step == "opened"

    def time(self, ms: int | None) -> str | None:
        if ms is None:
            return None
        return datetime.fromtimestamp(ms / 1000, self.tz).isoformat(timespec="seconds")

    def request(self, record: AnyRecord) -> Request:
        assert isinstance(record, CaseRecord)
        body = msgspec.json.encode(
            {
                "source_id": record.record_id,
                "case_id": record.case_id,
                "hall": record.hall,
                "org_code": record.department_code,
                "level": record.level.label if record.level else None,
                "reason_codes": list(record.reasons),
                "content": record.text,
                "window": record.window,
                "staff_no": record.staff_id,
                "item_name": record.item_name,
                "opened_at": self.time(record.at),
                "contact_due": self.time(record.contact_due),
                "rectify_due": self.time(record.rectify_due),
            }
        )
        stamp = str(int(self._clock()))
        signature = hmac_sha256(self.credentials.app_secret, stamp + "\n" + body.decode("utf-8"))
        return Request(
            url=self.url,
            body=body,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "X-App-Key": self.credentials.app_key,
                "X-Timestamp": stamp,
                "X-Signature": signature,
            },
        )

    def verdict(self, status: int, body: bytes) -> Verdict:
        by_status = http_verdict(status)
        if status in (401, 403):
            return Verdict.RETRY  # our credentials: keep the case, the status shows the error
        if by_status is not Verdict.DELIVERED:
            return by_status
        answer = self._answer(body)
        if answer is None:
            return Verdict.RETRY
        return Verdict.DELIVERED if answer.accepted else Verdict.REJECTED

    def _answer(self, body: bytes) -> _Answer | None:
        try:
            answer = msgspec.json.decode(body, type=_Answer)
        except msgspec.DecodeError:
            return None
        if answer.accepted and not 1 <= len(answer.work_order_no) <= MAX_REFERENCE:
            return None  # an acknowledgement without its number is no acknowledgement
        return answer

    def acknowledgement(self, record: AnyRecord, body: bytes) -> cmd.RecordHandOver | None:
        answer = self._answer(body)
        if not isinstance(record, CaseRecord) or answer is None or not answer.accepted:
            return None
        case = int(record.case_id.rsplit("-C", 1)[1])
        return cmd.RecordHandOver(case=case, to=self.name, reference=answer.work_order_no)
