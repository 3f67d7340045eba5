"""Strict local stand-ins for the platforms of ``zwfw_batch``, ``b64_query`` and the 12345
hotline: each checks the signature, the encoding, every field's presence and format and the
code direction (a 差评 case must point at a rating the platform reads as bad), and answers
malformed requests the way the real gateway would (an error code naming the problem). Every
refusal is also kept in ``errors`` so a test fails loudly on a malformed request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import msgspec
from aiohttp import web

APP_KEY = "3309990001"
SECRET = "s3cret-for-tests-only"
RECORD_ID = re.compile(r"[A-Za-z0-9_-]+-\d+-\d+")
USCC = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")
COMPACT = re.compile(r"\d{14}")
SHANGHAI = ZoneInfo("Asia/Shanghai")
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00")

Check = Callable[[Any], bool]


def _text(v: Any, low: int = 0, high: int = 500) -> bool:
    return isinstance(v, str) and low <= len(v) <= high


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _ms(v: Any) -> bool:
    return _int(v) and 1_600_000_000_000 < v < 2_600_000_000_000


def _opt(check: Check) -> Check:
    return lambda v: v is None or check(v)


def sign(params: dict[str, str], secret: str = SECRET) -> str:
    text = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign")
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def missing_or_bad(body: dict[str, Any], formats: dict[str, Check]) -> list[str]:
    bad = [k for k, ok in formats.items() if k not in body or not ok(body[k])]
    return bad + [k for k in body if k not in formats]


@dataclass
class _Stub:
    path: str
    url: str = ""
    received: dict[str, dict[str, Any]] = field(default_factory=dict)  # record id -> item
    order: list[str] = field(default_factory=list)
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    nonces: set[str] = field(default_factory=set)
    refuse: Callable[[dict[str, Any]], bool] = lambda item: False

    def error(self, text: str) -> None:
        self.errors.append(text)

    async def start(self, handler: Callable[[web.Request], Any]) -> web.AppRunner:
        app = web.Application()
        app.router.add_post(self.path, handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}{self.path}"
        return runner

    def fresh(self, nonce: str, stamp_ms: int) -> str | None:
        if nonce in self.nonces:
            return "nonce used before (replay)"
        if abs(time.time() * 1000 - stamp_ms) > 300_000:
            return "timestamp more than 5 minutes off"
        self.nonces.add(nonce)
        return None


# -- zwfw_batch -------------------------------------------------------------------------------

EVALUATION: dict[str, Check] = {
    "record_type": lambda v: v == "evaluation",
    "record_id": lambda v: isinstance(v, str) and RECORD_ID.fullmatch(v) is not None,
    "proj_no": lambda v: _text(v, 1, 50),
    "task_code": lambda v: _text(v, 1, 64),
    "task_name": lambda v: _text(v, 1),
    "org_code": lambda v: isinstance(v, str) and USCC.fullmatch(v) is not None,
    "org_name": lambda v: _text(v, 1),
    "area_code": lambda v: isinstance(v, str) and re.fullmatch(r"\d{6}|\d{9}|\d{12}", v),
    "window_no": _int,
    "window_name": lambda v: _text(v, 1),
    "user_code": lambda v: _text(v, 1, 32),
    "user_name": _text,
    "pj_channel": lambda v: v in ("01", "02", "03", "04", "05", "06", "07"),
    "satisfaction": lambda v: _int(v) and 1 <= v <= 5,
    "reason_codes": lambda v: isinstance(v, list) and all(_text(x, 1, 8) for x in v),
    "content": _text,
    "eval_time": _ms,
    "is_append": lambda v: isinstance(v, bool),
    "applicant_type": lambda v: v in (None, "1", "2"),
    "is_anonymous": lambda v: isinstance(v, bool),
}
PROJECT: dict[str, Check] = {
    "record_type": lambda v: v == "project",
    "record_id": EVALUATION["record_id"],
    "proj_no": EVALUATION["proj_no"],
    "ticket_no": lambda v: _text(v, 1, 16),
    "task_code": EVALUATION["task_code"],
    "task_name": EVALUATION["task_name"],
    "org_code": EVALUATION["org_code"],
    "org_name": EVALUATION["org_name"],
    "area_code": EVALUATION["area_code"],
    "window_no": _int,
    "user_code": EVALUATION["user_code"],
    "user_name": _text,
    "take_time": _ms,
    "call_time": _opt(_ms),
    "accept_time": _ms,
    "finish_time": _ms,
    "wait_seconds": _opt(lambda v: _int(v) and v >= 0),
    "handle_seconds": lambda v: _int(v) and v >= 0,
}
RECTIFICATION: dict[str, Check] = {
    "record_type": lambda v: v == "rectification",
    "record_id": EVALUATION["record_id"],
    "case_id": lambda v: isinstance(v, str) and re.fullmatch(r".+-C\d+", v) is not None,
    "step": lambda v: (
        v in ("opened", "contacted", "verified", "reviewed", "rectified", "closed", "escalated")
    ),
    "step_time": _ms,
    "handler": _text,
    "note": _text,
    "org_code": _opt(EVALUATION["org_code"]),
    "eval_record_id": _opt(EVALUATION["record_id"]),
    "contact_due": _opt(_ms),
    "rectify_due": _opt(_ms),
    "reached": _opt(lambda v: isinstance(v, bool)),
    "outcome": lambda v: v in (None, "upheld", "explained", "mistaken", "malicious"),
    "appeal_granted": _opt(lambda v: isinstance(v, bool)),
    "overdue_step": lambda v: v in (None, "contact", "rectify"),
    "due_time": _opt(_ms),
}
KINDS = {"evaluation": EVALUATION, "project": PROJECT, "rectification": RECTIFICATION}
ENVELOPE = ("app_key", "timestamp", "nonce", "sign_type", "biz_content", "sign")


@dataclass
class ZwfwStub(_Stub):
    path: str = "/api/batch"
    max_batch: int = 500
    batch_sizes: list[int] = field(default_factory=list)
    down_after: int | None = None  # answer 503 once this many batches were taken (an outage)

    def refusal(self, status: int, code: str, message: str) -> web.Response:
        self.error(f"{code} {message}")
        return web.json_response({"code": code, "message": message}, status=status)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.down_after is not None and len(self.batch_sizes) >= self.down_after:
            return web.json_response({"code": "E503", "message": "维护中"}, status=503)
        if request.content_type != "application/json" or request.charset != "utf-8":
            return self.refusal(400, "E100", "Content-Type must be application/json; utf-8")
        try:
            body = msgspec.json.decode(await request.read())
        except msgspec.DecodeError:
            return self.refusal(400, "E100", "not JSON")
        if not isinstance(body, dict) or sorted(body) != sorted(ENVELOPE):
            return self.refusal(400, "E100", f"envelope fields are {ENVELOPE}")
        if not all(isinstance(body[k], str) for k in ENVELOPE):
            return self.refusal(400, "E100", "envelope values are strings")
        if body["app_key"] != APP_KEY or body["sign_type"] != "HMAC-SHA256":
            return self.refusal(200, "E403", "unknown app_key or sign_type")
        if body["sign"] != sign(body).upper():
            return self.refusal(200, "E401", "signature mismatch")
        if not body["timestamp"].isdigit():
            return self.refusal(200, "E401", "timestamp is epoch milliseconds")
        stale = self.fresh(body["nonce"], int(body["timestamp"]))
        if stale:
            return self.refusal(200, "E401", stale)
        try:
            items = msgspec.json.decode(body["biz_content"])
        except msgspec.DecodeError:
            return self.refusal(200, "E101", "biz_content is not JSON")
        if not isinstance(items, list) or not 1 <= len(items) <= self.max_batch:
            return self.refusal(200, "E101", f"biz_content: 1 to {self.max_batch} records")
        self.batch_sizes.append(len(items))
        failed = [f for f in (self.item(i) for i in items) if f is not None]
        return web.json_response({"code": "0000", "message": "成功", "data": {"failed": failed}})

    def item(self, item: Any) -> dict[str, str] | None:
        rid = item.get("record_id", "?") if isinstance(item, dict) else "?"
        formats = KINDS.get(item.get("record_type", "")) if isinstance(item, dict) else None
        if formats is None:
            self.error(f"{rid}: unknown record_type")
            return {"record_id": rid, "code": "E102", "message": "record_type"}
        bad = missing_or_bad(item, formats)
        if not bad and item["record_type"] == "rectification" and item["eval_record_id"]:
            rated = self.received.get(item["eval_record_id"])  # national: 4 and 5 are 差评
            if rated is None or rated["satisfaction"] not in (4, 5):
                bad = ["eval_record_id (not a 差评 in the national direction, 4 or 5)"]
        if bad:
            self.error(f"{rid}: {bad}")
            return {"record_id": rid, "code": "E102", "message": f"bad fields {bad}"}
        if self.refuse(item):
            return {"record_id": rid, "code": "E300", "message": "refused"}
        if rid in self.received:
            return {"record_id": rid, "code": "E200", "message": "already received"}
        self.received[rid] = item
        self.order.append(rid)
        return None


# -- b64_query --------------------------------------------------------------------------------

PJ: dict[str, Check] = {
    "lx": lambda v: v == "pj",
    "lsh": lambda v: RECORD_ID.fullmatch(v) is not None,
    "bjbh": lambda v: 1 <= len(v) <= 50,
    "sxbm": lambda v: re.fullmatch(r"[0-9A-Za-z]{1,64}", v) is not None,
    "sxmc": lambda v: v != "",
    "bmbm": lambda v: USCC.fullmatch(v) is not None,
    "bmmc": lambda v: v != "",
    "xzqh": lambda v: re.fullmatch(r"\d{6}|\d{9}|\d{12}", v) is not None,
    "ckbh": str.isdigit,
    "ckmc": lambda v: v != "",
    "gh": lambda v: v != "",
    "xm": lambda v: True,
    "pjqd": lambda v: v in ("pjq", "zzj", "ewm", "pc", "yd", "dh", "dx"),
    "pjdj": lambda v: v in ("1", "2", "3", "4", "5"),
    "bmyyy": lambda v: re.fullmatch(r"(\w+(\|\w+)*)?", v) is not None,
    "pjnr": lambda v: len(v) <= 500,
    "pjsj": lambda v: COMPACT.fullmatch(v) is not None,
    "sfzp": lambda v: v in ("Y", "N"),
    "sqrlx": lambda v: v in ("", "1", "2"),
    "sfnm": lambda v: v in ("Y", "N"),
}
_OPT_TIME: Check = lambda v: v == "" or COMPACT.fullmatch(v) is not None  # noqa: E731
BJ: dict[str, Check] = {
    "lx": lambda v: v == "bj",
    "lsh": PJ["lsh"],
    "bjbh": PJ["bjbh"],
    "ph": lambda v: 1 <= len(v) <= 16,
    "sxbm": PJ["sxbm"],
    "sxmc": PJ["sxmc"],
    "bmbm": PJ["bmbm"],
    "xzqh": PJ["xzqh"],
    "ckbh": str.isdigit,
    "gh": PJ["gh"],
    "xm": lambda v: True,
    "qhsj": PJ["pjsj"],
    "jhsj": _OPT_TIME,
    "slsj": PJ["pjsj"],
    "bjsj": PJ["pjsj"],
    "bljs": str.isdigit,
}
ZG: dict[str, Check] = {
    "lx": lambda v: v == "zg",
    "lsh": PJ["lsh"],
    "gdbh": lambda v: re.fullmatch(r".+-C\d+", v) is not None,
    "hj": lambda v: (
        v in ("opened", "contacted", "verified", "reviewed", "rectified", "closed", "escalated")
    ),
    "clsj": PJ["pjsj"],
    "clr": lambda v: True,
    "clyj": lambda v: len(v) <= 500,
    "bmbm": lambda v: v == "" or USCC.fullmatch(v) is not None,
    "glpj": lambda v: v == "" or RECORD_ID.fullmatch(v) is not None,
    "hfqx": _OPT_TIME,
    "zgqx": _OPT_TIME,
    "sfld": lambda v: v in ("", "Y", "N"),
    "hcjg": lambda v: v in ("", "upheld", "explained", "mistaken", "malicious"),
    "sstg": lambda v: v in ("", "Y", "N"),
    "yqhj": lambda v: v in ("", "contact", "rectify"),
    "yqsj": _OPT_TIME,
}
FORM = ("appid", "timestamp", "nonce", "data", "sign")


@dataclass
class B64Stub(_Stub):
    path: str = "/gateway/hcp"

    def fail(self, code: str, message: str) -> web.Response:
        self.error(f"{code} {message}")
        return web.json_response({"status": "fail", "errcode": code, "errmsg": message})

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if request.content_type != "application/x-www-form-urlencoded":
            return self.fail("E02", "form encoding required")
        raw = (await request.read()).decode("ascii", "replace")
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        if sorted(form) != sorted(FORM):
            return self.fail("E02", f"form fields are {FORM}")
        if form["appid"] != APP_KEY:
            return self.fail("E01", "unknown appid")
        if form["sign"] != sign(form):  # lower-case hex
            return self.fail("E01", "signature mismatch")
        if not COMPACT.fullmatch(form["timestamp"]):
            return self.fail("E01", "timestamp is yyyyMMddHHmmss")
        stamp = datetime.strptime(form["timestamp"], "%Y%m%d%H%M%S").replace(tzinfo=SHANGHAI)
        stale = self.fresh(form["nonce"], int(stamp.timestamp() * 1000))
        if stale:
            return self.fail("E01", stale)
        try:
            once = base64.b64decode(form["data"], validate=True)
            query = base64.b64decode(once, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return self.fail("E03", "data is base64(base64(UTF-8 query string))")
        fields = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        formats = {"pj": PJ, "bj": BJ, "zg": ZG}.get(fields.get("lx", ""))
        if formats is None:
            return self.fail("E04", "lx is pj, bj or zg")
        bad = missing_or_bad(fields, formats)
        if not bad and fields["lx"] == "zg" and fields["glpj"]:
            rated = self.received.get(fields["glpj"])  # provincial: 1 and 2 are 差评
            if rated is None or rated["pjdj"] not in ("1", "2"):
                bad = ["glpj (not a 差评 in the provincial direction, 1 or 2)"]
        if bad:
            return self.fail("E04", f"bad fields {bad}")
        if self.refuse(fields):
            return web.json_response({"status": "fail", "errcode": "E05", "errmsg": "refused"})
        if fields["lsh"] in self.received:
            return web.json_response({"status": "fail", "errcode": "E09", "errmsg": "流水号重复"})
        self.received[fields["lsh"]] = fields
        self.order.append(fields["lsh"])
        return web.json_response({"status": "success"})


# -- 12345 hotline ----------------------------------------------------------------------------

HAND_OVER: dict[str, Check] = {
    "source_id": lambda v: isinstance(v, str) and RECORD_ID.fullmatch(v) is not None,
    "case_id": RECTIFICATION["case_id"],
    "hall": lambda v: _text(v, 1, 64),
    "org_code": lambda v: v == "" or (isinstance(v, str) and USCC.fullmatch(v) is not None),
    "level": lambda v: v in ("不满意", "非常不满意"),  # only 差评 are handed over
    "reason_codes": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "content": _text,
    "window": _int,
    "staff_no": lambda v: _text(v, 1, 32),
    "item_name": lambda v: _text(v, 1),
    "opened_at": lambda v: isinstance(v, str) and ISO.fullmatch(v) is not None,
    "contact_due": lambda v: isinstance(v, str) and ISO.fullmatch(v) is not None,
    "rectify_due": lambda v: isinstance(v, str) and ISO.fullmatch(v) is not None,
}


@dataclass
class HotlineStub(_Stub):
    path: str = "/hook/haochaping"
    work_orders: dict[str, str] = field(default_factory=dict)  # case id -> 工单号

    def refusal(self, status: int, reason: str) -> web.Response:
        self.error(reason)
        return web.json_response({"accepted": False, "reason": reason}, status=status)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        stamp = request.headers.get("X-Timestamp", "")
        expected = hmac.new(SECRET.encode(), f"{stamp}\n".encode() + body, hashlib.sha256)
        if request.headers.get("X-App-Key") != APP_KEY:
            return self.refusal(401, "unknown app key")
        if not hmac.compare_digest(request.headers.get("X-Signature", ""), expected.hexdigest()):
            return self.refusal(401, "signature mismatch")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
            return self.refusal(401, "timestamp more than 5 minutes off")
        try:
            item = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return self.refusal(400, "not JSON")
        bad = missing_or_bad(item, HAND_OVER) if isinstance(item, dict) else ["body"]
        if bad:
            return self.refusal(400, f"bad fields {bad}")
        case = item["case_id"]
        if case not in self.work_orders:  # a case handed over again keeps its number
            self.work_orders[case] = f"GD2026{len(self.work_orders) + 1:06d}"
            self.received[item["source_id"]] = item
            self.order.append(item["source_id"])
        return web.json_response({"accepted": True, "work_order_no": self.work_orders[case]})
