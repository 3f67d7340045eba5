"""Statistics from a log: every figure of one small, hand-checked day."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import msgspec
from openpyxl import load_workbook

from controller.cli.hallctl import main
from controller.config.loader import parse_config
from controller.core import commands as c
from controller.core import events as ev
from controller.core.engine import HallEngine
from controller.daemon.runtime import HallRuntime
from controller.haochaping.export import to_csv, to_json, to_xlsx
from controller.haochaping.stats import Dimension, StatsFolder, StatsReport, percentile
from controller.store.group_commit import GroupCommitter
from controller.store.sqlite import SqliteStore
from tests.controller.halls import MINUTE, MONDAY_9AM

T0 = MONDAY_9AM
L = c.RatingLevel
V = c.VerificationOutcome
HALL_TOML = """
[hall]
id = "t"
name = "测试大厅"
region_code = "330999"

[[services]]
id = "A"
name = "社保"
prefix = "A"
item_code = "330999001"

[[windows]]
number = 1
services = ["A"]

[[windows]]
number = 2
services = ["A"]

[[staff]]
id = "01"
name = "王芳"

[[staff]]
id = "02"
name = "李强"
"""


def day_of_service(engine: HallEngine) -> list[list[ev.AnyEvent]]:
    """Four tickets: waits 1, 2, 9, 13 min; service 5 min each (one with 2 min suspended);
    ratings 非常满意, 差评 (case contacted, upheld, rectified), none; one 差评 struck on appeal."""
    log: list[list[ev.AnyEvent]] = []

    def do(command: c.AnyCommand, at: int) -> list[ev.AnyEvent]:
        events = engine.handle(command, at)
        log.append(events)
        return events

    for i in range(4):
        do(c.IssueTicket(service="A"), T0 + i)
    do(c.Login(window=1, staff="01"), T0)
    do(c.Login(window=2, staff="02"), T0)
    # ticket 1 at window 1: waits 1 min, served 5 min, 非常满意
    do(c.CallNext(window=1), T0 + 1 * MINUTE)
    do(c.Finish(window=1), T0 + 6 * MINUTE)
    do(c.Rate(ticket=1, level=L.VERY_SATISFIED), T0 + 6 * MINUTE + 5000)
    # ticket 2 at window 2: waits 2 min, 7 min with 2 suspended, 差评 handled
    do(c.CallNext(window=2), T0 + 1 + 2 * MINUTE)
    do(c.Start(window=2), T0 + 1 + 2 * MINUTE)
    do(c.Suspend(window=2), T0 + 4 * MINUTE)
    do(c.CallBack(window=2, number="A002"), T0 + 6 * MINUTE)
    do(c.Finish(window=2), T0 + 9 * MINUTE)
    _, opened = do(c.Rate(ticket=2, level=L.DISSATISFIED), T0 + 9 * MINUTE + 1000)
    assert isinstance(opened, ev.CaseOpened)
    do(c.ContactCase(case=opened.case, by="x"), T0 + 60 * MINUTE)
    do(c.VerifyCase(case=opened.case, by="x", outcome=V.UPHELD), T0 + 61 * MINUTE)
    do(c.RectifyCase(case=opened.case, by="x", note="培训"), T0 + 62 * MINUTE)
    # ticket 3 at window 1: waits 9 min, 5 min, not evaluated
    do(c.CallNext(window=1), T0 + 2 + 9 * MINUTE)
    do(c.Finish(window=1), T0 + 2 + 14 * MINUTE)
    do(c.Tick(), T0 + 30 * MINUTE)
    # ticket 4 at window 2: 差评 pressed by mistake, struck on appeal
    do(c.CallNext(window=2), T0 + 3 + 13 * MINUTE)
    do(c.Finish(window=2), T0 + 3 + 18 * MINUTE)
    _, opened = do(c.Rate(ticket=4, level=L.VERY_DISSATISFIED), T0 + 19 * MINUTE)
    assert isinstance(opened, ev.CaseOpened)
    do(c.ContactCase(case=opened.case, by="x"), T0 + 60 * MINUTE)
    do(c.VerifyCase(case=opened.case, by="x", outcome=V.MISTAKEN), T0 + 61 * MINUTE)
    do(c.ReviewCase(case=opened.case, by="复核", granted=True), T0 + 62 * MINUTE)
    return log


def build_report() -> StatsReport:
    config = parse_config(HALL_TOML)
    folder = StatsFolder(config)
    for events in day_of_service(HallEngine(config)):
        folder.apply(events)
    return folder.report(date(2026, 11, 23), date(2026, 11, 23))


def test_the_figures_of_one_day() -> None:
    report = build_report()
    [hall] = [r for r in report.rows if r.dimension is Dimension.HALL]
    assert (hall.served, hall.rated, hall.ratings) == (4, 2, 2)
    assert hall.coverage == 0.5 and hall.satisfaction == 0.5 and hall.bad_ratings == 1
    assert hall.cases == 2 and hall.contact_rate == 1.0 and hall.rectify_rate == 1.0
    assert hall.on_time_rate == 1.0
    assert hall.wait_p50_s == 120.0 and hall.wait_p90_s == 780.0
    assert hall.service_p50_s == 300.0 and hall.service_p90_s == 300.0  # suspension excluded
    windows = {r.key: r for r in report.rows if r.dimension is Dimension.WINDOW}
    assert windows["1"].served == 2 and windows["1"].satisfaction == 1.0
    assert windows["2"].bad_ratings == 1 and windows["2"].rated == 1  # ticket 4's was struck
    staff = {r.key: r.label for r in report.rows if r.dimension is Dimension.STAFF}
    assert staff == {"01": "王芳", "02": "李强"}
    hours = {r.key: r.served for r in report.rows if r.dimension is Dimension.HOUR}
    assert hours == {"09": 4}


def test_outside_the_range_nothing_counts() -> None:
    config = parse_config(HALL_TOML)
    folder = StatsFolder(config)
    for events in day_of_service(HallEngine(config)):
        folder.apply(events)
    assert folder.report(date(2026, 11, 24), date(2026, 11, 30)).rows == []


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([1000], 0.9) == 1.0
    assert percentile([4000, 1000, 3000, 2000], 0.5) == 2.0
    assert percentile(list(range(1000, 11000, 1000)), 0.9) == 9.0


def test_exports_carry_the_same_figures() -> None:
    report = build_report()
    rows = list(csv.DictReader(io.StringIO(to_csv([report]).decode("utf-8-sig"))))
    hall = next(r for r in rows if r["维度"] == "大厅")
    assert hall["办件量"] == "4" and hall["评价覆盖率"] == "0.5" and hall["名称"] == "测试大厅"
    assert list(rows[0])[:4] == ["大厅", "维度", "编号", "名称"]
    book = load_workbook(io.BytesIO(to_xlsx([report])))
    assert book.sheetnames == ["大厅", "部门", "窗口", "工作人员", "事项", "日", "时段"]
    sheet = book["窗口"]
    assert sheet.cell(1, 5).value == "办件量" and sheet.max_row == 3
    decoded = msgspec.json.decode(to_json([report]), type=list[StatsReport])
    assert decoded == [report]


async def test_report_command_reads_only_the_log(tmp_path: Path, capsys: object) -> None:
    db = tmp_path / "hall.db"
    config = parse_config(HALL_TOML)
    store = await SqliteStore.open(db)
    async with GroupCommitter(store) as committer:
        runtime = await HallRuntime.open(config, store, committer, config_text=HALL_TOML)
        for events in day_of_service(HallEngine(config)):
            await committer.append("t", ev.encode_record(events))
        del runtime
    await store.close()
    out = tmp_path / "r.json"
    argv = ["report", "--db", str(db), "--from", "2026-11-23", "--to", "2026-11-23"]
    code = await _run_cli([*argv, "--format", "json", "--out", str(out)])
    assert code == 0
    [hall_report] = json.loads(out.read_text(encoding="utf-8"))
    assert hall_report["rows"][0]["served"] == 4
    xlsx = tmp_path / "r.xlsx"
    assert await _run_cli([*argv, "--format", "xlsx", "--out", str(xlsx)]) == 0
    assert load_workbook(xlsx).sheetnames[0] == "大厅"
    assert await _run_cli([*argv, "--hall", "nope"]) == 2


async def _run_cli(argv: list[str]) -> int:
    import asyncio

    return await asyncio.to_thread(main, argv)
