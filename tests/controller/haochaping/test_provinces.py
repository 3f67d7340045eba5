"""The reporting adapters against strict local platforms: zwfw_batch (batches, national code
direction, epoch ms, HMAC over sorted params), b64_query (one form POST per record, a
double-base64 query string, provincial direction, yyyyMMddHHmmss), the 12345 hotline (its 工单号
recorded on the case), and several destinations per hall, each with its own cursor."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

import aiohttp
import msgspec
import pytest
from aiohttp import web

from controller.config.loader import parse_config
from controller.core import commands as c
from controller.core import events as ev
from controller.haochaping.adapters import (
    B64QueryAdapter,
    HotlineAdapter,
    MissingCredentials,
    ZwfwBatchAdapter,
    b64_query,
    zwfw_batch,
)
from controller.haochaping.adapters.base import Adapter
from controller.haochaping.keys import Credentials, KeyFileError, load_or_create_keys
from controller.haochaping.outbox import Outbox, aiohttp_sender
from controller.haochaping.records import AnyRecord, RecordMaker, read_log
from controller.haochaping.service import Haochaping, acknowledger
from tests.controller.haochaping.stub_provinces import (
    APP_KEY,
    SECRET,
    B64Stub,
    HotlineStub,
    ZwfwStub,
    sign,
)
from tests.controller.haochaping.test_outbox import HALL, Hall, busy_morning, run_until
from tests.controller.haochaping.test_outbox import hall as hall  # the fixture

SHANGHAI = ZoneInfo("Asia/Shanghai")
CREDENTIALS = Credentials(app_key=APP_KEY, app_secret=SECRET.encode())
Stub = ZwfwStub | B64Stub | HotlineStub
JSON = {"Content-Type": "application/json; charset=utf-8"}


@pytest.fixture
async def stubs() -> AsyncIterator[Callable[[Stub], Any]]:
    runners: list[web.AppRunner] = []

    async def start(stub: Stub) -> Stub:
        runners.append(await stub.start(stub.handle))
        return stub

    yield start
    for runner in runners:
        await runner.cleanup()


async def outgoing(hall: Hall, adapter: Adapter) -> list[AnyRecord]:
    maker = RecordMaker(hall.runtime.engine.config)
    found: list[AnyRecord] = []
    async for seq, events in read_log(hall.store, "qx"):
        found += [r for r in maker.records(seq, events) if adapter.wants(r)]
    return found


def outbox(hall: Hall, adapter: Adapter, session: aiohttp.ClientSession, **kw: Any) -> Outbox:
    config = hall.runtime.engine.config
    return Outbox(hall.store, config, adapter, aiohttp_sender(session), first_backoff_s=0.01, **kw)


# -- zwfw_batch -------------------------------------------------------------------------------


async def test_zwfw_batch_delivers_ratings_services_and_cases_in_batches(
    hall: Hall, stubs: Any
) -> None:
    await busy_morning(hall, services=30)
    stub: ZwfwStub = await stubs(ZwfwStub())
    adapter = ZwfwBatchAdapter(stub.url, CREDENTIALS, max_batch=8)
    expected = [r.record_id for r in await outgoing(hall, adapter)]
    async with aiohttp.ClientSession() as session:
        box = outbox(hall, adapter, session)
        await run_until(box, lambda: len(stub.received) == len(expected))
    assert stub.errors == []
    assert stub.order == expected  # log order across batches
    assert all(size <= 8 for size in stub.batch_sizes) and sum(stub.batch_sizes) == len(expected)
    assert stub.requests == len(stub.batch_sizes) <= len(expected) // 4
    assert box.status.delivered == len(expected) and box.status.cursor == await hall.store.last_seq(
        "qx"
    )
    kinds = [stub.received[r]["record_type"] for r in expected]
    assert kinds.count("evaluation") == 31 and kinds.count("project") == 30
    levels = [
        stub.received[r]["satisfaction"] for r in expected if "satisfaction" in stub.received[r]
    ]
    assert levels[:5] == [1, 2, 4, 3, 5]  # national direction: 1 = 非常满意, 5 = 非常不满意
    project = next(
        stub.received[r] for r in expected if stub.received[r]["record_type"] == "project"
    )
    assert project["wait_seconds"] == 1 and project["handle_seconds"] == 29
    assert (
        project["take_time"]
        < project["call_time"]
        == project["accept_time"]
        < project["finish_time"]
    )
    assert project["user_name"] == "陈晓燕" and project["ticket_no"].startswith("A")


async def test_zwfw_batch_resumes_after_a_restart_without_losing_or_reordering(
    hall: Hall, stubs: Any
) -> None:
    await busy_morning(hall, services=20)
    stub: ZwfwStub = await stubs(ZwfwStub(down_after=3))  # three batches in, then an outage
    adapter = ZwfwBatchAdapter(stub.url, CREDENTIALS, max_batch=6)
    expected = [r.record_id for r in await outgoing(hall, adapter)]
    async with aiohttp.ClientSession() as session:
        first = outbox(hall, adapter, session)
        await run_until(first, lambda: first.status.consecutive_failures >= 2)
        saved = int(await hall.store.get_value(first.key) or b"0")
        sent = sum(stub.batch_sizes)
        assert len(stub.batch_sizes) == 3 and first.status.delivered == sent == len(stub.order)
        assert 0 < saved < await hall.store.last_seq("qx")
        stub.down_after = None  # the platform is back; a new process on the same database
        second = outbox(hall, adapter, session)
        await run_until(
            second, lambda: second.status.lag_records == 0 and len(stub.order) == len(expected)
        )
    assert stub.order == expected and stub.errors == []  # every record once, in log order
    assert second.status.delivered + sent >= len(expected)  # re-sent ones count as delivered


async def test_zwfw_batch_refused_whole_is_resent_record_by_record(hall: Hall, stubs: Any) -> None:
    await busy_morning(hall, services=5)
    stub: ZwfwStub = await stubs(ZwfwStub(max_batch=3))  # refuses the adapter's batches of 8
    stub.refuse = lambda item: item.get("step") == "contacted"
    adapter = ZwfwBatchAdapter(stub.url, CREDENTIALS, max_batch=8)
    expected = [r.record_id for r in await outgoing(hall, adapter)]
    async with aiohttp.ClientSession() as session:
        box = outbox(hall, adapter, session)
        await run_until(box, lambda: box.status.lag_records == 0 and box.status.delivered > 0)
        aside = await box.rejected()
    assert [e for e in stub.errors if not e.startswith("E101")] == []
    assert len(stub.received) == len(expected) - 1 and box.status.rejected == 1
    assert [a["record_id"] for a in aside] == [r for r in expected if r not in stub.received]
    assert "E300" in aside[0]["error"]


async def test_zwfw_batch_with_a_wrong_secret_keeps_retrying_and_loses_nothing(
    hall: Hall, stubs: Any
) -> None:
    await busy_morning(hall, services=2)
    stub: ZwfwStub = await stubs(ZwfwStub())
    wrong = Credentials(app_key=APP_KEY, app_secret=b"not-the-secret")
    adapter = ZwfwBatchAdapter(stub.url, wrong)
    first_seq = int((await outgoing(hall, adapter))[0].record_id.split("-")[1])
    async with aiohttp.ClientSession() as session:
        box = outbox(hall, adapter, session)
        await run_until(box, lambda: box.status.consecutive_failures >= 3)
    assert stub.received == {} and box.status.delivered == box.status.rejected == 0
    assert box.status.cursor == first_seq - 1 and "E401" in box.status.last_error


async def test_zwfw_batch_in_the_wrong_code_direction_is_refused(
    hall: Hall, stubs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reversed_ = {level: 6 - code for level, code in zwfw_batch.SATISFACTION.items()}
    monkeypatch.setattr(zwfw_batch, "SATISFACTION", reversed_)
    await busy_morning(hall, services=5)
    stub: ZwfwStub = await stubs(ZwfwStub())
    async with aiohttp.ClientSession() as session:
        box = outbox(hall, ZwfwBatchAdapter(stub.url, CREDENTIALS), session)
        await run_until(box, lambda: box.status.lag_records == 0 and box.status.delivered > 0)
    opened = [e for e in stub.errors if "national direction" in e]
    assert len(opened) == 2 == box.status.rejected  # both cases' "opened" records


@pytest.mark.parametrize(
    "tamper",
    [
        "signature",
        "replay",
        "missing_field",
        "envelope",
        "old_timestamp",
    ],
)
async def test_zwfw_stub_refuses_malformed_requests(hall: Hall, stubs: Any, tamper: str) -> None:
    await busy_morning(hall, services=1)
    stub: ZwfwStub = await stubs(ZwfwStub())
    adapter = ZwfwBatchAdapter(stub.url, CREDENTIALS)
    records = await outgoing(hall, adapter)
    body = json.loads(adapter.batch_request(records).body)
    async with aiohttp.ClientSession() as session:
        if tamper == "replay":
            async with session.post(stub.url, data=json.dumps(body), headers=JSON) as first:
                assert (await first.json())["code"] == "0000"
        elif tamper == "signature":
            body["biz_content"] = body["biz_content"].replace('"content":""', '"content":"x"', 1)
        elif tamper == "missing_field":
            items = json.loads(body["biz_content"])
            del items[0]["org_code"]
            body["biz_content"] = json.dumps(items, ensure_ascii=False)
            body["sign"] = sign(body).upper()
        elif tamper == "envelope":
            del body["nonce"]
        else:
            body["timestamp"] = str(int(body["timestamp"]) - 3_600_000)
            body["sign"] = sign(body).upper()
        async with session.post(stub.url, data=json.dumps(body), headers=JSON) as response:
            answer = await response.json()
    verdict = adapter.batch_verdict(response.status, json.dumps(answer).encode(), records)
    assert answer["code"] != "0000" or verdict.rejected, answer
    assert verdict.verdict.value in ("retry", "rejected") or verdict.rejected
    assert stub.errors


# -- b64_query --------------------------------------------------------------------------------


async def test_b64_query_sends_each_record_double_base64_in_the_provincial_direction(
    hall: Hall, stubs: Any
) -> None:
    await busy_morning(hall, services=10)
    stub: B64Stub = await stubs(B64Stub())
    adapter = B64QueryAdapter(stub.url, CREDENTIALS, SHANGHAI)
    expected = [r.record_id for r in await outgoing(hall, adapter)]
    async with aiohttp.ClientSession() as session:
        box = outbox(hall, adapter, session)
        await run_until(box, lambda: len(stub.received) == len(expected))
    assert stub.errors == [] and stub.order == expected and stub.requests == len(expected)
    ratings = [stub.received[r] for r in expected if stub.received[r]["lx"] == "pj"]
    assert [r["pjdj"] for r in ratings[:5]] == ["5", "4", "2", "3", "1"]  # 1 = 非常不满意
    assert ratings[0]["pjsj"] == "20261123090135" and ratings[-1]["sfzp"] == "Y"
    services = [stub.received[r] for r in expected if stub.received[r]["lx"] == "bj"]
    assert len(services) == 10 and services[0]["bljs"] == "29" and services[0]["xm"] == "陈晓燕"
    steps = [stub.received[r]["hj"] for r in expected if stub.received[r]["lx"] == "zg"]
    assert steps.count("opened") == 4 and "closed" in steps


async def test_b64_query_in_the_wrong_code_direction_is_refused(
    hall: Hall, stubs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reversed_ = {level: str(6 - int(code)) for level, code in b64_query.PJDJ.items()}
    monkeypatch.setattr(b64_query, "PJDJ", reversed_)
    await busy_morning(hall, services=5)
    stub: B64Stub = await stubs(B64Stub())
    async with aiohttp.ClientSession() as session:
        box = outbox(hall, B64QueryAdapter(stub.url, CREDENTIALS, SHANGHAI), session)
        await run_until(box, lambda: box.status.lag_records == 0 and box.status.delivered > 0)
    assert len([e for e in stub.errors if "provincial direction" in e]) == 2 == box.status.rejected


@pytest.mark.parametrize("tamper", ["single_base64", "signature", "missing_field", "json_body"])
async def test_b64_stub_refuses_malformed_requests(hall: Hall, stubs: Any, tamper: str) -> None:
    await busy_morning(hall, services=1)
    stub: B64Stub = await stubs(B64Stub())
    adapter = B64QueryAdapter(stub.url, CREDENTIALS, SHANGHAI)
    [record, *_] = await outgoing(hall, adapter)
    form = {k: v[0] for k, v in parse_qs(adapter.request(record).body.decode()).items()}
    query = base64.b64decode(base64.b64decode(form["data"])).decode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if tamper == "single_base64":
        form["data"] = base64.b64encode(query.encode()).decode()
        form["sign"] = sign(form)
    elif tamper == "signature":
        form["sign"] = sign(form, "another-secret")
    elif tamper == "missing_field":
        fields = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        del fields["bmbm"]
        form["data"] = base64.b64encode(base64.b64encode(urlencode(fields).encode())).decode()
        form["sign"] = sign(form)
    else:
        headers = {"Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(stub.url, data=urlencode(form), headers=headers) as response,
    ):
        body = await response.read()
    assert msgspec.json.decode(body)["status"] == "fail"
    assert adapter.verdict(response.status, body).value in ("retry", "rejected")
    assert stub.received == {} and len(stub.errors) == 1


# -- 12345 hotline ----------------------------------------------------------------------------


async def test_hotline_hand_over_records_the_work_order_on_the_case_once(
    hall: Hall, stubs: Any
) -> None:
    await busy_morning(hall, services=10)
    stub: HotlineStub = await stubs(HotlineStub())
    adapter = HotlineAdapter(stub.url, CREDENTIALS, SHANGHAI)
    cases = hall.runtime.state.cases
    assert len(cases) == 4
    async with aiohttp.ClientSession() as session:
        box = outbox(hall, adapter, session, acknowledge=acknowledger(hall.runtime))
        await run_until(box, lambda: all(c.hand_overs for c in cases.values()) or stub.errors)
        assert stub.errors == []
        assert stub.errors == [] and len(stub.received) == 4
        assert {c.hand_overs["hotline_12345"] for c in cases.values()} == set(
            stub.work_orders.values()
        )
        item = next(iter(stub.received.values()))
        assert item["level"] == "不满意" and item["opened_at"].endswith("+08:00")
        await hall.store.put_value(box.key, b"0")  # a restart that lost its cursor: all again
        again = outbox(hall, adapter, session, acknowledge=acknowledger(hall.runtime))
        await run_until(again, lambda: again.status.delivered == 4)
    handed: list[ev.CaseHandedOver] = []
    async for _, events in read_log(hall.store, "qx"):
        handed += [e for e in events if isinstance(e, ev.CaseHandedOver)]
    assert len(handed) == 4 and stub.requests == 8  # the same numbers again record nothing


async def test_a_hand_over_the_hall_cannot_record_yet_is_tried_again(
    hall: Hall, stubs: Any
) -> None:
    await busy_morning(hall, services=5)
    stub: HotlineStub = await stubs(HotlineStub())
    record = acknowledger(hall.runtime)
    calls: list[str] = []

    async def flaky(command: c.RecordHandOver) -> bool:
        calls.append(command.reference)
        if len(calls) <= 2:
            return False  # as when the hall's store is unavailable
        return await record(command)

    async with aiohttp.ClientSession() as session:
        box = outbox(
            hall, HotlineAdapter(stub.url, CREDENTIALS, SHANGHAI), session, acknowledge=flaky
        )
        cases = hall.runtime.state.cases
        await run_until(box, lambda: all(k.hand_overs for k in cases.values()))
    assert calls[0] == calls[1] == calls[2] and len(calls) == 4  # 2 cases, the first thrice
    assert stub.requests == 2  # the hotline was not asked again: only the recording was


async def test_hotline_stub_refuses_a_bad_signature(hall: Hall, stubs: Any) -> None:
    await busy_morning(hall, services=5)
    stub: HotlineStub = await stubs(HotlineStub())
    wrong = Credentials(app_key=APP_KEY, app_secret=b"not-the-secret")
    async with aiohttp.ClientSession() as session:
        box = outbox(hall, HotlineAdapter(stub.url, wrong, SHANGHAI), session)
        await run_until(box, lambda: box.status.consecutive_failures >= 2)
    assert stub.received == {} and stub.errors[0] == "signature mismatch"
    assert all(not c.hand_overs for c in hall.runtime.state.cases.values())


async def test_hand_over_refusals_change_nothing(hall: Hall) -> None:
    from controller.core.lifecycle import Rejected, RejectReason

    await busy_morning(hall, services=5)
    case = min(hall.runtime.state.cases)
    seq = await hall.store.last_seq("qx")
    for command, reason in (
        (c.RecordHandOver(case=99, to="hotline_12345", reference="GD1"), RejectReason.UNKNOWN_CASE),
        (c.RecordHandOver(case=case, to="hotline_12345", reference=""), RejectReason.BAD_CASE_STEP),
        (c.RecordHandOver(case=case, to="x", reference="G" * 65), RejectReason.BAD_CASE_STEP),
        (c.RecordHandOver(case=case, to="x", reference="GD\n1"), RejectReason.BAD_CASE_STEP),
    ):
        with pytest.raises(Rejected) as refused:
            await hall.runtime.submit(command)
        assert refused.value.reason is reason
    assert await hall.store.last_seq("qx") == seq
    assert hall.runtime.state.cases[case].hand_overs == {}
    good = c.RecordHandOver(case=case, to="hotline_12345", reference="GD2026000001")
    assert len((await hall.runtime.submit(good)).events) == 1
    assert (await hall.runtime.submit(good)).events == []  # the same acknowledgement again
    assert hall.runtime.state.cases[case].hand_overs == {"hotline_12345": "GD2026000001"}


# -- several destinations ---------------------------------------------------------------------


async def test_several_destinations_each_get_everything_with_their_own_cursor(
    hall: Hall, stubs: Any, tmp_path: Path
) -> None:
    await busy_morning(hall, services=5)
    batch: ZwfwStub = await stubs(ZwfwStub())
    single: B64Stub = await stubs(B64Stub())
    text = HALL.replace(
        '[reporting]\nadapter = "json_v1"\nurl = "http://127.0.0.1:1/unused"\n',
        f'[[reporting]]\nadapter = "zwfw_batch"\nurl = "{batch.url}"\ncredentials = "prov"\n'
        f'[[reporting]]\nadapter = "b64_query"\nid = "city"\nurl = "{single.url}"\n'
        'credentials = "city"\n',
    )
    config = parse_config(text)
    db = tmp_path / "hall.db"
    secrets = db.with_name(db.name + ".secrets")
    load_or_create_keys(secrets)
    entry = {"app_key": APP_KEY, "app_secret": SECRET}
    data = json.loads(secrets.read_text()) | {"reporting": {"prov": entry, "city": entry}}
    secrets.write_text(json.dumps(data))
    hall.runtime.engine.config = config  # the hall now reports to both
    async with aiohttp.ClientSession() as session:
        boxes = Haochaping(db).outboxes_for(hall.runtime, hall.store, aiohttp_sender(session))
        assert [b.key for b in boxes] == ["outbox:zwfw_batch:qx", "outbox:city:qx"]
        for box in boxes:
            await run_until(
                box, lambda box=box: box.status.lag_records == 0 and box.status.delivered
            )
    last = await hall.store.last_seq("qx")
    assert [int(await hall.store.get_value(b.key) or b"0") for b in boxes] == [last, last]
    assert batch.received.keys() == single.received.keys() and batch.errors == single.errors == []


def test_a_signing_adapter_without_credentials_stops_the_start(tmp_path: Path) -> None:
    from controller.haochaping.service import reporting_adapters

    text = HALL.replace('adapter = "json_v1"', 'adapter = "zwfw_batch"')
    with pytest.raises(MissingCredentials):
        reporting_adapters(parse_config(text), tmp_path / "x.secrets")
    load_or_create_keys(tmp_path / "x.secrets")
    named = text.replace('adapter = "zwfw_batch"', 'adapter = "zwfw_batch"\ncredentials = "p"')
    with pytest.raises(KeyFileError, match="no usable reporting credentials 'p'"):
        reporting_adapters(parse_config(named), tmp_path / "x.secrets")
