"""Who may do what in 好差评, on a real daemon with accounts (the console) and the 好差评 routes:
every command type refused to the wrong principal, appeals separated from their filer and the
rated clerk, case steps under the authenticated account, every opening of a contact recorded
(and never for the rated clerk), the masked call-through against a stub telephony platform,
and the public 亮牌 photo."""

from __future__ import annotations

import asyncio
import contextlib
import typing
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from controller.auth.directory import AccessDirectory
from controller.auth.model import Duty, Role
from controller.auth.passwords import fast_hasher
from controller.auth.permissions import COMMAND_GATES
from controller.config.loader import parse_config
from controller.core import commands as cmd
from controller.core import events as ev
from controller.daemon.process import Daemon, HallSource
from controller.haochaping.followup import follow_up_token
from controller.haochaping.records import read_log
from controller.haochaping.service import Haochaping
from controller.http.console import console_extension
from controller.http.context import ConsoleContext
from controller.http.staff_photos import MAX_PHOTO_BYTES

PASSWORD = "test-password-1"
HCP = "/api/v1/halls/h/haochaping"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
HALL = """
[hall]
id = "h"
name = "测试大厅"
region_code = "330999"

[[services]]
id = "A"
name = "社保"
prefix = "A"

[[windows]]
number = 1
services = ["A"]
department = "rsj"

[[windows]]
number = 2
services = ["A"]
department = "gaj"

[[departments]]
id = "rsj"
name = "县人社局"
code = "113309990026000004"

[[departments]]
id = "gaj"
name = "县公安局"
code = "113309990026000017"

[[staff]]
id = "01"
name = "王芳"
photo = "photos/01.jpg"

[[staff]]
id = "02"
name = "李强"

[[staff]]
id = "03"
name = "赵敏"
photo = "photos/03.png"

[[staff]]
id = "04"
name = "钱多"
photo = "photos/big.jpg"

[[staff]]
id = "05"
name = "孙丽"
photo = "photos/notes.txt"

[[staff]]
id = "06"
name = "周杰"
photo = "photos/missing.jpg"

[evaluation]
follow_up_url = "https://hall.example.gov.cn/hcp"
call_webhook = "{call}"
"""

# account: (role, duties, departments, 工号)
ACCOUNTS: dict[str, tuple[Role, tuple[Duty, ...], tuple[str, ...], str]] = {
    "admin": (Role.ADMIN, (), (), ""),
    "op": (Role.OPERATOR, (), (), ""),
    "viewer": (Role.VIEWER, (), (), ""),
    # The rated clerk, given every duty: separation must still hold on their own case.
    "clerk01": (Role.OPERATOR, (Duty.REVIEWER, Duty.FOLLOWUP, Duty.DEPARTMENT), ("rsj",), "01"),
    "dept": (Role.VIEWER, (Duty.DEPARTMENT, Duty.REVIEWER), ("rsj",), ""),  # files appeals
    "dept_gaj": (Role.VIEWER, (Duty.DEPARTMENT,), ("gaj",), ""),
    "reviewer": (Role.VIEWER, (Duty.REVIEWER,), (), ""),
    "followup": (Role.VIEWER, (Duty.FOLLOWUP,), (), ""),
}


