"""What a window keypad operation means to the engine, for every kind of keypad.

MQTT keypads send typed ``press`` messages, RS-485 keypads send keys that
``keypad_bus.KeySequence`` turns into operations, native-protocol keypads send key events;
all of them end here, as one ``KeypadOperation``, and become the same engine command. So a
window behaves the same whichever vendor's keypad sits on the desk.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from controller.core import commands as cmd
from controller.core.lifecycle import Rejected, RejectReason, WindowState
from controller.core.state import HallState


class Op(enum.Enum):
    """Keypad operations (names as in protocol v1's ``press.op``, plus what legacy keys do)."""

    LOGIN = "login"
    LOGOUT = "logout"
    CALL_NEXT = "call_next"
    RECALL = "recall"
    CALL_NUMBER = "call_number"
    START = "start"
    FINISH = "finish"
    NO_SHOW = "no_show"
    SUSPEND = "suspend"
    CALL_BACK = "call_back"
    TRANSFER = "transfer"
    PAUSE = "pause"
    RESUME = "resume"
    PAUSE_TOGGLE = "pause_toggle"  # one 暂停 key on legacy keypads: pause, or resume if paused
    ONE_METRE_LINE = "one_metre_line"  # 一米线 reminder: voice only, nothing queued


@dataclass(frozen=True, slots=True)
class KeypadOperation:
    op: Op
    staff: str | None = None  # LOGIN
    number: str | None = None  # CALL_NUMBER; CALL_BACK (None: the latest suspended here)
    service: str | None = None  # TRANSFER to a service
    to_window: int | None = None  # TRANSFER to a window


_SIMPLE: dict[Op, type[cmd.AnyCommand]] = {
    Op.LOGOUT: cmd.Logout,
    Op.CALL_NEXT: cmd.CallNext,
    Op.RECALL: cmd.Recall,
    Op.START: cmd.Start,
    Op.FINISH: cmd.Finish,
    Op.NO_SHOW: cmd.NoShow,
    Op.SUSPEND: cmd.Suspend,
    Op.PAUSE: cmd.Pause,
    Op.RESUME: cmd.Resume,
}


def window_command(
    state: HallState, window: int, operation: KeypadOperation
) -> cmd.AnyCommand | None:
    """The engine command for ``operation`` at ``window``; None for the one-metre-line
    reminder, which queues nothing. The engine decides whether the command is legal; this
    only says what was asked (a call-back with no number and nothing suspended is refused
    here, since there is nothing to name)."""
    op = operation.op
    simple = _SIMPLE.get(op)
    if simple is not None:
        return simple(window=window)  # type: ignore[call-arg]
    if op is Op.LOGIN:
        return cmd.Login(window=window, staff=operation.staff or "")
    if op is Op.CALL_NUMBER:
        return cmd.CallNumber(window=window, number=operation.number or "")
    if op is Op.CALL_BACK:
        number = operation.number
        if number is None:
            runtime = state.windows.get(window)
            if runtime is None or not runtime.suspended:
                raise Rejected(RejectReason.TICKET_NOT_SUSPENDED, f"nothing suspended at {window}")
            number = state.tickets[runtime.suspended[-1]].number
        return cmd.CallBack(window=window, number=number)
    if op is Op.TRANSFER:
        return cmd.Transfer(
            window=window, to_service=operation.service, to_window=operation.to_window
        )
    if op is Op.PAUSE_TOGGLE:
        runtime = state.windows.get(window)
        if runtime is not None and runtime.state is WindowState.PAUSED:
            return cmd.Resume(window=window)
        return cmd.Pause(window=window)
    return None  # ONE_METRE_LINE
