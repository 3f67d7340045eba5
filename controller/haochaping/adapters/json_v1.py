"""``json_v1``: a provincial 好差评 interface taking one JSON object per POST.

Its conventions (the ones provinces differ in): camelCase pinyin-free field names; ``grade``
counts the provincial way, 5 = 非常满意 ... 1 = 非常不满意; times are local
``yyyy-MM-dd HH:mm:ss``; ``channel`` is a one-digit code; booleans are 0/1; UTF-8 JSON. The
record id travels as ``recordId`` and in the ``X-Request-Id`` header, and the platform answers
``{"code": 0}`` (accepted) or ``{"code": 1001}`` (already received: a re-send after a
restart), either of which counts as delivered.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

import msgspec

from controller.core.commands import RaterKind, RatingChannel, RatingLevel
from controller.haochaping.adapters.base import Destination, Request, Verdict, http_verdict
from controller.haochaping.records import AnyRecord, CaseRecord, RatingRecord

GRADES: Final = {
    RatingLevel.VERY_SATISFIED: 5,
    RatingLevel.SATISFIED: 4,
    RatingLevel.BASICALLY_SATISFIED: 3,
    RatingLevel.DISSATISFIED: 2,
    RatingLevel.VERY_DISSATISFIED: 1,
}
CHANNELS: Final = {
    RatingChannel.WINDOW_PAD: "1",
    RatingChannel.HALL_TERMINAL: "2",
    RatingChannel.QR_CODE: "3",
    RatingChannel.PC: "4",
    RatingChannel.MOBILE: "5",
    RatingChannel.PHONE: "6",
    RatingChannel.SMS: "7",
}
USER_TYPES: Final = {None: "0", RaterKind.INDIVIDUAL: "1", RaterKind.LEGAL_PERSON: "2"}
ACCEPTED: Final = 0
DUPLICATE: Final = 1001


class JsonV1Adapter:
    def __init__(self, url: str, tz: ZoneInfo, name: str = "json_v1") -> None:
        self.url = url
        self.tz = tz
        self.name = name

    @classmethod
    def from_destination(cls, destination: Destination) -> JsonV1Adapter:
        reporting = destination.reporting
        return cls(reporting.url, destination.tz, reporting.name)

    def wants(self, record: AnyRecord) -> bool:
        return isinstance(record, RatingRecord | CaseRecord)  # no 办件 records in json_v1

    def time(self, ms: int | None) -> str:
        if ms is None:
            return ""
        return datetime.fromtimestamp(ms / 1000, self.tz).strftime("%Y-%m-%d %H:%M:%S")

    def payload(self, record: AnyRecord) -> dict[str, object]:
        if isinstance(record, RatingRecord):
            return {
                "recordId": record.record_id,
                "type": "rating",
                "caseNo": record.case_number,
                "itemCode": record.item_code,
                "itemName": record.item_name,
                "deptCode": record.department_code,
                "deptName": record.department_name,
                "areaCode": record.region_code,
                "windowNo": str(record.window),
                "windowName": record.window_name,
                "staffNo": record.staff_id,
                "staffName": record.staff_name,
                "channel": CHANNELS[record.channel],
                "grade": GRADES[record.level],
                "reasonCodes": ",".join(record.reason_codes),
                "content": record.text,
                "evalTime": self.time(record.rated_at),
                "isAppend": int(record.follow_up),
                "userType": USER_TYPES[record.rater_kind],
                "anonymous": int(record.anonymous),
            }
        assert isinstance(record, CaseRecord)
        return self._case_payload(record)

    def _case_payload(self, record: CaseRecord) -> dict[str, object]:
        return {
            "recordId": record.record_id,
            "type": "case",
            "caseId": record.case_id,
            "step": record.step,
            "stepTime": self.time(record.at),
            "handler": record.by,
            "note": record.note,
            "deptCode": record.department_code,
            "ratingRecordId": record.rating_record_id,
            "contactDue": self.time(record.contact_due),
            "rectifyDue": self.time(record.rectify_due),
            "reached": "" if record.reached is None else int(record.reached),
            "outcome": record.outcome.value if record.outcome else "",
            "appealGranted": "" if record.appeal_granted is None else int(record.appeal_granted),
            "overdueStep": record.overdue_step,
            "dueTime": self.time(record.due),
        }

    def request(self, record: AnyRecord) -> Request:
        body = json.dumps(self.payload(record), ensure_ascii=False).encode("utf-8")
        return Request(
            url=self.url,
            body=body,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "X-Request-Id": record.record_id,
            },
        )

    def verdict(self, status: int, body: bytes) -> Verdict:
        by_status = http_verdict(status)
        if by_status is not Verdict.DELIVERED:
            return by_status
        try:
            code = msgspec.json.decode(body).get("code")
        except (msgspec.DecodeError, AttributeError):
            return Verdict.RETRY  # a 200 we cannot read: not proof of delivery
        return Verdict.DELIVERED if code in (ACCEPTED, DUPLICATE) else Verdict.REJECTED
