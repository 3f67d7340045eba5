"""The arrival process: Poisson per service, shaped by the day curve (no broker: a hall with
no kiosks turns every arrival away, which counts them)."""

from __future__ import annotations

import asyncio

from firmware_protocols import mqtt_v1 as p
from simulator.clock import SimClock
from simulator.devices import Fleet, Invite, SimEvaluator
from simulator.devices.connection import Endpoint
from simulator.ledger import Ledger
from simulator.params import SimParams
from simulator.people import Crowd, Rater, TaskGroup
from tests.simulator.halls import tiny_hall

CONFIG = tiny_hall()


async def arrivals(params: SimParams, real_seconds: float, speed: float) -> dict[str, int]:
    clock = SimClock(speed, start_hour=params.start_hour)
    ledger = Ledger()
    tasks = TaskGroup()
    crowd = Crowd(CONFIG, Fleet(), params, clock, ledger, seed=5, tasks=tasks)
    clock.start()
    crowd.start()
    await asyncio.sleep(real_seconds)
    await tasks.cancel()
    assert tasks.failures == []
    return dict(ledger.turned_away)


async def test_arrivals_follow_the_rate() -> None:
    flat = SimParams(arrivals_per_hour=60, service_rates={"B": 120}, day_curve=(1.0,) * 24)
    counts = await arrivals(flat, 0.5, speed=36_000)  # 5 simulated hours
    assert 200 <= counts["A"] <= 400  # mean 300, sd 17
    assert 450 <= counts["B"] <= 750  # mean 600, sd 24


async def test_the_day_curve_shapes_arrivals() -> None:
    one_hour = tuple(1.0 if hour == 9 else 0.0 for hour in range(24))
    params = SimParams(arrivals_per_hour=60, day_curve=one_hour, start_hour=9.0)
    counts = await arrivals(params, 0.5, speed=36_000)  # 09:00-14:00, open 09-10 only
    assert 30 <= counts["A"] <= 95  # mean 60, sd 8


async def test_a_zero_rate_means_nobody_comes() -> None:
    counts = await arrivals(SimParams(arrivals_per_hour=0), 0.2, speed=36_000)
    assert counts == {}


async def test_raters_follow_the_distribution_and_some_never_press() -> None:
    params = SimParams(never_rate=0.2, rating_delay_seconds=(0.0, 0.0))
    tasks = TaskGroup()
    rater = Rater(params, SimClock(1000), __import__("random").Random(1), tasks)
    pad = SimEvaluator(Endpoint("127.0.0.1", 1, "t", "w1-pad", p.DeviceKind.EVALUATOR), window=1)
    reasons = (p.ReasonTag(id="wait", text="等候时间长"),)
    for ticket in range(1, 1001):
        invite = Invite(ticket, 30, reasons)
        pad.invite = invite
        rater.on_invite(pad, invite)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        pad.invite = None
    await tasks.cancel()
    levels = [r.level for r in pad.pressed]
    assert 740 <= len(levels) <= 860  # 80 % press
    share = levels.count(p.RatingLevel.VERY_SATISFIED) / len(levels)
    assert 0.64 <= share <= 0.76
    bad = [r for r in pad.pressed if r.level <= p.RatingLevel.DISSATISFIED]
    assert bad and all(r.reasons in ((), ("wait",)) for r in bad)
    assert any(r.reasons == ("wait",) for r in bad)
    await pad.outbox.close()
