"""The availability state machine: births always count, wills only for the last birth's session
(docs/protocol/mqtt.md section 5)."""

from __future__ import annotations

from devices.availability import Availability


def _fresh() -> Availability:
    availability = Availability()
    availability.add("pad-1", "evaluator", "mqtt", 1)
    return availability


def test_a_lower_session_is_a_new_incarnation_and_comes_online() -> None:
    availability = _fresh()
    status = availability.devices["pad-1"]
    assert availability.birth("pad-1", 42, 1_000)
    assert availability.will("pad-1", 42, 2_000) is True and not status.online
    # The pad is replaced: its counter starts again at 0. Births are always accepted.
    assert availability.birth("pad-1", 0, 3_000)
    assert status.online and status.session == 0 and status.since_ms == 3_000


def test_the_late_will_of_an_older_incarnation_does_not_darken_the_new_one() -> None:
    availability = _fresh()
    status = availability.devices["pad-1"]
    availability.birth("pad-1", 42, 1_000)  # old pad, still connected as far as the broker knows
    availability.birth("pad-1", 1, 2_000)  # replacement pad, counter wiped
    assert availability.will("pad-1", 42, 3_000) is None  # stale: re-announce, stay online
    assert status.online and status.session == 1
    assert availability.will("pad-1", 1, 4_000) is True  # the live incarnation's own will
    assert not status.online


def test_a_newer_session_replaces_the_old_one_and_its_will_is_stale() -> None:
    availability = _fresh()
    status = availability.devices["pad-1"]
    availability.birth("pad-1", 7, 1_000)
    assert availability.birth("pad-1", 8, 1_500)  # reconnected before the broker noticed
    assert availability.will("pad-1", 7, 2_000) is None
    assert status.online and status.since_ms == 1_000  # online all along


def test_a_repeated_birth_changes_nothing_and_a_repeated_will_neither() -> None:
    availability = _fresh()
    assert availability.birth("pad-1", 3, 1_000)
    assert not availability.birth("pad-1", 3, 1_100)  # the same session re-announced
    assert availability.will("pad-1", 3, 2_000) is True
    assert availability.will("pad-1", 3, 2_100) is False