@dataclass
class Telephony:
    """A stub telephony platform: records every call request; answers ``status``."""

    url: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200

    async def handle(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/json"
        body = await request.json()
        assert set(body) == {"case_id", "hall", "phone", "requested_by"}, body
        self.calls.append(body)
        return web.json_response({"call": len(self.calls)}, status=self.status)


@dataclass
class Hall:
    http: aiohttp.ClientSession
    base: str
    daemon: Daemon
    service: Haochaping
    ctx: ConsoleContext
    tokens: dict[str, str]
    telephony: Telephony
    db: Path

    async def call(
        self, who: str | None, method: str, path: str, body: Any = None
    ) -> tuple[int, Any, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        async with self.http.request(
            method, self.base + path, json=body, headers=headers, allow_redirects=False
        ) as r:
            data = await (r.json() if r.content_type == "application/json" else r.read())
            return r.status, data, r.headers

    async def command(self, who: str, body: dict[str, Any]) -> tuple[int, Any]:
        status, data, _ = await self.call(who, "POST", "/api/v1/halls/h/commands", body)
        return status, data

    @property
    def runtime(self) -> Any:
        return self.daemon.halls["h"]

    async def served(self, window: int = 1, staff: str = "01") -> int:
        for body in (
            {"type": "issue_ticket", "service": "A"},
            {"type": "call_next", "window": window},
            {"type": "finish", "window": window},
        ):
            if body["type"] == "call_next" and self.runtime.state.windows[window].staff is None:
                assert (
                    await self.command("op", {"type": "login", "window": window, "staff": staff})
                )[0] == 200
            status, data = await self.command("op", body)
            assert status == 200, data
            if body["type"] == "issue_ticket":
                ticket: int = data["events"][0]["ticket"]
        return ticket

    async def bad_case(self, *, rater: str = "", window: int = 1, staff: str = "01") -> int:
        """A 差评 from the citizen's QR link (with a contact when ``rater``); its case id."""
        ticket = await self.served(window, staff)
        token = follow_up_token(self.service.halls["h"].keys.follow_up, "h", ticket)
        body = {"t": token, "level": "very_dissatisfied", "rater": rater}
        status, data, _ = await self.call(None, "POST", f"/hcp/h/{ticket}", body)
        assert status == 200, data
        [case] = [e["case"] for e in data["events"] if e["e"] == "case_opened"]
        return typing.cast(int, case)

    async def events(self) -> list[ev.AnyEvent]:
        assert self.daemon.store is not None
        found: list[ev.AnyEvent] = []
        async for _, events in read_log(self.daemon.store, "h"):
            found.extend(events)
        return found

    def fingerprint(self) -> bytes:
        return typing.cast(bytes, self.runtime.state.fingerprint())


def write_photos(folder: Path) -> None:
    photos = folder / "photos"
    photos.mkdir()
    (photos / "01.jpg").write_bytes(JPEG)
    (photos / "03.png").write_bytes(PNG)  # the type comes from the bytes, not the name
    (photos / "big.jpg").write_bytes(JPEG + b"\x00" * MAX_PHOTO_BYTES)
    (photos / "notes.txt").write_bytes(b"not an image at all")


@pytest.fixture
async def hall(tmp_path: Path) -> AsyncIterator[Hall]:
    telephony = Telephony()
    stub = web.Application()
    stub.router.add_post("/call", telephony.handle)
    runner = web.AppRunner(stub)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    telephony.url = f"http://127.0.0.1:{port}/call"
    write_photos(tmp_path)
    text = HALL.replace("{call}", telephony.url)
    config_file = tmp_path / "hall.toml"
    config_file.write_text(text, encoding="utf-8")
    source = HallSource(parse_config(text, source=str(config_file)), text)
    db = tmp_path / "hall.db"
    service, contexts = Haochaping(db), []
    daemon = Daemon(
        [source],
        db_path=db,
        http_port=0,
        extensions=[service.extension(), console_extension(hasher=fast_hasher(), console=contexts)],
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(daemon.run(stop, ready))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        [ctx] = contexts
        tokens = await make_accounts(ctx.directory)
        async with aiohttp.ClientSession() as http:
            yield Hall(
                http,
                f"http://127.0.0.1:{daemon.bound_port}",
                daemon,
                service,
                ctx,
                tokens,
                telephony,
                db,
            )
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        await runner.cleanup()


async def make_accounts(directory: AccessDirectory) -> dict[str, str]:
    tokens: dict[str, str] = {}
    for user, (role, duties, departments, staff) in ACCOUNTS.items():
        await directory.add_user(user, PASSWORD, role)
        if duties or staff:
            await directory.set_duties(
                user, duties, departments=departments, staff_id=staff, by="test"
            )
        tokens[user] = (await directory.issue_token(user, "test", by="test"))[1]
    await directory.add_user("phone_line", PASSWORD, Role.VIEWER)
    _, tokens["phone_line"] = await directory.issue_token(
        "phone_line", "12345 热线", by="test", scopes=("rating_source:phone",)
    )
    return tokens


# -- the table ---------------------------------------------------------------------------------


def test_every_command_type_has_exactly_one_gate() -> None:
    tags = {k.__struct_config__.tag for k in typing.get_args(cmd.AnyCommand)}
    assert set(COMMAND_GATES) == tags


def test_the_role_table_in_the_docs_is_the_code() -> None:
    from controller.auth.permissions import command_table

    doc = (Path(__file__).parents[3] / "docs" / "haochaping.md").read_text(encoding="utf-8")
    for tag, text in command_table():
        assert f"| `{tag}` | {text} |" in doc, tag


# -- every command type refused to the wrong principal -------------------------------------------

# (command body, who is refused, the code). Every command type appears at least once.
REFUSALS: list[tuple[dict[str, Any], str, str]] = [
    ({"type": "issue_ticket", "service": "A"}, "viewer", "forbidden"),
    (
        {
            "type": "register_appointment",
            "appointment_id": "X1",
            "service": "A",
            "slot_start_ms": 0,
            "slot_end_ms": 1,
        },
        "viewer",
        "forbidden",
    ),
    ({"type": "login", "window": 2, "staff": "02"}, "viewer", "forbidden"),
    ({"type": "logout", "window": 1}, "viewer", "forbidden"),
    ({"type": "call_next", "window": 1}, "viewer", "forbidden"),
    ({"type": "recall", "window": 1}, "viewer", "forbidden"),
    ({"type": "call_number", "window": 1, "number": "A001"}, "viewer", "forbidden"),
    ({"type": "start", "window": 1}, "viewer", "forbidden"),
    ({"type": "finish", "window": 1}, "viewer", "forbidden"),
    ({"type": "no_show", "window": 1}, "viewer", "forbidden"),
    ({"type": "suspend", "window": 1}, "viewer", "forbidden"),
    ({"type": "call_back", "window": 1, "number": "A001"}, "viewer", "forbidden"),
    ({"type": "transfer", "window": 1, "to_window": 2}, "viewer", "forbidden"),
    ({"type": "transfer_ticket", "ticket": 1, "to_window": 2}, "viewer", "forbidden"),
    ({"type": "cancel_ticket", "ticket": 1}, "viewer", "forbidden"),
    ({"type": "pause", "window": 1}, "viewer", "forbidden"),
    ({"type": "resume", "window": 1}, "viewer", "forbidden"),
    (
        {"type": "set_window_services", "window": 1, "services": [{"service": "A"}]},
        "viewer",
        "forbidden",
    ),
    # ratings: never from an operator or clerk, whatever the channel says
    ({"type": "rate", "ticket": 0, "level": "satisfied"}, "op", "forbidden"),
    (
        {"type": "rate", "ticket": 0, "level": "satisfied", "channel": "window_pad"},
        "admin",
        "forbidden",
    ),
    (
        {"type": "rate", "ticket": 0, "level": "satisfied", "channel": "hall_terminal"},
        "op",
        "forbidden",
    ),
    ({"type": "rate", "ticket": 0, "level": "satisfied", "channel": "qr_code"}, "op", "forbidden"),
    ({"type": "rate", "ticket": 0, "level": "satisfied", "channel": "phone"}, "op", "forbidden"),
    (
        {"type": "rate", "ticket": 0, "level": "satisfied", "channel": "phone"},
        "clerk01",
        "forbidden",
    ),
    # an integration token rates only the channel its scope names
    (
        {"type": "rate", "ticket": 0, "level": "satisfied", "channel": "sms"},
        "phone_line",
        "forbidden",
    ),
    ({"type": "rate", "ticket": 0, "level": "satisfied"}, "phone_line", "forbidden"),
    ({"type": "follow_up_rate", "ticket": 0, "level": "satisfied"}, "op", "forbidden"),
    ({"type": "follow_up_rate", "ticket": 0, "level": "satisfied"}, "admin", "forbidden"),
    ({"type": "set_case_number", "ticket": 0, "case_number": "X-1"}, "viewer", "forbidden"),
    ({"type": "contact_case", "case": 0, "by": "op"}, "op", "forbidden"),
    ({"type": "contact_case", "case": 0, "by": "x"}, "dept", "forbidden"),
    ({"type": "verify_case", "case": 0, "by": "x", "outcome": "mistaken"}, "op", "forbidden"),
    ({"type": "verify_case", "case": 0, "by": "x", "outcome": "mistaken"}, "reviewer", "forbidden"),
    ({"type": "review_case", "case": 0, "by": "x", "granted": True}, "op", "forbidden"),
    ({"type": "review_case", "case": 0, "by": "x", "granted": True}, "admin", "forbidden"),
    ({"type": "rectify_case", "case": 0, "by": "x", "note": "n"}, "followup", "forbidden"),
    ({"type": "close_case", "case": 0, "by": "x", "note": "n"}, "reviewer", "forbidden"),
    ({"type": "unseal_contact", "case": 0, "by": "x"}, "followup", "forbidden"),
    ({"type": "miss_evaluation", "ticket": 0}, "admin", "forbidden"),
    (
        {
            "type": "book_appointment",
            "code": "ABCDEFGH",
            "service": "A",
            "slot_start_ms": 0,
            "phone_key": "k",
        },
        "admin",
        "forbidden",
    ),
    ({"type": "cancel_appointment", "code": "ABCDEFGH"}, "admin", "forbidden"),
    (
        {"type": "reschedule_appointment", "code": "ABCDEFGH", "slot_start_ms": 0},
        "admin",
        "forbidden",
    ),
    (
        {"type": "record_hand_over", "case": 0, "to": "hotline", "reference": "GD1"},
        "admin",
        "forbidden",
    ),
    ({"type": "tick"}, "op", "forbidden"),
    ({"type": "close_day"}, "op", "forbidden"),
    ({"type": "close_day", "early": True}, "clerk01", "forbidden"),
]


def test_the_refusal_table_covers_every_command_type() -> None:
    assert {body["type"] for body, _, _ in REFUSALS} == set(COMMAND_GATES)


async def test_every_command_type_is_refused_to_the_wrong_principal(hall: Hall) -> None:
    ticket = await hall.served()
    case = await hall.bad_case(rater="张三 13812345678")
    for body, who, code in REFUSALS:
        body = dict(body)
        for key, value in (("ticket", ticket), ("case", case)):
            if body.get(key) == 0:
                body[key] = value
        before = hall.fingerprint()
        status, data = await hall.command(who, body)
        assert (status, data["code"]) == (403, code), (who, body, data)
        assert hall.fingerprint() == before, (who, body)
    # Refusals are audited like every change.
    refused = [a for a in hall.ctx.directory.audit_trail if a.status == 403]
    assert len(refused) == len(REFUSALS)
    assert {a.action for a in refused} >= {"command:rate", "command:close_day"}


async def test_who_may_rate_and_close_the_day(hall: Hall) -> None:
    ticket = await hall.served()
    # The 12345 line's token rates a phone rating, and nothing else.
    phone = {"type": "rate", "ticket": ticket, "level": "satisfied", "channel": "phone"}
    status, data = await hall.command("phone_line", phone)
    assert status == 200, data
    assert data["events"][0]["channel"] == "phone"
    # The window's pad rates through the device hub's port (not HTTP): accepted.
    other = await hall.served()
    receipt = await hall.runtime.submit(cmd.Rate(ticket=other, level=cmd.RatingLevel.SATISFIED))
    assert receipt.events[0].channel is cmd.RatingChannel.WINDOW_PAD
    # close_day: an admin may (the engine then decides whether the day may close).
    status, data = await hall.command("admin", {"type": "close_day", "early": True})
    assert status == 200, data
    assert data["events"][-1]["e"] == "day_closed"


# -- appeals (申诉复核) ---------------------------------------------------------------------------


async def step(hall: Hall, who: str, case: int, name: str, body: dict[str, Any]) -> Any:
    status, data, _ = await hall.call(who, "POST", f"{HCP}/cases/{case}/{name}", body)
    return status, data


async def test_one_clerk_cannot_file_and_grant_an_appeal_on_their_own_bad_rating(
    hall: Hall,
) -> None:
    case = await hall.bad_case(rater="张三 13812345678")
    # The rated clerk holds every duty, yet takes no step on their own case.
    for name, body in (
        ("contact", {"reached": True, "note": "打过电话"}),
        ("verify", {"outcome": "mistaken", "note": "误评"}),
        ("review", {"granted": True}),
    ):
        before = hall.fingerprint()
        status, data = await step(hall, "clerk01", case, name, body)
        assert (status, data["code"]) == (403, "conflict_of_interest"), (name, data)
        assert hall.fingerprint() == before
    # The same through the command API, with `by` naming someone else.
    status, data = await hall.command(
        "clerk01",
        {"type": "verify_case", "case": case, "by": "dept", "outcome": "malicious"},
    )
    assert (status, data["code"]) == (403, "conflict_of_interest")


async def test_appeal_filed_by_the_department_decided_by_another_reviewer(hall: Hall) -> None:
    case = await hall.bad_case(rater="张三 13812345678")
    assert (await step(hall, "followup", case, "contact", {"reached": True}))[0] == 200
    # Another department may not verify this department's case.
    status, data = await step(hall, "dept_gaj", case, "verify", {"outcome": "mistaken"})
    assert (status, data["code"]) == (403, "forbidden")
    # The department files; `by` in the body is only words, kept in the note.
    status, data = await step(
        hall, "dept", case, "verify", {"outcome": "mistaken", "by": "张科长", "note": "按错了"}
    )
    assert status == 200, data
    [verified] = data["events"]
    assert verified["by"] == "dept" and verified["note"] == "按错了（经办人：张科长）"
    # The filer may not decide (it holds the reviewer duty too); nor the rated clerk.
    for who in ("dept", "clerk01"):
        before = hall.fingerprint()
        status, data = await step(hall, who, case, "review", {"granted": True})
        assert (status, data["code"]) == (403, "conflict_of_interest"), who
        assert hall.fingerprint() == before
    # Neither may someone without the reviewer duty.
    status, data = await step(hall, "followup", case, "review", {"granted": True})
    assert (status, data["code"]) == (403, "forbidden")
    status, data = await step(hall, "reviewer", case, "review", {"granted": True, "by": "reviewer"})
    assert status == 200, data
    steps = hall.runtime.state.cases[case].steps
    assert [(s.op.value, s.by) for s in steps] == [
        ("contact", "followup"),
        ("appeal", "dept"),
        ("grant_appeal", "reviewer"),
    ]
    # The durable log holds the steps under the accounts, read back from the store.
    logged = [
        (type(e).__name__, e.by)
        for e in await hall.events()
        if isinstance(e, ev.CaseContacted | ev.CaseVerified | ev.CaseReviewed)
    ]
    assert logged == [
        ("CaseContacted", "followup"),
        ("CaseVerified", "dept"),
        ("CaseReviewed", "reviewer"),
    ]


# -- 回访: opening the contact ---------------------------------------------------------------------


async def test_unseal_is_for_followup_audited_and_never_for_the_rated_clerk(hall: Hall) -> None:
    case = await hall.bad_case(rater="张三 138-1234-5678")
    path = f"{HCP}/contacts/{case}"
    for who, code in (
        ("clerk01", "conflict_of_interest"),
        ("op", "forbidden"),
        ("admin", "forbidden"),
        ("dept", "forbidden"),
    ):
        before = hall.fingerprint()
        status, data, _ = await hall.call(who, "POST", path, {})
        assert (status, data["code"]) == (403, code), who
        assert hall.fingerprint() == before
    status, contact, headers = await hall.call("followup", "POST", path, {})
    assert status == 200, contact
    assert contact == {"text": "张三 138-1234-5678", "name": "张三", "phone": "13812345678"}
    assert headers["Cache-Control"] == "no-store"
    # The opening is an event in the hall's log: who, when, which case.
    [unsealed] = [e for e in await hall.events() if isinstance(e, ev.ContactUnsealed)]
    assert (unsealed.case, unsealed.by, unsealed.purpose) == (
        case,
        "followup",
        cmd.ContactPurpose.VIEW,
    )
    assert unsealed.at > 0
    # The case page lists it; no view carries the contact, sealed or clear.
    status, view, _ = await hall.call("viewer", "GET", f"/api/v1/halls/h/cases/{case}")
    assert status == 200 and view["has_contact"] is True
    assert [(u["by"], u["purpose"]) for u in view["unseals"]] == [("followup", "view")]
    for path_ in (f"/api/v1/halls/h/cases/{case}", f"{HCP}/cases", f"{HCP}/ratings"):
        _, data, _ = await hall.call("admin", "GET", path_)
        text = str(data)
        assert "1234" not in text and "张三" not in text and "v1:" not in text, path_
    # The access audit has it too.
    assert [
        a.actor
        for a in hall.ctx.directory.audit_trail
        if a.action == "contact:view" and a.status == 200
    ] == ["followup"]


async def test_unseal_refusals_change_nothing(hall: Hall) -> None:
    anonymous = await hall.bad_case()
    for path, code, status in (
        (f"{HCP}/contacts/{anonymous}", "no_contact", 409),
        (f"{HCP}/contacts/999", "unknown_case", 409),
        (f"{HCP}/contacts/x1", "unknown_case", 409),
        ("/api/v1/halls/nowhere/haochaping/contacts/1", "unknown_hall", 404),
    ):
        before = hall.fingerprint()
        got, data, _ = await hall.call("followup", "POST", path, {})
        assert (got, data["code"]) == (status, code), path
        assert hall.fingerprint() == before
    assert not [e for e in await hall.events() if isinstance(e, ev.ContactUnsealed)]
    status, data, _ = await hall.call(None, "POST", f"{HCP}/contacts/{anonymous}", {})
    assert (status, data["code"]) == (401, "not_logged_in")


async def test_masked_call_through_the_telephony_webhook(hall: Hall) -> None:
    case = await hall.bad_case(rater="李四 13900001111")
    path = f"{HCP}/contacts/{case}/call"
    status, data, _ = await hall.call("clerk01", "POST", path, {})
    assert (status, data["code"]) == (403, "conflict_of_interest")
    assert hall.telephony.calls == []
    status, reply, _ = await hall.call("followup", "POST", path, {})
    assert status == 200, reply
    assert hall.telephony.calls == [
        {"case_id": f"h-C{case}", "hall": "h", "phone": "13900001111", "requested_by": "followup"}
    ]
    assert "13900001111" not in str(reply) and reply["case_id"] == f"h-C{case}"
    # The platform refusing: the clerk is told (502); the opening itself stays recorded.
    hall.telephony.status = 500
    status, data, _ = await hall.call("followup", "POST", path, {})
    assert (status, data["code"]) == (502, "call_failed")
    purposes = [e.purpose for e in await hall.events() if isinstance(e, ev.ContactUnsealed)]
    assert purposes == [cmd.ContactPurpose.CALL, cmd.ContactPurpose.CALL]


# -- 亮牌 ------------------------------------------------------------------------------------------


async def test_staff_photos_are_public_typed_by_their_bytes_and_limited(hall: Hall) -> None:
    status, data, headers = await hall.call(None, "GET", "/api/v1/halls/h/staff/01/photo")
    assert status == 200 and data == JPEG and headers["Content-Type"] == "image/jpeg"
    status, data, headers = await hall.call(None, "GET", "/api/v1/halls/h/staff/03/photo")
    assert status == 200 and data == PNG and headers["Content-Type"] == "image/png"
    for staff, code in (
        ("99", "unknown_staff"),
        ("02", "no_photo"),  # none configured
        ("04", "no_photo"),  # over the size limit
        ("05", "no_photo"),  # not an image
        ("06", "no_photo"),  # file missing
    ):
        status, data, _ = await hall.call(None, "GET", f"/api/v1/halls/h/staff/{staff}/photo")
        assert (status, data["code"]) == (404, code), staff
    status, data, _ = await hall.call(None, "GET", "/api/v1/halls/nowhere/staff/01/photo")
    assert (status, data["code"]) == (404, "unknown_hall")
    # The live hall says which clerks have one, so the tiles ask only for those.
    await hall.command("op", {"type": "login", "window": 1, "staff": "01"})
    _, view, _ = await hall.call("viewer", "GET", "/api/v1/halls/h")
    assert view["windows"][0]["staff_photo"] is True and view["windows"][1]["staff_photo"] is False


# -- granting duties and scopes -------------------------------------------------------------------


async def test_duties_and_scopes_bad_input_is_refused_and_changes_nothing(hall: Hall) -> None:
    directory = hall.ctx.directory
    before = {u: (a.duties, a.departments, a.staff_id) for u, a in directory.accounts.items()}
    tokens = len(directory.tokens())
    for who, path, body, status, code in (
        ("op", "/api/v1/users/viewer/duties", {"duties": ["reviewer"]}, 403, "forbidden"),
        ("clerk01", "/api/v1/users/clerk01/duties", {"duties": ["reviewer"]}, 403, "forbidden"),
        ("admin", "/api/v1/users/viewer/duties", {"duties": ["boss"]}, 400, "bad_request"),
        ("admin", "/api/v1/users/viewer/duties", {"duties": ["department"]}, 400, "bad_duties"),
        (
            "admin",
            "/api/v1/users/viewer/duties",
            {"duties": [], "departments": ["a b"]},
            400,
            "bad_duties",
        ),
        (
            "admin",
            "/api/v1/users/viewer/duties",
            {"duties": [], "staff_id": "工号"},
            400,
            "bad_duties",
        ),
        ("admin", "/api/v1/users/ghost/duties", {"duties": []}, 404, "unknown_user"),
        (
            "admin",
            "/api/v1/tokens",
            {"user": "viewer", "name": "x", "scopes": ["rating_source:window_pad"]},
            400,
            "bad_scope",
        ),
        (
            "admin",
            "/api/v1/tokens",
            {"user": "viewer", "name": "x", "scopes": ["rating_source:qr_code"]},
            400,
            "bad_scope",
        ),
        (
            "admin",
            "/api/v1/tokens",
            {"user": "viewer", "name": "x", "scopes": ["admin"]},
            400,
            "bad_scope",
        ),
    ):
        got, data, _ = await hall.call(who, "POST", path, body)
        assert (got, data["code"]) == (status, code), (who, path, body)
    assert {
        u: (a.duties, a.departments, a.staff_id) for u, a in directory.accounts.items()
    } == before
    assert len(directory.tokens()) == tokens
    status, user, _ = await hall.call(
        "admin",
        "POST",
        "/api/v1/users/viewer/duties",
        {"duties": ["followup", "department"], "departments": ["*"], "staff_id": "02"},
    )
    assert status == 200 and user["duties"] == ["department", "followup"]
    assert user["departments"] == ["*"] and user["staff_id"] == "02"
    status, session, _ = await hall.call("viewer", "GET", "/api/v1/session")
    assert session["duties"] == ["department", "followup"]
