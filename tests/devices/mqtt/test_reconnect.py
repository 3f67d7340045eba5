"""The reconnect state machine, without sockets or clocks."""

from __future__ import annotations

import pytest

from devices.mqtt.ids import MonotonicIds
from devices.mqtt.reconnect import (
    TRANSITIONS,
    BackoffPolicy,
    IllegalTransition,
    LinkEvent,
    LinkState,
    Reconnector,
)

POLICY = BackoffPolicy(initial=1.0, factor=2.0, cap=8.0, jitter=0.5)


def test_delays_grow_then_cap_without_jitter() -> None:
    machine = Reconnector(POLICY, rand=lambda: 0.0)
    machine.start()
    delays = []
    for _ in range(6):
        delays.append(machine.failed().delay)
        machine.retry()
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_jitter_only_shortens_within_its_fraction() -> None:
    assert POLICY.delay(3, rand=1.0) == pytest.approx(2.0)  # 4 s minus 50 %
    assert POLICY.delay(3, rand=0.0) == 4.0
    assert POLICY.delay(10_000, rand=0.0) == 8.0  # huge attempt counts do not overflow


def test_only_the_first_failure_of_an_outage_is_loud() -> None:
    machine = Reconnector(POLICY, rand=lambda: 0.0)
    machine.start()
    louds = []
    for _ in range(3):
        louds.append(machine.failed().loud)
        machine.retry()
    assert louds == [True, False, False]
    assert machine.connected() == 3
    lost = machine.lost()
    assert lost.loud and lost.delay == 1.0  # a new outage, starting from the initial delay
    machine.retry()
    assert not machine.failed().loud
    assert machine.state is LinkState.WAITING


def test_illegal_events_raise_and_change_nothing() -> None:
    machine = Reconnector(POLICY)
    with pytest.raises(IllegalTransition, match="connected in state idle"):
        machine.connected()
    assert machine.state is LinkState.IDLE
    machine.start()
    with pytest.raises(IllegalTransition):
        machine.lost()
    assert machine.state is LinkState.CONNECTING


def test_close_is_allowed_from_every_state_and_final() -> None:
    assert all((state, LinkEvent.CLOSE) in TRANSITIONS for state in LinkState)
    machine = Reconnector(POLICY)
    machine.start()
    machine.close()
    assert machine.closed
    with pytest.raises(IllegalTransition):
        machine.retry()


@pytest.mark.parametrize(
    "kwargs", [{"initial": 0}, {"initial": 5, "cap": 1}, {"factor": 0.5}, {"jitter": 1.0}]
)
def test_unusable_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="back-off"):
        BackoffPolicy(**kwargs)


def test_ids_increase_and_start_from_the_clock() -> None:
    ids = MonotonicIds(clock_ns=lambda: 5_000_000)
    assert [ids.next(), ids.next()] == [5001, 5002]
    assert ids.last == 5002
    restarted = MonotonicIds()
    assert restarted.next() > 1_700_000_000_000_000  # microseconds since 1970, past 2023
