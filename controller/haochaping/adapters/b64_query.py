"""``b64_query``: a provincial gateway taking one record per form POST, double-base64 encoded.

Its conventions (where it differs from the others): field names are pinyin initials (``bjbh``
办件编号, ``pjdj`` 评价等级 …); ``pjdj`` counts the provincial way, 1 = 非常不满意 … 5 = 非常满意;
times are local ``yyyyMMddHHmmss``; flags are ``Y``/``N``; reason codes joined by ``|``. The
record is a UTF-8 URL query string, base64-encoded twice, sent as the form field ``data`` beside
``appid``, ``timestamp`` (the same compact local time), ``nonce`` and ``sign`` = HMAC-SHA256
(hex, lower case) of the sorted ``k=v&…`` of those four. Record kinds by ``lx``: ``pj``
(评价, a rating), ``bj`` (办件, the finished service), ``zg`` (整改, a 差评 case step). The
answer is ``{"status": "success"}`` or ``{"status": "fail", "errcode", "errmsg"}``; ``E09``
(流水号重复, already received) counts as delivered, ``E01`` (bad signature) is retried.
Field mapping: docs/haochaping.md.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from datetime import datetime
from typing import Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import msgspec

from controller.core.commands import RaterKind, RatingChannel, RatingLevel
from controller.haochaping.adapters.base import Destination, Request, Verdict, http_verdict
from controller.haochaping.adapters.signing import canonical, hmac_sha256, nonce
from controller.haochaping.keys import Credentials
from controller.haochaping.records import AnyRecord, CaseRecord, RatingRecord, ServiceRecord

PJDJ: Final = {  # provincial direction: 5 is the best
    RatingLevel.VERY_SATISFIED: "5",
    RatingLevel.SATISFIED: "4",
    RatingLevel.BASICALLY_SATISFIED: "3",
    RatingLevel.DISSATISFIED: "2",
    RatingLevel.VERY_DISSATISFIED: "1",
}
PJQD: Final = {  # 评价渠道
    RatingChannel.WINDOW_PAD: "pjq",
    RatingChannel.HALL_TERMINAL: "zzj",
    RatingChannel.QR_CODE: "ewm",
    RatingChannel.PC: "pc",
    RatingChannel.MOBILE: "yd",
    RatingChannel.PHONE: "dh",
    RatingChannel.SMS: "dx",
}
SQRLX: Final = {None: "", RaterKind.INDIVIDUAL: "1", RaterKind.LEGAL_PERSON: "2"}
DUPLICATE: Final = "E09"
BAD_SIGNATURE: Final = "E01"


class _Answer(msgspec.Struct):
    status: str
    errcode: str = ""
    errmsg: str = ""


def yn(flag: bool | None) -> str:
    return "" if flag is None else "Y" if flag else "N"


def double_b64(query: str) -> str:
    once = base64.b64encode(query.encode("utf-8"))
    return base64.b64encode(once).decode("ascii")


class B64QueryAdapter:
    def __init__(
        self,
        url: str,
        credentials: Credentials,
        tz: ZoneInfo,
        *,
        name: str = "b64_query",
        clock: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.url = url
        self.credentials = credentials
        self.tz = tz
        self.name = name
        self._clock = clock

    @classmethod
    def from_destination(cls, destination: Destination) -> B64QueryAdapter:
        reporting = destination.reporting
        return cls(
            reporting.url, destination.needed_credentials(), destination.tz, name=reporting.name
        )

    def wants(self, record: AnyRecord) -> bool:
        return True

    def time(self, ms: int | None) -> str:
        if ms is None:
            return ""
        return datetime.fromtimestamp(ms / 1000, self.tz).strftime("%Y%m%d%H%M%S")

    def fields(self, record: AnyRecord) -> dict[str, str]:
        if isinstance(record, RatingRecord):
            return {
                "lx": "pj",
                "lsh": record.record_id,
                "bjbh": record.case_number,
                "sxbm": record.item_code,
                "sxmc": record.item_name,
                "bmbm": record.department_code,
                "bmmc": record.department_name,
                "xzqh": record.region_code,
                "ckbh": str(record.window),
                "ckmc": record.window_name,
                "gh": record.staff_id,
                "xm": record.staff_name,
                "pjqd": PJQD[record.channel],
                "pjdj": PJDJ[record.level],
                "bmyyy": "|".join(record.reason_codes),
                "pjnr": record.text,
                "pjsj": self.time(record.rated_at),
                "sfzp": yn(record.follow_up),
                "sqrlx": SQRLX[record.rater_kind],
                "sfnm": yn(record.anonymous),
            }
        if isinstance(record, ServiceRecord):
            return {
                "lx": "bj",
                "lsh": record.record_id,
                "bjbh": record.case_number,
                "ph": record.number,
                "sxbm": record.item_code,
                "sxmc": record.item_name,
                "bmbm": record.department_code,
                "xzqh": record.region_code,
                "ckbh": str(record.window),
                "gh": record.staff_id,
                "xm": record.staff_name,
                "qhsj": self.time(record.issued_at),
                "jhsj": self.time(record.called_at),
                "slsj": self.time(record.accepted_at),
                "bjsj": self.time(record.finished_at),
                "bljs": str(record.service_ms // 1000),
            }
        return self._case_fields(record)

    def _case_fields(self, record: CaseRecord) -> dict[str, str]:
        return {
            "lx": "zg",
            "lsh": record.record_id,
            "gdbh": record.case_id,
            "hj": record.step,
            "clsj": self.time(record.at),
            "clr": record.by,
            "clyj": record.note,
            "bmbm": record.department_code,
            "glpj": record.rating_record_id,
            "hfqx": self.time(record.contact_due),
            "zgqx": self.time(record.rectify_due),
            "sfld": yn(record.reached),  # 是否联系到
            "hcjg": record.outcome.value if record.outcome else "",  # 核查结果
            "sstg": yn(record.appeal_granted),  # 申诉通过
            "yqhj": record.overdue_step,  # 逾期环节
            "yqsj": self.time(record.due),
        }

    def request(self, record: AnyRecord) -> Request:
        params = {
            "appid": self.credentials.app_key,
            "timestamp": self.time(self._clock()),
            "nonce": nonce(),
            "data": double_b64(urlencode(self.fields(record), encoding="utf-8")),
        }
        params["sign"] = hmac_sha256(self.credentials.app_secret, canonical(params))
        return Request(
            url=self.url,
            body=urlencode(params).encode("ascii"),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    def verdict(self, status: int, body: bytes) -> Verdict:
        by_status = http_verdict(status)
        if by_status is not Verdict.DELIVERED:
            return by_status
        try:
            answer = msgspec.json.decode(body, type=_Answer)
        except msgspec.DecodeError:
            return Verdict.RETRY
        if answer.status == "success" or answer.errcode == DUPLICATE:
            return Verdict.DELIVERED
        return Verdict.RETRY if answer.errcode == BAD_SIGNATURE else Verdict.REJECTED
