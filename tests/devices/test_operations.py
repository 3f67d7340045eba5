"""Every keypad operation, from any keypad, becomes the same engine command."""

from __future__ import annotations

import pytest

from controller.core import commands as c
from controller.core.engine import HallEngine
from controller.core.lifecycle import Rejected, RejectReason
from devices.operations import KeypadOperation, Op, window_command
from firmware_protocols import mqtt_v1 as proto
from tests.controller.halls import MONDAY_9AM, small_hall


@pytest.fixture
def engine() -> HallEngine:
    return HallEngine(small_hall())


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        (KeypadOperation(Op.LOGIN, staff="1001"), c.Login(window=1, staff="1001")),
        (KeypadOperation(Op.LOGOUT), c.Logout(window=1)),
        (KeypadOperation(Op.CALL_NEXT), c.CallNext(window=1)),
        (KeypadOperation(Op.RECALL), c.Recall(window=1)),
        (KeypadOperation(Op.CALL_NUMBER, number="A007"), c.CallNumber(window=1, number="A007")),
        (KeypadOperation(Op.START), c.Start(window=1)),
        (KeypadOperation(Op.FINISH), c.Finish(window=1)),
        (KeypadOperation(Op.NO_SHOW), c.NoShow(window=1)),
        (KeypadOperation(Op.SUSPEND), c.Suspend(window=1)),
        (KeypadOperation(Op.CALL_BACK, number="A003"), c.CallBack(window=1, number="A003")),
        (KeypadOperation(Op.TRANSFER, service="B"), c.Transfer(window=1, to_service="B")),
        (KeypadOperation(Op.TRANSFER, to_window=3), c.Transfer(window=1, to_window=3)),
        (KeypadOperation(Op.PAUSE), c.Pause(window=1)),
        (KeypadOperation(Op.RESUME), c.Resume(window=1)),
        (KeypadOperation(Op.ONE_METRE_LINE), None),
    ],
)
def test_operation_to_command(
    engine: HallEngine, operation: KeypadOperation, expected: c.AnyCommand | None
) -> None:
    assert window_command(engine.state, 1, operation) == expected


def test_every_protocol_press_op_is_an_operation() -> None:
    assert {op.value for op in proto.PressOp} <= {op.value for op in Op}


def test_pause_key_toggles(engine: HallEngine) -> None:
    toggle = KeypadOperation(Op.PAUSE_TOGGLE)
    engine.handle(c.Login(window=1, staff="1001"), MONDAY_9AM)
    assert window_command(engine.state, 1, toggle) == c.Pause(window=1)
    engine.handle(c.Pause(window=1), MONDAY_9AM)
    assert window_command(engine.state, 1, toggle) == c.Resume(window=1)


def test_call_back_without_a_number_takes_the_latest_suspended(engine: HallEngine) -> None:
    back = KeypadOperation(Op.CALL_BACK)
    with pytest.raises(Rejected) as refused:
        window_command(engine.state, 1, back)
    assert refused.value.reason is RejectReason.TICKET_NOT_SUSPENDED
    engine.handle(c.IssueTicket(service="A"), MONDAY_9AM)
    engine.handle(c.Login(window=1, staff="1001"), MONDAY_9AM)
    engine.handle(c.CallNext(window=1), MONDAY_9AM)
    engine.handle(c.Start(window=1), MONDAY_9AM)
    engine.handle(c.Suspend(window=1), MONDAY_9AM)
    assert window_command(engine.state, 1, back) == c.CallBack(window=1, number="A001")
