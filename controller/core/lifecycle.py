"""Ticket, window, evaluation, follow-up and 差评 case lifecycles as transition tables.

Theory of operation (after h11): every state a ticket, a window or an evaluation can be in is an
enum member, and every legal move is one row of a table below. The engine asks the table whether
an operation is legal before it emits anything, and the fold (``controller.core.state``) asks the
same table for the state an event leads to, so the two can never disagree. ``docs/lifecycle.md`` is
generated from these tables (``python -m controller.core.lifecycle``) and a test checks it is
current.

An illegal operation is refused with one exception type, ``Rejected``, whose ``reason`` is a
``RejectReason``; a refused command changes nothing.
"""

from __future__ import annotations

import enum
from typing import Final, TypeVar

S = TypeVar("S", bound=enum.Enum)
Op = TypeVar("Op", bound=enum.Enum)


class FastEnum(enum.Enum):
    """Members hash by identity (C speed) instead of Enum's Python-level ``hash(name)``: the
    transition tables are looked up for every event, millions of times in a replay."""

    __hash__ = object.__hash__


class TicketState(FastEnum):
    WAITING = "waiting"
    CALLED = "called"
    SERVING = "serving"
    SUSPENDED = "suspended"
    DONE = "done"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class WindowState(FastEnum):
    LOGGED_OUT = "logged_out"
    IDLE = "idle"
    CALLING = "calling"
    SERVING = "serving"
    PAUSED = "paused"


class EvaluationState(FastEnum):
    """The 好差评 status of a finished service; 'not evaluated' is a state, never a rating."""

    NONE = "none"  # not finished yet
    AWAITING = "awaiting"
    RATED = "rated"
    NOT_EVALUATED = "not_evaluated"


class FollowUpState(FastEnum):
    """The 追评 (follow-up rating through the ticket's QR code) of a service: one per ticket."""

    NONE = "none"  # not finished yet
    AVAILABLE = "available"
    USED = "used"


class CaseState(FastEnum):
    """A 差评 case: 回访, verification, 整改 and closing feedback, in that order."""

    AWAITING_CONTACT = "awaiting_contact"  # 待回访
    AWAITING_VERIFICATION = "awaiting_verification"  # 待核实
    UNDER_REVIEW = "under_review"  # 申诉复核: the rating was appealed as mistaken or malicious
    RECTIFYING = "rectifying"  # 整改中
    AWAITING_FEEDBACK = "awaiting_feedback"  # 待反馈
    CLOSED = "closed"


class TicketOp(FastEnum):
    CALL = "call"
    RECALL = "recall"
    START = "start"
    FINISH = "finish"
    NO_SHOW = "no_show"
    SUSPEND = "suspend"
    CALL_BACK = "call_back"
    TRANSFER = "transfer"
    CANCEL = "cancel"
    EXPIRE = "expire"
    CARRY_OVER = "carry_over"


class WindowOp(FastEnum):
    LOGIN = "login"
    LOGOUT = "logout"
    CALL = "call"
    RECALL = "recall"
    START = "start"
    FINISH = "finish"
    NO_SHOW = "no_show"
    SUSPEND = "suspend"
    CALL_BACK = "call_back"
    TRANSFER = "transfer"
    RELEASE = "release"  # the ticket at the window was cancelled or expired
    PAUSE = "pause"
    RESUME = "resume"


class EvaluationOp(FastEnum):
    INVITE = "invite"
    RATE = "rate"
    MISS = "miss"


class FollowUpOp(FastEnum):
    OFFER = "offer"
    RATE = "rate"


class CaseOp(FastEnum):
    CONTACT = "contact"  # 回访 recorded
    UPHOLD = "uphold"  # verified: the 差评 is founded
    EXPLAIN = "explain"  # verified: explained to the citizen, nothing to rectify
    APPEAL = "appeal"  # verified: mistaken or malicious, sent for review (申诉)
    GRANT_APPEAL = "grant_appeal"  # review: the rating is struck
    REFUSE_APPEAL = "refuse_appeal"  # review: the 差评 stands, rectify
    RECTIFY = "rectify"  # 整改 recorded
    CLOSE = "close"  # closing feedback given
    ESCALATE = "escalate"  # a deadline passed (a flag on the case, the state stays)


TS = TicketState
WS = WindowState

