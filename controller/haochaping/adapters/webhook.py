"""The escalation webhook: one JSON notice per overdue 差评 case step (and nothing else)."""

from __future__ import annotations

import json

from controller.haochaping.adapters.base import Request, Verdict, http_verdict
from controller.haochaping.records import AnyRecord, CaseRecord


class EscalationWebhook:
    name = "webhook"

    def __init__(self, url: str) -> None:
        self.url = url

    def wants(self, record: AnyRecord) -> bool:
        return isinstance(record, CaseRecord) and record.step == "escalated"

    def request(self, record: AnyRecord) -> Request:
        assert isinstance(record, CaseRecord)
        notice = {
            "record_id": record.record_id,
            "hall": record.hall,
            "case_id": record.case_id,
            "overdue_step": record.overdue_step,
            "due": record.due,
            "escalated_at": record.at,
            "department_code": record.department_code,
        }
        return Request(
            url=self.url,
            body=json.dumps(notice, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )

    def verdict(self, status: int, body: bytes) -> Verdict:
        return http_verdict(status)
