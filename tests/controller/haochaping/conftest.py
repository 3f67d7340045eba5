"""Fixtures: a small hall whose windows belong to departments, and a served ticket."""

from __future__ import annotations

from dataclasses import replace

import pytest

from controller.config.model import Department, HallConfig, HallSettings
from controller.core import commands as c
from controller.core import events as ev
from controller.core.engine import HallEngine
from controller.core.lifecycle import WindowState
from tests.controller.halls import MONDAY_9AM, small_hall

T0 = MONDAY_9AM
DEPT_CODE = "113309990026000004"  # a checksum-valid 统一社会信用代码 made up for tests


def hall_with_departments() -> HallConfig:
    base = small_hall()
    windows = tuple(replace(w, department="zwb") for w in base.windows)
    return replace(
        base,
        hall=HallSettings(id="demo", name="示范政务服务大厅", region_code="330999"),
        windows=windows,
        departments=(Department(id="zwb", name="县政务服务管理局", code=DEPT_CODE),),
    )


@pytest.fixture
def config() -> HallConfig:
    return hall_with_departments()


@pytest.fixture
def engine(config: HallConfig) -> HallEngine:
    return HallEngine(config)


def served(engine: HallEngine, at: int = T0, window: int = 1, staff: str = "1001") -> int:
    """Issue, call, start and finish one ticket at ``window``; return its id (done at at+4)."""
    [issued] = engine.handle(c.IssueTicket(service="A"), at)
    assert isinstance(issued, ev.TicketIssued)
    if engine.state.windows[window].state is WindowState.LOGGED_OUT:
        engine.handle(c.Login(window=window, staff=staff), at + 1)
    engine.handle(c.CallNext(window=window), at + 2)
    engine.handle(c.Start(window=window), at + 3)
    engine.handle(c.Finish(window=window), at + 4)
    return issued.ticket