TICKET_TRANSITIONS: Final[dict[tuple[TicketState, TicketOp], TicketState]] = {
    (TS.WAITING, TicketOp.CALL): TS.CALLED,
    (TS.CALLED, TicketOp.RECALL): TS.CALLED,
    (TS.CALLED, TicketOp.START): TS.SERVING,
    (TS.SERVING, TicketOp.FINISH): TS.DONE,
    (TS.CALLED, TicketOp.NO_SHOW): TS.NO_SHOW,
    (TS.SERVING, TicketOp.SUSPEND): TS.SUSPENDED,
    (TS.SUSPENDED, TicketOp.CALL_BACK): TS.SERVING,
    (TS.WAITING, TicketOp.TRANSFER): TS.WAITING,
    (TS.CALLED, TicketOp.TRANSFER): TS.WAITING,
    (TS.SERVING, TicketOp.TRANSFER): TS.WAITING,
    (TS.WAITING, TicketOp.CANCEL): TS.CANCELLED,
    (TS.CALLED, TicketOp.CANCEL): TS.CANCELLED,
    (TS.SUSPENDED, TicketOp.CANCEL): TS.CANCELLED,
    (TS.WAITING, TicketOp.EXPIRE): TS.EXPIRED,
    (TS.CALLED, TicketOp.EXPIRE): TS.EXPIRED,
    (TS.SUSPENDED, TicketOp.EXPIRE): TS.EXPIRED,
    (TS.WAITING, TicketOp.CARRY_OVER): TS.WAITING,
    (TS.SUSPENDED, TicketOp.CARRY_OVER): TS.SUSPENDED,
}

WINDOW_TRANSITIONS: Final[dict[tuple[WindowState, WindowOp], WindowState]] = {
    (WS.LOGGED_OUT, WindowOp.LOGIN): WS.IDLE,
    (WS.IDLE, WindowOp.LOGOUT): WS.LOGGED_OUT,
    (WS.PAUSED, WindowOp.LOGOUT): WS.LOGGED_OUT,
    (WS.IDLE, WindowOp.CALL): WS.CALLING,
    (WS.CALLING, WindowOp.RECALL): WS.CALLING,
    (WS.CALLING, WindowOp.START): WS.SERVING,
    (WS.SERVING, WindowOp.FINISH): WS.IDLE,
    (WS.CALLING, WindowOp.NO_SHOW): WS.IDLE,
    (WS.SERVING, WindowOp.SUSPEND): WS.IDLE,
    (WS.IDLE, WindowOp.CALL_BACK): WS.SERVING,
    (WS.CALLING, WindowOp.TRANSFER): WS.IDLE,
    (WS.SERVING, WindowOp.TRANSFER): WS.IDLE,
    (WS.CALLING, WindowOp.RELEASE): WS.IDLE,
    (WS.IDLE, WindowOp.PAUSE): WS.PAUSED,
    (WS.PAUSED, WindowOp.RESUME): WS.IDLE,
}

EVALUATION_TRANSITIONS: Final[dict[tuple[EvaluationState, EvaluationOp], EvaluationState]] = {
    (EvaluationState.NONE, EvaluationOp.INVITE): EvaluationState.AWAITING,
    (EvaluationState.AWAITING, EvaluationOp.RATE): EvaluationState.RATED,
    (EvaluationState.AWAITING, EvaluationOp.MISS): EvaluationState.NOT_EVALUATED,
}


FOLLOW_UP_TRANSITIONS: Final[dict[tuple[FollowUpState, FollowUpOp], FollowUpState]] = {
    (FollowUpState.NONE, FollowUpOp.OFFER): FollowUpState.AVAILABLE,
    (FollowUpState.AVAILABLE, FollowUpOp.RATE): FollowUpState.USED,
}

CS = CaseState

CASE_TRANSITIONS: Final[dict[tuple[CaseState, CaseOp], CaseState]] = {
    (CS.AWAITING_CONTACT, CaseOp.CONTACT): CS.AWAITING_VERIFICATION,
    (CS.AWAITING_VERIFICATION, CaseOp.UPHOLD): CS.RECTIFYING,
    (CS.AWAITING_VERIFICATION, CaseOp.EXPLAIN): CS.AWAITING_FEEDBACK,
    (CS.AWAITING_VERIFICATION, CaseOp.APPEAL): CS.UNDER_REVIEW,
    (CS.UNDER_REVIEW, CaseOp.GRANT_APPEAL): CS.AWAITING_FEEDBACK,
    (CS.UNDER_REVIEW, CaseOp.REFUSE_APPEAL): CS.RECTIFYING,
    (CS.RECTIFYING, CaseOp.RECTIFY): CS.AWAITING_FEEDBACK,
    (CS.AWAITING_FEEDBACK, CaseOp.CLOSE): CS.CLOSED,
    (CS.AWAITING_CONTACT, CaseOp.ESCALATE): CS.AWAITING_CONTACT,
    (CS.AWAITING_VERIFICATION, CaseOp.ESCALATE): CS.AWAITING_VERIFICATION,
    (CS.UNDER_REVIEW, CaseOp.ESCALATE): CS.UNDER_REVIEW,
    (CS.RECTIFYING, CaseOp.ESCALATE): CS.RECTIFYING,
}

