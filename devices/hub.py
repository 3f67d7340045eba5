"""The device hub of one hall: MQTT devices in, engine commands out; hall state in, desired
device states out.

Theory of operation.

* Inbound (``on_inbound``, called by the MQTT link for each decoded message): births and wills
  update availability; acks clear pending commands; requests (a keypad press, a kiosk take, a
  pad rating) are checked (known device, rate limit, right kind, a request id not already
  answered) and turned into engine commands. Each request runs as its own task, started in
  arrival order, so the engine decides in arrival order while the log commits them in groups.
  The reply goes out only after the command's events are durable; the same record holds a
  ``RequestAnswered`` event, so a re-send of the rid after a crash or restart gets the same
  answer (``controller.core.answers``); answers of the last minute are also kept in memory
  (``devices.replies``).
* Availability: a birth is always accepted, whatever its session (a replaced or wiped device
  counts from 0 again) and answered with the full state; a will counts only for the session of
  the last birth, so the late will of an earlier incarnation never darkens a live device.
* Outbound (``on_events``, a runtime subscriber called after each durable record): the windows
  the events touch are marked dirty and flushed at once (callers, strips, pads of that window);
  hall-wide devices (hall screens, kiosks, the waiting counts on callers) are flushed at most
  every ``HALL_FLUSH_S[kind]`` (0.2 s, 1 s, 5 s). A flush recomputes each device's desired state
  (``devices.views``) and sends a ``show`` only when it differs from the last one sent. A birth,
  a rebirth request or a controller restart sends the full state again: displays converge
  instead of hoping.
* Every command to a device has a never-reused id and is re-sent until acked
  (``devices.outbound``); after the last try the failure is counted on the device.

Bad input (unknown device, wrong kind, undecodable payload, flood) is answered with a reply
carrying a reason code where the device can be named, counted, and changes nothing. Every
message that makes the hub work or answer (request, birth, rebirth request, bad payload) costs
the sender a token of its bucket (``devices.throttle``); the link asks the bucket before it even
decodes, so a flood of garbage costs what a flood of good messages does. Unknown devices share
one bucket, and nothing is remembered per unknown device id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo

import msgspec

from controller.config.model import Device, DeviceKind, HallConfig, LinkKind
from controller.core import commands as cmd
from controller.core import events as ev
from controller.core.lifecycle import Rejected, RejectReason, TicketState
from controller.core.ports import HallPort, HallUnavailable, Receipt
from controller.core.queries import estimated_wait_minutes
from controller.core.state import Ticket
from devices.availability import Availability
from devices.mqtt.ids import MonotonicIds
from devices.operations import KeypadOperation, Op, window_command
from devices.outbound import RETRY_DELAYS_S, OutboundCommands
from devices.replies import ReplyCache
from devices.throttle import QuietWarning, TokenBucket, Verdict
from devices.views import THANKS_SECONDS, HallExtras, device_view
from firmware_protocols import mqtt_v1 as proto
from firmware_protocols import rating_mac
from firmware_protocols.rating_mac import DeviceKey, Signature

log = logging.getLogger("hallctl.devices")

# How often hall-wide views are refreshed (window events refresh their window at once). The
# waiting count on a keypad or kiosk changes with every ticket in the hall; re-sending it to
# every keypad on each change would cost more than the hall's real traffic.
HALL_FLUSH_S: Final = {
    DeviceKind.HALL_SCREEN: 0.2,
    DeviceKind.KIOSK: 1.0,
    DeviceKind.CALLER: 5.0,
}
TIMER_S: Final = 0.1
RECONCILE_S: Final = 10.0
"""After a show's last retry failed, the device gets its full state again this much later
(and again, while it stays online and acks nothing): any loss heals within this bound."""
PRINT_ALERT_S: Final = 60
MAX_IN_FLIGHT: Final = 4096
STRANGER_LOG_EVERY_S: Final = 60.0
# Test hook (tests/devices/test_hub_restart.py): SIGKILL the daemon right after a request's
# record is durable, before anything is published, as a power cut at the worst moment would.
_KILL_AFTER_COMMIT: Final = os.environ.get("HALLCTL_TEST_KILL_AFTER_COMMIT") == "1"

_LEVELS = {
    proto.RatingLevel.VERY_SATISFIED: cmd.RatingLevel.VERY_SATISFIED,
    proto.RatingLevel.SATISFIED: cmd.RatingLevel.SATISFIED,
    proto.RatingLevel.BASICALLY_SATISFIED: cmd.RatingLevel.BASICALLY_SATISFIED,
    proto.RatingLevel.DISSATISFIED: cmd.RatingLevel.DISSATISFIED,
    proto.RatingLevel.VERY_DISSATISFIED: cmd.RatingLevel.VERY_DISSATISFIED,
}

_REQUEST_KINDS: Final[dict[type, DeviceKind]] = {
    proto.Press: DeviceKind.CALLER,
    proto.TakeTicket: DeviceKind.KIOSK,
    proto.Rating: DeviceKind.EVALUATOR,
    proto.RatingTimeout: DeviceKind.EVALUATOR,
}


_SHARED_VIEWS: Final = frozenset({DeviceKind.KIOSK, DeviceKind.HALL_SCREEN})


class Refused(Exception):
    """A request the hub itself refuses (not the engine): carries the reply code."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text


