"""What each device family should show, as a pure function of the hall's state.

The hub keeps, per device, the last state it sent; whenever the hall changes it recomputes the
desired state and sends it only if it differs. Because the desired state is recomputed from the
hall (not patched by "something changed" notices), a device that missed messages, rebooted or
reconnected converges by receiving it once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from controller.config.model import Device, HallConfig
from controller.core import events as ev
from controller.core.lifecycle import EvaluationState, WindowState
from controller.core.state import HallState, WindowRuntime
from firmware_protocols import mqtt_v1 as proto

THANKS_SECONDS = 5
RECENT_CALLS = 10


def reason_tags(config: HallConfig) -> list[proto.ReasonTag]:
    """The 差评 reasons the hall configured ([evaluation] reasons), as pads show them."""
    return [proto.ReasonTag(id=tag.id, text=tag.text) for tag in config.evaluation.reasons]


_WINDOW_STATE = {
    WindowState.LOGGED_OUT: proto.WindowState.LOGGED_OUT,
    WindowState.IDLE: proto.WindowState.IDLE,
    WindowState.CALLING: proto.WindowState.CALLING,
    WindowState.SERVING: proto.WindowState.SERVING,
    WindowState.PAUSED: proto.WindowState.PAUSED,
}


@dataclass(slots=True)
class HallExtras:
    """What the views need beyond the engine's state (kept by the hub, not logged)."""

    recent_calls: deque[proto.CallEntry] = field(default_factory=lambda: deque(maxlen=RECENT_CALLS))
    thanks_until_ms: dict[int, int] = field(default_factory=dict)  # window -> time
    recalling: dict[int, bool] = field(default_factory=dict)  # window -> last call a recall
    notice: str = ""

    @classmethod
    def from_state(cls, state: HallState) -> HallExtras:
        """After a restart the hall screen shows the latest calls the state knows of."""
        extras = cls()
        called = sorted(
            (t for t in state.tickets.values() if t.called_at and t.window),
            key=lambda t: t.called_at or 0,
        )[-RECENT_CALLS:]
        for ticket in called:
            assert ticket.window is not None
            extras.recent_calls.appendleft(
                proto.CallEntry(number=ticket.number, window=window_label(ticket.window))
            )
        return extras

    def observe(self, events: list[ev.AnyEvent], state: HallState) -> set[int]:
        """Take in a durable record; return the windows whose devices it changes. One place
        for every link (MQTT hub, RS-485 buses), so they show the same thing."""
        windows: set[int] = set()
        for event in events:
            window = getattr(event, "window", None)
            if window is not None:
                windows.add(window)
            if isinstance(event, ev.TicketCalled | ev.TicketRecalled):
                recall = isinstance(event, ev.TicketRecalled)
                self.recalling[event.window] = recall
                self.recent_calls.appendleft(
                    proto.CallEntry(
                        number=event.number, window=window_label(event.window), recall=recall
                    )
                )
            elif isinstance(event, ev.TicketTransferred):
                if event.from_window is not None:
                    windows.add(event.from_window)
            elif isinstance(event, ev.TicketCancelled | ev.TicketExpired):
                held = state.tickets[event.ticket].window
                if held is not None:
                    windows.add(held)
            elif isinstance(event, ev.ServiceFinished):
                self.thanks_until_ms.pop(event.window, None)
        return windows


def photo_url(config: HallConfig, staff_id: str, photo: str) -> str | None:
    """The absolute URL a pad fetches the staff photo (亮牌) from: the configured URL as it
    is, or the controller's public route under ``[http] public_url``; None without either."""
    if photo.startswith(("http://", "https://")):
        return photo
    if not photo or not config.http.public_url:
        return None
    return f"{config.http.public_url}/public/{config.hall.id}/staff/{staff_id}/photo"


def window_name(state: HallState, number: int) -> str:
    """The window's configured name (e.g. 综合窗口), for the staff card."""
    return state.window_names.get(number) or f"{number}号窗口"


def window_label(number: int) -> str:
    """How calls name a window, on strips, the hall screen and in the voice: by its number,
    which is what is painted above the counter (names like 不动产登记 repeat)."""
    return f"{number}号窗口"


def _callable_waiting(state: HallState, window: WindowRuntime) -> int:
    count = sum(state.waiting_by_service.get(service, 0) for service, _ in window.services)
    return count


def caller_view(state: HallState, window_number: int) -> proto.CallerState:
    window = state.windows[window_number]
    member = state.staff_by_id.get(window.staff) if window.staff else None
    staff = member.name if member is not None else None
    current = state.tickets[window.ticket].number if window.ticket is not None else None
    return proto.CallerState(
        window=_WINDOW_STATE[window.state],
        current=current,
        waiting=_callable_waiting(state, window),
        staff=staff,
    )