RECTIFY_PENDING_CASE_STATES: Final = frozenset(
    {CS.AWAITING_CONTACT, CS.AWAITING_VERIFICATION, CS.UNDER_REVIEW, CS.RECTIFYING}
)
"""States in which the 整改 deadline still applies (verification or rectification unfinished)."""


def _by_operation(table: dict[tuple[S, Op], S]) -> dict[Op, dict[S, S]]:
    """The same table indexed operation-first, for the fold's hot path (no tuple per lookup)."""
    nested: dict[Op, dict[S, S]] = {}
    for (state, op), new_state in table.items():
        nested.setdefault(op, {})[state] = new_state
    return nested


TICKET_NEXT: Final = _by_operation(TICKET_TRANSITIONS)
WINDOW_NEXT: Final = _by_operation(WINDOW_TRANSITIONS)

FINAL_TICKET_STATES: Final = frozenset({TS.DONE, TS.NO_SHOW, TS.CANCELLED, TS.EXPIRED})
OPEN_TICKET_STATES: Final = frozenset(set(TicketState) - FINAL_TICKET_STATES)


class RejectReason(enum.Enum):
    """Why a command was refused. Stable strings: devices and the API show them."""

    UNKNOWN_SERVICE = "unknown_service"
    UNKNOWN_WINDOW = "unknown_window"
    UNKNOWN_STAFF = "unknown_staff"
    UNKNOWN_TICKET = "unknown_ticket"
    WINDOW_LOGGED_OUT = "window_logged_out"
    WINDOW_ALREADY_LOGGED_IN = "window_already_logged_in"
    STAFF_AT_OTHER_WINDOW = "staff_at_other_window"
    WINDOW_BUSY = "window_busy"
    WINDOW_PAUSED = "window_paused"
    WINDOW_NOT_PAUSED = "window_not_paused"
    PAUSE_ALREADY_REQUESTED = "pause_already_requested"
    BAD_PAUSE_REASON = "bad_pause_reason"
    NO_TICKET_AT_WINDOW = "no_ticket_at_window"
    QUEUE_EMPTY = "queue_empty"
    RECALL_LIMIT = "recall_limit"
    TICKET_NOT_WAITING = "ticket_not_waiting"
    TICKET_NOT_SUSPENDED = "ticket_not_suspended"
    TICKET_AT_OTHER_WINDOW = "ticket_at_other_window"
    TICKET_CLOSED = "ticket_closed"
    ILLEGAL_TRANSITION = "illegal_transition"
    GREEN_CHANNEL_NOT_ALLOWED = "green_channel_not_allowed"
    NUMBERS_EXHAUSTED = "numbers_exhausted"
    APPOINTMENT_ALREADY_CHECKED_IN = "appointment_already_checked_in"
    BAD_APPOINTMENT_SLOT = "bad_appointment_slot"
    UNKNOWN_APPOINTMENT = "unknown_appointment"
    APPOINTMENT_FOR_OTHER_SERVICE = "appointment_for_other_service"
    APPOINTMENT_TOO_EARLY = "appointment_too_early"
    APPOINTMENT_TOO_LATE = "appointment_too_late"
    BOOKING_CLOSED = "booking_closed"
    SLOT_NOT_OFFERED = "slot_not_offered"
    BOOKING_CUTOFF = "booking_cutoff"
    SLOT_FULL = "slot_full"
    BOOKING_LIMIT_REACHED = "booking_limit_reached"
    BOOKING_BLOCKED = "booking_blocked"
    BOOKING_CODE_TAKEN = "booking_code_taken"
    TRANSFER_TARGET_INVALID = "transfer_target_invalid"
    NOT_FINISHED = "not_finished"
    ALREADY_EVALUATED = "already_evaluated"
    EVALUATION_CLOSED = "evaluation_closed"
    REPLAYED_COUNTER = "replayed_counter"
    BAD_SERVICE_LIST = "bad_service_list"
    BAD_LEVEL = "bad_level"
    UNKNOWN_REASON = "unknown_reason"
    BAD_RATING_TEXT = "bad_rating_text"
    BAD_FOLLOW_UP_TOKEN = "bad_follow_up_token"
    FOLLOW_UP_USED = "follow_up_used"
    BAD_CASE_NUMBER = "bad_case_number"
    UNKNOWN_CASE = "unknown_case"
    CASE_STEP_NOT_ALLOWED = "case_step_not_allowed"
    BAD_CASE_STEP = "bad_case_step"
    DAY_ALREADY_CLOSED = "day_already_closed"
    CONFLICT_OF_INTEREST = "conflict_of_interest"  # an appeal decided by its own filer
    NO_CONTACT = "no_contact"  # the rater left no contact (anonymous), nothing to open


