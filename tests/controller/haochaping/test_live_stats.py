"""Live statistics: the same figures as a full fold of the log, kept current record by record,
each record counted once however it arrived, and closed days still counted."""

from __future__ import annotations

from datetime import date

from controller.core import commands as c
from controller.haochaping.live_stats import LiveStats
from controller.haochaping.records import read_log
from controller.haochaping.stats import Dimension, StatsFolder, StatsReport
from tests.controller.halls import MINUTE, MONDAY_9AM
from tests.controller.haochaping.test_outbox import Hall, busy_morning
from tests.controller.haochaping.test_outbox import hall as hall  # the fixture

MONDAY = date(2026, 11, 23)
WEEK = (MONDAY, date(2026, 11, 29))


async def full_fold(hall: Hall) -> StatsReport:
    folder = StatsFolder(hall.runtime.engine.config)
    async for _, events in read_log(hall.store, "qx"):
        folder.apply(events)
    return folder.report(*WEEK)


def served(report: StatsReport) -> int:
    [row] = [r for r in report.rows if r.dimension is Dimension.HALL]
    return row.served


async def test_live_figures_equal_a_full_fold_and_follow_new_records(hall: Hall) -> None:
    await busy_morning(hall, services=20)
    live = LiveStats(hall.store, "qx", hall.runtime.engine.config)
    hall.runtime.subscribe(live.notify)
    await live.build()
    assert await live.report(*WEEK) == await full_fold(hall)
    assert served(await live.report(*WEEK)) == 20
    t = MONDAY_9AM + 3 * 60 * MINUTE  # later that Wednesday, more services and a rating
    await hall.at(t, c.IssueTicket(service="A"))
    await hall.at(t + 1000, c.CallNext(window=1))
    await hall.at(t + 60_000, c.Finish(window=1))
    await hall.at(t + 61_000, c.Rate(ticket=21, level=c.RatingLevel.DISSATISFIED))
    now = await live.report(*WEEK)
    assert now == await full_fold(hall) and served(now) == 21
    rows = {(r.dimension, r.key): r for r in now.rows}
    assert rows[(Dimension.DEPARTMENT, "zrj")].label == "县自然资源和规划局"
    assert rows[(Dimension.DEPARTMENT, "zrj")].served == 21


async def test_a_record_seen_both_early_and_in_the_log_counts_once(hall: Hall) -> None:
    await busy_morning(hall, services=5)
    live = LiveStats(hall.store, "qx", hall.runtime.engine.config)
    hall.runtime.subscribe(live.notify)
    t = MONDAY_9AM + 3 * 60 * MINUTE
    await hall.at(t, c.IssueTicket(service="A"))  # notified before the build read the log
    await hall.at(t + 1000, c.CallNext(window=1))
    await hall.at(t + 2000, c.Finish(window=1))
    assert len(live._early) == 3 and not live.ready.is_set()
    await live.build()
    assert served(await live.report(*WEEK)) == 6 and live.seq == await hall.store.last_seq("qx")
    assert await live.report(*WEEK) == await full_fold(hall)


async def test_services_of_a_closed_day_still_count(hall: Hall) -> None:
    await busy_morning(hall, services=10)
    live = LiveStats(hall.store, "qx", hall.runtime.engine.config)
    hall.runtime.subscribe(live.notify)
    await live.build()
    before = await live.report(MONDAY, MONDAY)
    await hall.at(MONDAY_9AM + 10 * 24 * 60 * MINUTE, c.CloseDay())  # past the 追评 days
    kept = [t for t in hall.runtime.state.tickets.values() if t.day == MONDAY.isoformat()]
    assert len(kept) < 10  # archived: only tickets of open cases stay live
    assert await live.report(MONDAY, MONDAY) == before and served(before) == 10


async def test_a_snapshot_resumes_exactly_where_the_log_left_off(hall: Hall) -> None:
    await busy_morning(hall, services=10)
    config = hall.runtime.engine.config
    live = LiveStats(hall.store, "qx", config)
    hall.runtime.subscribe(live.notify)
    await live.build()
    await live.save()
    saved_at = live.seq
    cases = sorted(hall.runtime.state.open_cases)
    t = MONDAY_9AM + 3 * 60 * MINUTE  # after the snapshot: a service, case steps, a strike
    await hall.at(t, c.IssueTicket(service="A"))
    await hall.at(t + 1000, c.CallNext(window=1))
    await hall.at(t + 2000, c.Finish(window=1))
    await hall.at(t + 3000, c.Rate(ticket=11, level=c.RatingLevel.VERY_DISSATISFIED))
    await hall.at(t + 4000, c.ContactCase(case=cases[0], by="王科长"))
    await hall.at(
        t + 5000, c.VerifyCase(case=cases[0], by="王科长", outcome=c.VerificationOutcome.MALICIOUS)
    )
    await hall.at(t + 6000, c.ReviewCase(case=cases[0], by="复核组", granted=True))
    restarted = LiveStats(hall.store, "qx", config)  # a new daemon on the same database
    await restarted.build()
    assert restarted.seq == await hall.store.last_seq("qx") > saved_at
    assert await restarted.report(*WEEK) == await live.report(*WEEK) == await full_fold(hall)
    report = await restarted.report(*WEEK)
    [row] = [r for r in report.rows if r.dimension is Dimension.HALL]
    assert (row.served, row.rated, row.ratings, row.cases) == (11, 10, 11, 5)  # 12 - 1 struck


async def test_a_snapshot_of_another_configuration_is_not_used(hall: Hall) -> None:
    import dataclasses

    from controller.haochaping.live_stats import load_folder

    await busy_morning(hall, services=5)
    config = hall.runtime.engine.config
    live = LiveStats(hall.store, "qx", config)
    await live.build()
    await live.save()
    renamed = dataclasses.replace(config, hall=dataclasses.replace(config.hall, name="新名称"))
    folder, seq = await load_folder(hall.store, "qx", renamed)
    assert seq == 0 and folder.report(*WEEK).rows == []  # the whole log is read instead
    _, seq = await load_folder(hall.store, "qx", config)
    assert seq == live.seq
    await hall.store.put_value("stats:qx", b"\x00not msgpack")
    folder, seq = await load_folder(hall.store, "qx", config)
    assert seq == 0