def display_view(
    state: HallState, window_number: int, extras: HallExtras
) -> proto.WindowDisplayState:
    window = state.windows[window_number]
    if window.state is WindowState.CALLING and window.ticket is not None:
        number = state.tickets[window.ticket].number
        lines = [f"请{number}号到{window_label(window_number)}办理"]
        if extras.recalling.get(window_number):
            lines.append("(重呼)")
        return proto.WindowDisplayState(mode=proto.DisplayMode.CALLING, lines=lines, blink=True)
    if window.state is WindowState.SERVING and window.ticket is not None:
        number = state.tickets[window.ticket].number
        return proto.WindowDisplayState(
            mode=proto.DisplayMode.SERVING, lines=[f"{number} 正在办理"]
        )
    if window.state in (WindowState.PAUSED, WindowState.LOGGED_OUT):
        return proto.WindowDisplayState(mode=proto.DisplayMode.PAUSED, lines=["暂停服务"])
    return proto.WindowDisplayState(
        mode=proto.DisplayMode.IDLE, lines=[extras.notice or state.config.hall.notice]
    )


def evaluator_view(
    state: HallState, window_number: int, extras: HallExtras, now_ms: int
) -> tuple[proto.EvaluatorState, int | None]:
    """The pad's state, and when it changes by itself (ms), if it does."""
    config = state.config
    window = state.windows[window_number]
    name = window_name(state, window_number)
    staff = state.staff_by_id.get(window.staff) if window.staff else None
    card = proto.EvaluatorState(
        mode=proto.EvaluatorMode.STAFF_CARD,
        window=name,
        staff_name=staff.name if staff else None,
        staff_id=staff.id if staff else None,
        photo=photo_url(config, staff.id, staff.photo) if staff else None,
    )
    thanks_until = extras.thanks_until_ms.get(window_number, 0)
    if now_ms < thanks_until:
        thanks = proto.EvaluatorState(
            mode=proto.EvaluatorMode.THANKS,
            window=name,
            staff_name=card.staff_name,
            staff_id=card.staff_id,
            photo=card.photo,
            seconds=max(1, (thanks_until - now_ms + 999) // 1000),
        )
        return thanks, thanks_until
    last = window.last_finished
    if last is not None:
        ticket = state.tickets[last]
        if ticket.evaluation is EvaluationState.AWAITING and ticket.done_at is not None:
            ends = ticket.done_at + int(config.evaluation.window_seconds * 1000)
            if now_ms < ends:
                invite = proto.EvaluatorState(
                    mode=proto.EvaluatorMode.INVITE,
                    window=name,
                    staff_name=card.staff_name,
                    staff_id=card.staff_id,
                    photo=card.photo,
                    ticket=ticket.id,
                    seconds=max(1, (ends - now_ms) // 1000),
                    reasons=reason_tags(config),
                )
                return invite, ends
    return card, None


def hall_screen_view(state: HallState, extras: HallExtras) -> proto.HallScreenState:
    return proto.HallScreenState(
        calls=list(extras.recent_calls),
        waiting=[
            proto.ServiceWaiting(
                service=s.id, name=s.name, waiting=state.waiting_by_service.get(s.id, 0)
            )
            for s in state.config.services
        ],
        notice=extras.notice or state.config.hall.notice,
    )


def kiosk_view(state: HallState, extras: HallExtras) -> proto.KioskState:
    # A service is offered while some window has it on its list (logged in or not: citizens
    # take tickets before the clerks arrive); the console can take it off every window.
    served = {service for w in state.windows.values() for service, _ in w.services}
    return proto.KioskState(
        services=[
            proto.KioskService(
                id=s.id,
                name=s.name,
                waiting=state.waiting_by_service.get(s.id, 0),
                enabled=s.id in served,
            )
            for s in state.config.services
        ],
        notice=extras.notice or state.config.hall.notice,
    )


def device_view(
    state: HallState, device: Device, extras: HallExtras, now_ms: int
) -> tuple[proto.DeviceState, int | None]:
    """Dispatch on the device's kind; returns the state and its next self-change time."""
    kind = device.kind.value
    if kind == "caller" and device.window is not None:
        return caller_view(state, device.window), None
    if kind == "window_display" and device.window is not None:
        return display_view(state, device.window, extras), None
    if kind == "evaluator" and device.window is not None:
        return evaluator_view(state, device.window, extras, now_ms)
    if kind == "hall_screen":
        return hall_screen_view(state, extras), None
    return kiosk_view(state, extras), None