class Rejected(Exception):
    """An illegal command; carries the reason, a detail in English (logs, machines) and the
    facts a message for people fills in (``window``, ``number``, ``state``, ...)."""

    def __init__(self, reason: RejectReason, detail: str = "", **facts: str | int) -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
        self.facts = facts


def render_markdown() -> str:
    """The lifecycle tables as Markdown (docs/lifecycle.md is this text)."""
    lines = [
        "# Lifecycles",
        "",
        "Generated from `controller/core/lifecycle.py` by `python -m controller.core.lifecycle`; "
        "a test fails when this file and the tables differ.",
        "",
    ]
    tables: list[tuple[str, dict[tuple[enum.Enum, enum.Enum], enum.Enum]]] = [
        ("Ticket", dict(TICKET_TRANSITIONS)),  # type: ignore[arg-type]
        ("Window", dict(WINDOW_TRANSITIONS)),  # type: ignore[arg-type]
        ("Evaluation (好差评)", dict(EVALUATION_TRANSITIONS)),  # type: ignore[arg-type]
        ("Follow-up rating (追评)", dict(FOLLOW_UP_TRANSITIONS)),  # type: ignore[arg-type]
        ("差评 case", dict(CASE_TRANSITIONS)),  # type: ignore[arg-type]
    ]
    for title, table in tables:
        lines += [f"## {title}", "", "| from | operation | to |", "|---|---|---|"]
        for (src, op), dst in table.items():
            lines.append(f"| {src.value} | {op.value} | {dst.value} |")
        lines += ["", "```mermaid", "stateDiagram-v2"]
        for (src, op), dst in table.items():
            lines.append(f"    {src.value} --> {dst.value}: {op.value}")
        lines += ["```", ""]
    lines += [
        "Final ticket states: "
        + ", ".join(sorted(s.value for s in FINAL_TICKET_STATES))
        + '. Every ticket issued reaches exactly one of them (with `leftover = "expire"`, '
        "by the daily close at the latest; a ticket still being served at close is finished "
        "by its clerk).",
        "",
        "A 差评 case is opened by the engine in the same log record as the bad rating. Its "
        "deadlines are fixed when it opens (working days, official calendar): `escalate` is "
        "recorded once for 回访 when the case still awaits contact at its contact deadline, and "
        "once for 整改 when it is still in "
        + ", ".join(sorted(s.value for s in RECTIFY_PENDING_CASE_STATES))
        + " at its rectification deadline (docs/haochaping.md).",
        "",
        "## Daily close",
        "",
        "A business day is the hall's local date of a closing instant (`[hall] closing_time`, "
        "every calendar day, weekends and holidays included). `close_day` is accepted once per "
        "business day and records `day_closed` naming that day:",
        "",
        "- scheduled: the latest closing instant at or before now passed after the log began "
        "and its day is not closed: that day closes. The daemon submits it at the closing time, "
        "or at start-up when the daemon was down then; days missed while it was down are "
        "settled by one close, of the latest day.",
        '- early (`{"type": "close_day", "early": true}`, an administrator closing the hall '
        "before its closing time): when no close is due, today closes now, and its scheduled "
        "close does not run again.",
        "- otherwise it is refused with `day_already_closed` and nothing changes.",
        "",
        'The close expires (or, with `leftover = "carry_over"`, keeps) the open tickets, voids '
        "bookings whose slot passed, and archives final tickets: they leave the live state and "
        "its snapshots (the log keeps them; statistics of closed days read the log). A final "
        "ticket stays while its rating is still awaited, while a 追评 is still possible "
        "(`follow_up_days` after its finish), while an open 差评 case names it, or while it is a "
        "window's last finished service. A command naming an archived ticket is refused with "
        "`ticket_closed` (`evaluation_closed` for ratings). Numbering is not reset by the close: "
        "each service restarts at `number_min` on its next business day (`daily_reset`), "
        "skipping the numbers of carried-over tickets.",
        "",
        "## Reject reasons",
        "",
    ]
    lines += [f"- `{r.value}`" for r in RejectReason]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
