"""Answered device requests in the fold: recorded with the command's events, kept ten minutes,
carried by snapshots, rebuilt by replay (controller/core/answers.py)."""

from __future__ import annotations

import pytest

from controller.core import commands as c
from controller.core import events as ev
from controller.core.answers import KEEP_MS, MAX_ENTRIES, AnsweredRequests
from controller.core.lifecycle import Rejected
from controller.core.state import HallState
from controller.daemon.runtime import HallRuntime, load_state
from controller.store.group_commit import GroupCommitter
from controller.store.memory import MemoryStore
from tests.controller.daemon.test_runtime import Clock
from tests.controller.halls import MONDAY_9AM, small_hall


def _answer(at: int, rid: int, device: str = "kiosk-1") -> ev.RequestAnswered:
    return ev.RequestAnswered(at=at, device=device, rid=rid, reply=1000 + rid, number="A001")


def test_an_answer_is_found_for_ten_minutes_then_forgotten() -> None:
    answers = AnsweredRequests()
    answers.add(_answer(MONDAY_9AM, 7))
    assert answers.get("kiosk-1", 7, MONDAY_9AM + KEEP_MS) == _answer(MONDAY_9AM, 7)
    assert answers.get("kiosk-1", 7, MONDAY_9AM + KEEP_MS + 1) is None
    assert answers.get("kiosk-2", 7, MONDAY_9AM) is None  # rids are per device
    answers.add(_answer(MONDAY_9AM + KEEP_MS + 1, 8))  # newer answers push old ones out
    assert len(answers) == 1


def test_the_index_is_bounded_by_count_too() -> None:
    answers = AnsweredRequests()
    for rid in range(MAX_ENTRIES + 10):
        answers.add(_answer(MONDAY_9AM, rid))
    assert len(answers) == MAX_ENTRIES
    assert answers.get("kiosk-1", 9, MONDAY_9AM) is None
    assert answers.get("kiosk-1", MAX_ENTRIES + 9, MONDAY_9AM) is not None


async def test_the_note_is_in_the_commands_record_and_survives_replay_and_snapshots() -> None:
    store = MemoryStore()
    config = small_hall()
    async with GroupCommitter(store) as committer:
        runtime = await HallRuntime.open(config, store, committer, clock=Clock())

        def note(events: list[ev.AnyEvent], at: int) -> ev.AnyEvent:
            [issued] = events
            assert isinstance(issued, ev.TicketIssued)
            return ev.RequestAnswered(
                at=at, device="kiosk-1", rid=5, reply=99, number=issued.number, ticket=1
            )

        receipt = await runtime.submit(c.IssueTicket(service="A"), annotate=note)
        assert [type(e) for e in receipt.events] == [ev.TicketIssued, ev.RequestAnswered]
        assert len(store._records["demo"]) == 1  # one record: durable together or not at all
        with pytest.raises(Rejected):  # a refusal records nothing, the note neither
            await runtime.submit(c.CallNext(window=1), annotate=note)
        await runtime.submit(c.Tick(), annotate=note)  # no events: no note
        live = runtime.state.answers.get("kiosk-1", 5, runtime.now())
        assert live is not None and live.number == "A001" and live.reply == 99
        assert len(runtime.state.answers) == 1

        replayed = await load_state(config, store)
        assert replayed.answers.get("kiosk-1", 5, runtime.now()) == live
        assert replayed.fingerprint() == runtime.state.fingerprint()
        restored = HallState.from_snapshot(config, runtime.state.to_snapshot())
        assert restored.answers.to_list() == [live]
