"""``zwfw_batch``: a platform after the national data elements, taking batches of records.

Its conventions (where it differs from ``json_v1``): snake_case field names after the national
data elements; ``satisfaction`` counts the national way, 1 = 非常满意 … 5 = 非常不满意; times are
epoch milliseconds (numbers); booleans are JSON booleans, absent values ``null``, reason codes
a list. Up to ``batch_size`` records travel in one request, as a JSON string ``biz_content``
beside ``app_key``, ``timestamp`` (epoch ms), ``nonce``, ``sign_type`` and ``sign`` =
HMAC-SHA256 (hex, upper case) of the sorted ``k=v&…`` of every other field. Three record kinds:
``evaluation`` (a rating), ``project`` (办件: the finished service) and ``rectification`` (a 差评
case step). The answer is ``{"code": "0000", "data": {"failed": [{"record_id", "code",
"message"}]}}``; an item failing with ``E200`` (already received) counts as delivered. Field
mapping: docs/haochaping.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Final

import msgspec

from controller.core.commands import RaterKind, RatingChannel, RatingLevel
from controller.haochaping.adapters.base import (
    BatchAnswer,
    Destination,
    Request,
    Verdict,
    http_verdict,
)
from controller.haochaping.adapters.signing import canonical, hmac_sha256, nonce
from controller.haochaping.keys import Credentials
from controller.haochaping.records import AnyRecord, CaseRecord, RatingRecord, ServiceRecord

SATISFACTION: Final = {  # national direction: 1 is the best
    RatingLevel.VERY_SATISFIED: 1,
    RatingLevel.SATISFIED: 2,
    RatingLevel.BASICALLY_SATISFIED: 3,
    RatingLevel.DISSATISFIED: 4,
    RatingLevel.VERY_DISSATISFIED: 5,
}
CHANNELS: Final = {
    RatingChannel.WINDOW_PAD: "01",
    RatingChannel.HALL_TERMINAL: "02",
    RatingChannel.QR_CODE: "03",
    RatingChannel.PC: "04",
    RatingChannel.MOBILE: "05",
    RatingChannel.PHONE: "06",
    RatingChannel.SMS: "07",
}
APPLICANT: Final = {None: None, RaterKind.INDIVIDUAL: "1", RaterKind.LEGAL_PERSON: "2"}
OK: Final = "0000"
ALREADY_RECEIVED: Final = "E200"
BAD_CREDENTIALS: Final = frozenset({"E401", "E403"})  # our secret or clock: retry, never drop


class _Failed(msgspec.Struct):
    record_id: str
    code: str
    message: str = ""


class _Data(msgspec.Struct):
    failed: list[_Failed] = msgspec.field(default_factory=list)


class _Answer(msgspec.Struct):
    code: str
    message: str = ""
    data: _Data = msgspec.field(default_factory=_Data)


def evaluation(r: RatingRecord) -> dict[str, Any]:
    return {
        "record_type": "evaluation",
        "record_id": r.record_id,
        "proj_no": r.case_number,
        "task_code": r.item_code,
        "task_name": r.item_name,
        "org_code": r.department_code,
        "org_name": r.department_name,
        "area_code": r.region_code,
        "window_no": r.window,
        "window_name": r.window_name,
        "user_code": r.staff_id,
        "user_name": r.staff_name,
        "pj_channel": CHANNELS[r.channel],
        "satisfaction": SATISFACTION[r.level],
        "reason_codes": list(r.reason_codes),
        "content": r.text,
        "eval_time": r.rated_at,
        "is_append": r.follow_up,
        "applicant_type": APPLICANT[r.rater_kind],
        "is_anonymous": r.anonymous,
    }


def project(r: ServiceRecord) -> dict[str, Any]:
    return {
        "record_type": "project",
        "record_id": r.record_id,
        "proj_no": r.case_number,
        "ticket_no": r.number,
        "task_code": r.item_code,
        "task_name": r.item_name,
        "org_code": r.department_code,
        "org_name": r.department_name,
        "area_code": r.region_code,
        "window_no": r.window,
        "user_code": r.staff_id,
        "user_name": r.staff_name,
        "take_time": r.issued_at,
        "call_time": r.called_at,
        "accept_time": r.accepted_at,
        "finish_time": r.finished_at,
        "wait_seconds": None if r.wait_ms is None else r.wait_ms // 1000,
        "handle_seconds": r.service_ms // 1000,
    }


def rectification(r: CaseRecord) -> dict[str, Any]:
    return {
        "record_type": "rectification",
        "record_id": r.record_id,
        "case_id": r.case_id,
        "step": r.step,
        "step_time": r.at,
        "handler": r.by,
        "note": r.note,
        "org_code": r.department_code or None,
        "eval_record_id": r.rating_record_id or None,
        "contact_due": r.contact_due,
        "rectify_due": r.rectify_due,
        "reached": r.reached,
        "outcome": r.outcome.value if r.outcome else None,
        "appeal_granted": r.appeal_granted,
        "overdue_step": r.overdue_step or None,
        "due_time": r.due,
    }


def item(record: AnyRecord) -> dict[str, Any]:
    if isinstance(record, RatingRecord):
        return evaluation(record)
    if isinstance(record, ServiceRecord):
        return project(record)
    return rectification(record)


class ZwfwBatchAdapter:
    def __init__(
        self,
        url: str,
        credentials: Credentials,
        *,
        name: str = "zwfw_batch",
        max_batch: int = 200,
        clock: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.url = url
        self.credentials = credentials
        self.name = name
        self.max_batch = max_batch
        self._clock = clock

    @classmethod
    def from_destination(cls, destination: Destination) -> ZwfwBatchAdapter:
        reporting = destination.reporting
        return cls(
            reporting.url,
            destination.needed_credentials(),
            name=reporting.name,
            max_batch=reporting.batch_size,
        )

    def wants(self, record: AnyRecord) -> bool:
        return True

    def batch_request(self, records: Sequence[AnyRecord]) -> Request:
        params = {
            "app_key": self.credentials.app_key,
            "timestamp": str(self._clock()),
            "nonce": nonce(),
            "sign_type": "HMAC-SHA256",
            "biz_content": msgspec.json.encode([item(r) for r in records]).decode("utf-8"),
        }
        params["sign"] = hmac_sha256(self.credentials.app_secret, canonical(params)).upper()
        return Request(
            url=self.url,
            body=msgspec.json.encode(params),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )

    def batch_verdict(self, status: int, body: bytes, records: Sequence[AnyRecord]) -> BatchAnswer:
        by_status = http_verdict(status)
        if status in (401, 403):
            return BatchAnswer(Verdict.RETRY)
        if by_status is not Verdict.DELIVERED:
            return BatchAnswer(by_status)
        try:
            answer = msgspec.json.decode(body, type=_Answer)
        except msgspec.DecodeError:
            return BatchAnswer(Verdict.RETRY)  # a 200 we cannot read: not proof of delivery
        if answer.code in BAD_CREDENTIALS:
            return BatchAnswer(Verdict.RETRY)
        if answer.code != OK:
            return BatchAnswer(Verdict.REJECTED, {r.record_id: answer.message for r in records})
        sent = {r.record_id for r in records}
        return BatchAnswer(
            Verdict.DELIVERED,
            {
                f.record_id: f"{f.code} {f.message}"
                for f in answer.data.failed
                if f.code != ALREADY_RECEIVED and (not sent or f.record_id in sent)
            },
        )

    def request(self, record: AnyRecord) -> Request:
        return self.batch_request([record])

    def verdict(self, status: int, body: bytes) -> Verdict:
        answer = self.batch_verdict(status, body, [])
        return Verdict.REJECTED if answer.rejected else answer.verdict