class DeviceLink(Protocol):
    def publish(self, device: str, message: proto.DownMessage) -> None: ...


@dataclass(slots=True)
class HubStats:
    requests: int = 0
    replies_ok: int = 0
    replies_refused: int = 0
    duplicates: int = 0
    shows: int = 0
    prints: int = 0
    retries: int = 0
    command_failures: int = 0
    publish_failures: int = 0
    bad_payloads: int = 0
    unknown_devices: int = 0
    wrong_kind: int = 0
    rate_limited: int = 0
    overloaded: int = 0
    busy_acks: int = 0  # acks "busy": the command stays pending and is re-sent
    print_failures: int = 0  # print_ticket acked with a failure
    reconciliations: int = 0  # full shows re-sent to devices that acked none (RECONCILE_S)
    bad_signatures: int = 0  # ratings refused unsigned or with a bad MAC (or let in unsigned)
    answered_from_log: int = 0  # re-sent rids answered from the log (e.g. after a restart)
    refusals: dict[str, int] = field(default_factory=dict)


class DeviceHub:
    """See the module docstring."""

    def __init__(
        self,
        hall: HallPort,
        link: DeviceLink,
        *,
        ids: MonotonicIds | None = None,
        followup_url: Callable[[int], str | None] = lambda ticket: None,
        clock: Callable[[], float] = time.monotonic,
        retry_delays: tuple[float, ...] = RETRY_DELAYS_S,
        keys: Callable[[str], DeviceKey | None] = lambda device: None,
        reconcile_s: float = RECONCILE_S,
    ) -> None:
        self.hall = hall
        self._keys = keys
        self._reconcile_s = reconcile_s
        self._unconfirmed: dict[str, float] = {}  # device -> when to send its state again
        self._kiosk_alerts: dict[str, tuple[str, int]] = {}  # kiosk -> (notice, until ms)
        self.link = link
        self.config: HallConfig = hall.engine.config
        self._ids = ids or MonotonicIds()
        self._followup_url = followup_url
        self._clock = clock
        self._tz = ZoneInfo(self.config.hall.timezone)
        self.devices: dict[str, Device] = {
            d.id: d for d in self.config.devices if d.link is LinkKind.MQTT
        }
        self.by_window: dict[int, list[Device]] = {}
        self.hall_wide: dict[DeviceKind, list[Device]] = {kind: [] for kind in HALL_FLUSH_S}
        for device in self.devices.values():
            if device.window is not None:
                self.by_window.setdefault(device.window, []).append(device)
            if device.kind in HALL_FLUSH_S:
                self.hall_wide[device.kind].append(device)
        self.availability = Availability()
        for device in self.config.devices:
            self.availability.add(device.id, device.kind.value, device.link.value, device.window)
        self.extras = HallExtras.from_state(hall.state)
        self.outbound = OutboundCommands(retry_delays)
        self.stats = HubStats()
        self.printer: dict[str, proto.PrinterStatus] = {}
        self._last_sent: dict[str, proto.DeviceState] = {}
        self._timers: dict[str, int] = {}
        self._view_memo: dict[DeviceKind, tuple[tuple[object, ...], proto.DeviceState]] = {}
        self.replies = ReplyCache()
        self._deciding: set[tuple[str, int]] = set()  # (device, rid) of requests in flight
        self._buckets: dict[str, TokenBucket] = {}  # configured devices only
        self._strangers = TokenBucket(stamp=clock())  # every unknown device id together
        self._stranger_log = QuietWarning(STRANGER_LOG_EVERY_S)
        self._flood_log = QuietWarning(1.0)
        self._dirty_windows: set[int] = set()
        self._hall_dirty = dict.fromkeys(HALL_FLUSH_S, False)
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        hall.subscribe(self.on_events)

    # -- lifecycle -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Retries, timers and hall-wide flushes until ``stop``; then finish requests."""
        last_sweep = dict.fromkeys(HALL_FLUSH_S, 0.0)
        cursor = dict.fromkeys(HALL_FLUSH_S, -1)  # -1: no sweep in progress
        expired = self._clock()
        try:
            while not stop.is_set():
                now = self._clock()
                self._resend_due(now)
                self._reconcile(now)
                self._fire_timers()
                if now - expired >= 1.0:
                    expired = now
                    self.replies.expire(now)
                for kind, every in HALL_FLUSH_S.items():
                    if (
                        cursor[kind] < 0
                        and self._hall_dirty[kind]
                        and now - last_sweep[kind] >= every
                    ):
                        self._hall_dirty[kind] = False
                        last_sweep[kind] = now
                        cursor[kind] = 0
                    if cursor[kind] >= 0:
                        cursor[kind] = self._sweep(kind, cursor[kind], every)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), TIMER_S)
        finally:
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=1.5)
            for task in self._tasks:
                task.cancel()

    # -- inbound -------------------------------------------------------------------------

    def admits(self, device_id: str) -> bool:
        """The link's gate, asked before decoding: does this device have budget left?"""
        if self._bucket(device_id).admits(self._clock()):
            return True
        self._flooding(device_id)
        return False

    def _bucket(self, device_id: str) -> TokenBucket:
        if device_id not in self.devices:
            return self._strangers
        bucket = self._buckets.get(device_id)
        if bucket is None:
            bucket = self._buckets[device_id] = TokenBucket(stamp=self._clock())
        return bucket

    def _charge(self, device_id: str) -> Verdict:
        """One token of the device's budget (see the module docstring)."""
        verdict = self._bucket(device_id).take(self._clock())
        if verdict is not Verdict.PASS:
            self._flooding(device_id)
        return verdict

    def _flooding(self, device_id: str) -> None:
        """A message dropped for the sender's budget (read or not): counted, and logged at
        most once a second with the count since the last line."""
        self.stats.rate_limited += 1
        count = self._flood_log.due(self._clock())
        if count is not None:
            log.warning(
                "device flooding; messages dropped",
                extra={"device": device_id[:64], "dropped": count},
            )

    def on_inbound(self, item: Any) -> None:
        """Handler for ``MqttLink`` (an ``Inbound``): never blocks, never raises on bad input."""
        device = self.devices.get(item.device)
        message = item.message
        now_ms = self.hall.now()
        if device is None:
            self._on_stranger(item.device, getattr(message, "rid", None))
            return
        if isinstance(message, proto.Will):
            took_offline = self.availability.will(device.id, message.session, now_ms)
            if took_offline:
                self.outbound.forget_device(device.id)
                log.info("device offline", extra={"device": device.id})
            elif took_offline is None:  # stale: make the retained status a birth again
                self._send_tracked(device.id, proto.Rebirth(id=self._ids.next()))
            return
        self.availability.seen(device.id, now_ms)
        if isinstance(message, proto.Ack):
            self._on_ack(device, message)
            return
        if isinstance(message, proto.PrinterStatus):
            self._on_printer(device, message)
            return
        verdict = self._charge(device.id)  # the rest makes the hub work or answer
        if verdict is not Verdict.PASS:
            rid = getattr(message, "rid", None)
            if verdict is Verdict.TELL and rid is not None:
                self._reply(device.id, rid, False, "rate_limited", "请求过于频繁，请稍后再试")
            return
        if isinstance(message, proto.Birth):
            self._on_birth(device, message, now_ms)
        elif isinstance(message, proto.RebirthRequest):
            self._send_state(device, force=True)
        else:
            self._on_request(device, message)

    def _on_stranger(self, device_id: str, rid: int | None) -> None:
        """A device id that is not configured: answered from one shared budget, not
        remembered (a million ids must not cost a million entries)."""
        self.stats.unknown_devices += 1
        count = self._stranger_log.due(self._clock())
        if count is not None:
            log.warning(
                "messages from unconfigured devices",
                extra={"device": device_id[:64], "count": count},
            )
        if self._strangers.take(self._clock()) is Verdict.PASS and rid is not None:
            self._reply(
                device_id,
                rid,
                False,
                "unknown_device",
                f"{device_id} is not configured in hall {self.config.hall.id}",
            )

    def on_bad_payload(self, device_id: str, error: proto.PayloadError) -> None:
        """An undecodable payload on a device's topic: count it, charge the sender, and tell
        it why (under the request's rid when that could be read, else rid 0)."""
        self.stats.bad_payloads += 1
        if device_id not in self.devices:
            self._on_stranger(device_id, None)
            return
        if self._charge(device_id) is Verdict.DROP:
            return
        self.availability.error(device_id, f"{error.reason.value}: {error.detail[:200]}")
        rid = error.rid if error.rid is not None else 0
        self._reply(device_id, rid, False, error.reason.value, error.detail[:200])

    def _on_ack(self, device: Device, ack: proto.Ack) -> None:
        command = self.outbound.pending(device.id, ack.id)
        if command is None:
            return  # a repeat, or for a command given up or replaced
        if ack.code is proto.AckError.BUSY:
            # "try again later" (3.1): it stays pending and goes again on the retry schedule.
            self.stats.busy_acks += 1
            return
        self.outbound.ack(device.id, ack.id, self._clock())
        if ack.ok:
            return
        self.availability.error(device.id, f"{ack.code.value if ack.code else ''}: {ack.text}")
        if isinstance(command, proto.PrintTicket):
            self._print_failed(device, command, ack)

    def _print_failed(self, device: Device, slip: proto.PrintTicket, ack: proto.Ack) -> None:
        """The ticket stays issued (the kiosk's reply showed its number, the citizen may have
        noted it): the kiosk screen says so for a minute and the console's device page names
        the ticket, so staff can reprint it (``reprint``) or cancel it."""
        self.stats.print_failures += 1
        detail = ack.text or (ack.code.value if ack.code else "")
        self.availability.error(
            device.id, f"{slip.number}号票据打印失败（{detail}），请在控制台补打或取消"
        )
        log.warning(
            "ticket slip not printed",
            extra={"device": device.id, "number": slip.number, "detail": detail},
        )
        until = self.hall.now() + PRINT_ALERT_S * 1000
        self._kiosk_alerts[device.id] = (
            f"{slip.number}号票据打印失败，请记住您的号码，或到咨询台补打",
            until,
        )
        self._send_state(device)

    def _on_birth(self, device: Device, birth: proto.Birth, now_ms: int) -> None:
        status = self.availability.devices[device.id]
        changed = self.availability.birth(
            device.id, birth.session, now_ms, firmware=birth.fw, model=birth.model or ""
        )
        if birth.kind.value != device.kind.value:
            # Online (it is alive) but misconfigured: visible on the console, told why, and
            # sent no state (it would not understand it).
            self.stats.wrong_kind += 1
            status.misconfigured = (
                f"announced as {birth.kind.value}, configured as {device.kind.value}"
            )
            self.availability.error(device.id, status.misconfigured)
            self.outbound.forget_device(device.id)
            self._reply(
                device.id, 0, False, "kind_mismatch", f"本设备在配置中是 {device.kind.value}"
            )
            return
        if changed or status.misconfigured:
            log.info("device online", extra={"device": device.id, "session": birth.session})
        status.misconfigured = ""
        self._unconfirmed.pop(device.id, None)  # the full state goes now
        # Always answer a birth with the full state: the device just (re)started or we did.
        self.outbound.forget_device(device.id)
        self._send_state(device, force=True)

    def _on_printer(self, device: Device, status: proto.PrinterStatus) -> None:
        self.printer[device.id] = status
        flags = (
            [status.paper.value]
            + (["jam"] if status.jam else [])
            + (["cover_open"] if status.cover_open else [])
        )
        self.availability.devices[device.id].printer = ",".join(flags)
        if status.paper is proto.PaperLevel.OUT or status.jam:
            log.warning("printer needs attention", extra={"device": device.id, "status": flags})

    def _on_request(self, device: Device, message: Any) -> None:
        rid: int = message.rid
        self.stats.requests += 1
        if _REQUEST_KINDS.get(type(message)) is not device.kind:
            self.stats.wrong_kind += 1
            self._reply(
                device.id,
                rid,
                False,
                "not_allowed_for_kind",
                f"{device.kind.value} devices cannot send {message.__struct_config__.tag}",
            )
            return
        key = (device.id, rid)
        if key in self._deciding:  # being decided: its reply will come
            self.stats.duplicates += 1
            return
        reply = self.replies.get(device.id, rid, self._clock())
        if reply is None:
            reply = self._answer_from_log(device, rid)
        if reply is not None:
            self.stats.duplicates += 1
            self._publish(device.id, reply)
            return
        if len(self._tasks) >= MAX_IN_FLIGHT:
            self.stats.overloaded += 1
            self._reply(device.id, rid, False, "busy", "系统繁忙，请稍后再试")
            return
        self._deciding.add(key)
        task = asyncio.get_running_loop().create_task(self._handle_request(device, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _answer_from_log(self, device: Device, rid: int) -> proto.Reply | None:
        """The answer recorded with a request that changed the hall (durable, so also from
        before a restart). A kiosk's slip is sent again under its first command id: a kiosk
        that printed it ignores the repeat (6.1), one that never got it prints it now."""
        answer = self.hall.state.answers.get(device.id, rid, self.hall.now())
        if answer is None:
            return None
        self.stats.answered_from_log += 1
        reply = proto.Reply(id=answer.reply, rid=rid, ok=True, number=answer.number)
        self.replies.put(device.id, rid, reply, self._clock())
        ticket = self.hall.state.tickets.get(answer.ticket) if answer.ticket else None
        if (
            ticket is not None
            and answer.printed is not None
            and ticket.state in (TicketState.WAITING, TicketState.CALLED)
        ):
            self._print(device, _issued(ticket), command_id=answer.printed)
        return reply

    async def _handle_request(self, device: Device, message: Any) -> None:
        rid: int = message.rid
        try:
            reply = await self._execute(device, message)
        except Rejected as exc:
            reply = self._make_reply(rid, False, exc.reason.value, exc.detail)
        except Refused as exc:
            reply = self._make_reply(rid, False, exc.code, exc.text)
        except HallUnavailable as exc:  # its log cannot be written: the daemon reports that once
            reply = self._make_reply(rid, False, "unavailable", exc.text[:200])
        except Exception as exc:  # a bug: tell the device
            log.exception("request failed", extra={"device": device.id})
            reply = self._make_reply(rid, False, "unavailable", str(exc)[:200])
        finally:
            self._deciding.discard((device.id, rid))
        self.replies.put(device.id, rid, reply, self._clock())
        self._publish(device.id, reply)

    async def _submit(
        self, device: Device, rid: int, command: cmd.AnyCommand, *, printed: int | None = None
    ) -> tuple[Receipt, int]:
        """Submit a device's command with its ``RequestAnswered`` note; returns the receipt
        and the id the reply must carry (recorded in the note)."""
        reply_id = self._ids.next()

        def note(events: list[ev.AnyEvent], at: int) -> ev.AnyEvent:
            issued = next((e for e in events if isinstance(e, ev.TicketIssued)), None)
            return ev.RequestAnswered(
                at=at,
                device=device.id,
                rid=rid,
                reply=reply_id,
                number=_number(events),
                ticket=issued.ticket if issued is not None else None,
                printed=printed if issued is not None else None,
            )

        receipt = await self.hall.submit(command, annotate=note)
        if _KILL_AFTER_COMMIT and receipt.seq:
            os.kill(os.getpid(), signal.SIGKILL)
        return receipt, reply_id

    async def _execute(self, device: Device, message: Any) -> proto.Reply:
        rid: int = message.rid
        if isinstance(message, proto.Press):
            return await self._press(device, message)
        if isinstance(message, proto.TakeTicket):
            return await self._take_ticket(device, message)
        if isinstance(message, proto.Rating):
            return await self._rating(device, message)
        assert isinstance(message, proto.RatingTimeout)
        self._check_pad_ticket(device, message.ticket)
        _, signature = self._evidence(device, message)
        _, reply_id = await self._submit(
            device, rid, cmd.MissEvaluation(ticket=message.ticket, signature=signature)
        )
        return self._make_reply(rid, True, command_id=reply_id)

    async def _press(self, device: Device, press: proto.Press) -> proto.Reply:
        window = device.window
        assert window is not None  # the config requires a window for callers
        operation = KeypadOperation(
            Op(press.op.value),
            staff=press.staff,
            number=press.number,
            service=press.service,
            to_window=press.window,
        )
        command = window_command(self.hall.state, window, operation)
        if command is None:  # one-metre-line reminder: voice only, nothing queued
            return self._make_reply(press.rid, True)
        receipt, reply_id = await self._submit(device, press.rid, command)
        return self._make_reply(
            press.rid, True, number=_number(receipt.events), command_id=reply_id
        )

    async def _take_ticket(self, device: Device, take: proto.TakeTicket) -> proto.Reply:
        printer = self.printer.get(device.id)
        if printer is not None and (printer.paper is proto.PaperLevel.OUT or printer.jam):
            raise Refused("printer_unavailable", "the kiosk's printer is out of paper or jammed")
        printed = self._ids.next()
        receipt, reply_id = await self._submit(
            device,
            take.rid,
            cmd.IssueTicket(
                service=take.service, green_channel=take.green, appointment_id=take.appt
            ),
            printed=printed,
        )
        [issued] = [e for e in receipt.events if isinstance(e, ev.TicketIssued)]
        self._print(device, issued, command_id=printed)
        return self._make_reply(take.rid, True, number=issued.number, command_id=reply_id)

    def _print(
        self, device: Device, issued: ev.TicketIssued, *, command_id: int | None = None
    ) -> None:
        state = self.hall.state
        service = self.config.service(issued.service)
        ahead = max(0, state.waiting_by_service.get(issued.service, 1) - 1)
        local = datetime.fromtimestamp(issued.at / 1000, self._tz)
        message = proto.PrintTicket(
            id=command_id if command_id is not None else self._ids.next(),
            number=issued.number,
            service=service.name if service else issued.service,
            ahead=ahead,
            wait_min=estimated_wait_minutes(state, issued.service, ahead),
            issued=local.strftime("%Y-%m-%d %H:%M"),
            qr=self._followup_url(issued.ticket),
        )
        self.stats.prints += 1
        self._send_tracked(device.id, message)

    async def _rating(self, device: Device, rating: proto.Rating) -> proto.Reply:
        ticket = self._check_pad_ticket(device, rating.ticket)
        if ticket is not None and ticket.rating_id and ticket.rating_id == rating.rating_id:
            self.stats.duplicates += 1  # re-sent after a lost reply: already recorded
            return self._make_reply(rating.rid, True)
        evidence, signature = self._evidence(device, rating)
        _, reply_id = await self._submit(
            device,
            rating.rid,
            cmd.Rate(
                ticket=rating.ticket,
                level=_LEVELS[rating.level],
                channel=cmd.RatingChannel.WINDOW_PAD,
                reasons=tuple(rating.reasons),
                rating_id=rating.rating_id,
                evidence=evidence,
                signature=signature,
            ),
        )
        assert device.window is not None
        self.extras.thanks_until_ms[device.window] = self.hall.now() + THANKS_SECONDS * 1000
        self._dirty_windows.add(device.window)
        self._schedule_window_flush()
        return self._make_reply(rating.rid, True, command_id=reply_id)

    def _evidence(
        self, device: Device, message: proto.Rating | proto.RatingTimeout
    ) -> tuple[cmd.Evidence, cmd.PadSignature | None]:
        """The pad's MAC checked against its key: the evidence recorded with the rating, or
        ``Refused`` (``bad_signature``; ``unsigned_rating`` unless the hall allows unsigned
        pads for a migration). The counter is checked by the engine, against the log."""
        verdict = rating_mac.check(self._keys(device.id), self.config.hall.id, device.id, message)
        if verdict is Signature.VALID:
            assert message.key_id is not None and message.counter is not None
            assert message.mac is not None
            signature = cmd.PadSignature(
                device=device.id,
                key_id=message.key_id,
                counter=message.counter,
                mac=message.mac.hex(),
            )
            return cmd.Evidence.SIGNED, signature
        self.stats.bad_signatures += 1
        if verdict is Signature.UNSIGNED:
            if self.config.evaluation.allow_unsigned_pads:
                return cmd.Evidence.UNSIGNED, None
            raise Refused("unsigned_rating", "评价器未签名，评价未记录，请联系管理员")
        log.warning(
            "rating with a bad signature", extra={"device": device.id, "check": verdict.value}
        )
        raise Refused("bad_signature", "评价签名无效，评价未记录，请联系管理员")

    def _check_pad_ticket(self, device: Device, ticket_id: int) -> Ticket | None:
        """A pad may only rate services finished at its own window."""
        ticket = self.hall.state.tickets.get(ticket_id)
        if ticket is not None and ticket.window != device.window:
            raise Rejected(
                RejectReason.TICKET_AT_OTHER_WINDOW,
                f"ticket {ticket.number} was served at window {ticket.window}",
            )
        return ticket

    # -- console actions -----------------------------------------------------------------

    def set_notice(self, text: str) -> None:
        """The console's notice (empty: the configured one) on idle strips, screens, kiosks."""
        self.extras.notice = text
        self._dirty_windows.update(self.by_window)
        self._schedule_window_flush()
        for device in self.devices.values():
            if device.kind in (DeviceKind.HALL_SCREEN, DeviceKind.KIOSK):
                self._send_state(device)

    def reprint(self, ticket_id: int, kiosk_id: str) -> None:
        """Print a waiting ticket again at a kiosk (a jammed or lost slip); raises ``Refused``."""
        device = self.devices.get(kiosk_id)
        if device is None or device.kind is not DeviceKind.KIOSK:
            raise Refused("not_a_kiosk", f"{kiosk_id} is not a networked kiosk of this hall")
        if not self.availability.devices[kiosk_id].online:
            raise Refused("device_offline", f"{kiosk_id} is offline")
        printer = self.printer.get(kiosk_id)
        if printer is not None and (printer.paper is proto.PaperLevel.OUT or printer.jam):
            raise Refused("printer_unavailable", "the kiosk's printer is out of paper or jammed")
        ticket = self.hall.state.tickets.get(ticket_id)
        if ticket is None or ticket.state not in (TicketState.WAITING, TicketState.CALLED):
            raise Refused("not_reprintable", f"ticket {ticket_id} is not waiting or called")
        self._print(device, _issued(ticket))

    # -- outbound ------------------------------------------------------------------------

    def on_events(self, events: list[ev.AnyEvent], seq: int) -> None:
        """Runtime subscriber: mark what the durable events touch, flush windows now."""
        self._dirty_windows |= self.extras.observe(events, self.hall.state)
        if events:
            for kind in HALL_FLUSH_S:
                self._hall_dirty[kind] = True
        if self._dirty_windows:
            self._schedule_window_flush()

    def _schedule_window_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_windows)

    def _flush_windows(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty_windows = self._dirty_windows, set()
        for window in dirty:
            for device in self.by_window.get(window, ()):
                self._send_state(device)

    def _sweep(self, kind: DeviceKind, start: int, every: float) -> int:
        """Refresh the next slice of a hall-wide family; a sweep spreads over ``every`` so
        600 keypads never stall the loop at once. Returns the next cursor (-1: done)."""
        devices = self.hall_wide[kind]
        size = max(1, math.ceil(len(devices) * TIMER_S / every))
        for device in devices[start : start + size]:
            self._send_state(device)
        end = start + size
        return end if end < len(devices) else -1

    def _fire_timers(self) -> None:
        if not self._timers:
            return
        now_ms = self.hall.now()
        for device_id, due in list(self._timers.items()):
            if due <= now_ms:
                del self._timers[device_id]
                self._send_state(self.devices[device_id])

    def _send_state(self, device: Device, *, force: bool = False) -> None:
        status = self.availability.devices[device.id]
        if not status.online or status.misconfigured:
            return  # its birth will bring the whole state
        if device.kind in _SHARED_VIEWS:
            # Every kiosk (hall screen) shows the same thing: compute it once per change.
            key = (device.kind, self.hall.state.seq, self.extras.notice)
            memo = self._view_memo.get(device.kind)
            if memo is None or memo[0] != key:
                memo = (key, device_view(self.hall.state, device, self.extras, 0)[0])
                self._view_memo[device.kind] = memo
            view, changes_at = memo[1], None
        else:
            view, changes_at = device_view(self.hall.state, device, self.extras, self.hall.now())
        alert = self._kiosk_alerts.get(device.id)
        if alert is not None and isinstance(view, proto.KioskState):
            if self.hall.now() < alert[1]:
                view = msgspec.structs.replace(view, notice=alert[0])
                changes_at = alert[1]
            else:
                del self._kiosk_alerts[device.id]
        if changes_at is not None:
            self._timers[device.id] = changes_at
        if not force and self._last_sent.get(device.id) == view:
            return
        self._last_sent[device.id] = view
        self.stats.shows += 1
        self._send_tracked(
            device.id, proto.Show(id=self._ids.next(), ver=self._ids.next(), state=view)
        )

    def _send_tracked(self, device_id: str, message: proto.DownMessage) -> None:
        self.outbound.track(device_id, message, self._clock())
        self._publish(device_id, message)

    def _reconcile(self, now: float) -> None:
        """Steady-state reconciliation: a device whose show was never acked gets its whole
        state again (new id, new ver), until one is acked or it goes offline."""
        for device_id, due in list(self._unconfirmed.items()):
            if due <= now:
                del self._unconfirmed[device_id]
                self.stats.reconciliations += 1
                self._send_state(self.devices[device_id], force=True)

    def _resend_due(self, now: float) -> None:
        for device_id, message, gave_up in self.outbound.due(now):
            if gave_up:
                if isinstance(message, proto.Show):
                    self._unconfirmed[device_id] = now + self._reconcile_s
                self.stats.command_failures += 1
                status = self.availability.devices[device_id]
                status.failed_commands += 1
                log.warning(
                    "device did not ack", extra={"device": device_id, "command": message.id}
                )
                continue
            self.stats.retries += 1
            self._publish(device_id, message)

    def _publish(self, device_id: str, message: proto.DownMessage) -> None:
        try:
            self.link.publish(device_id, message)
        except ConnectionError:
            self.stats.publish_failures += 1

    def _reply(
        self, device_id: str, rid: int, ok: bool, code: str | None = None, text: str = ""
    ) -> None:
        self._publish(device_id, self._make_reply(rid, ok, code, text))

    def _make_reply(
        self,
        rid: int,
        ok: bool,
        code: str | None = None,
        text: str = "",
        number: str | None = None,
        command_id: int | None = None,
    ) -> proto.Reply:
        if ok:
            self.stats.replies_ok += 1
        else:
            self.stats.replies_refused += 1
            if code is not None:
                self.stats.refusals[code] = self.stats.refusals.get(code, 0) + 1
        return proto.Reply(
            id=command_id if command_id is not None else self._ids.next(),
            rid=rid,
            ok=ok,
            code=code,
            text=text[:256],
            number=number,
        )

    def drop_counts(self) -> dict[str, int]:
        """What was dropped or forgotten to stay bounded, by reason (for /metrics)."""
        link_stats = getattr(self.link, "stats", None)
        evictions = getattr(self.link, "topic_cache_evictions", None)
        return {
            "rate_limited": self.stats.rate_limited,
            "gated_unread": getattr(link_stats, "gated", 0),
            "bad_payload": self.stats.bad_payloads,
            "unknown_device": self.stats.unknown_devices,
            "reply_cache_evicted": self.replies.evicted,
            "topic_cache_evicted": evictions() if callable(evictions) else 0,
            "inbound_queue_full": getattr(link_stats, "dropped", 0),
        }


def _number(events: list[ev.AnyEvent]) -> str | None:
    """The ticket number a request's reply names: the ticket taken or called."""
    for e in events:
        if isinstance(
            e, ev.TicketIssued | ev.TicketCalled | ev.TicketRecalled | ev.ServiceCalledBack
        ):
            return e.number
    return None


def _issued(ticket: Ticket) -> ev.TicketIssued:
    """A ticket's issue, rebuilt to print its slip again."""
    return ev.TicketIssued(
        at=ticket.issued_at,
        ticket=ticket.id,
        number=ticket.number,
        seq=ticket.seq,
        service=ticket.service,
        day=ticket.day,
    )
