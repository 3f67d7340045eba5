"""The people of a simulated hall: citizens arriving and taking tickets, clerks working the
window keypads, citizens rating on the pads. Everything they do goes through the simulated
devices: citizens press kiosk buttons and read the slips, clerks press keypad keys and act on the
Replies and the keypad screen, citizens walk up when a window strip shows their number.

Arrivals per service are a Poisson process whose rate is ``rate_for(service)`` times the day
curve's multiplier for the current hall hour (simulated by thinning). Service times are
log-normal with the service's ``expected_minutes`` as median. All waiting is on the simulated
clock; every random draw comes from a per-component stream of the run's seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import re
from collections.abc import Callable, Coroutine
from typing import Any

from controller.config.model import HallConfig, Service, Staff, Window
from firmware_protocols import mqtt_v1 as proto
from simulator.clock import SimClock, child_rng
from simulator.devices import Fleet, Invite, SimCaller, SimEvaluator, TakeResult
from simulator.ledger import IssuedTicket, Ledger
from simulator.params import SimParams

_NUMBER_RE = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]+[0-9]+)(?![A-Za-z0-9])")
ALREADY_IN = "window_already_logged_in"
RETRYABLE_AT_KIOSK = frozenset({"printer_unavailable"})


class Crowd:
    """Citizens: arrivals, tickets in hand, and walking to a window when called."""

    def __init__(
        self,
        config: HallConfig,
        fleet: Fleet,
        params: SimParams,
        clock: SimClock,
        ledger: Ledger,
        seed: int,
        tasks: TaskGroup,
    ) -> None:
        self.config = config
        self.fleet = fleet
        self.params = params
        self.clock = clock
        self.ledger = ledger
        self.seed = seed
        self._tasks = tasks
        self._present: dict[str, bool] = {}  # number -> comes when called
        self._arrived: dict[str, asyncio.Event] = {}
        self._walking: set[str] = set()
        self._walk_rng = child_rng(seed, "walk")
        for display in fleet.displays.values():
            display.listeners.append(self._display_listener(display.window))

    def start(self) -> None:
        for service in self.config.services:
            self._tasks.spawn(self._arrivals(service))

    # --- arrivals ------------------------------------------------------------------------------

    async def _arrivals(self, service: Service) -> None:
        rng = child_rng(self.seed, f"arrivals:{service.id}")
        rate = self.params.rate_for(service.id)
        peak = rate * max(self.params.day_curve)
        if peak <= 0:
            return
        due = self.clock.now()
        while True:
            due += rng.expovariate(peak / 3600.0)
            await self.clock.sleep_until(due)
            if rng.random() * peak <= rate * self.params.curve_at(self.clock.hour_at(due)):
                green = service.green_channel and rng.random() < self.params.green_share
                present = rng.random() >= self.params.no_show
                order = rng.sample(range(len(self.fleet.kiosks)), len(self.fleet.kiosks))
                self._tasks.spawn(self._take_ticket(service, green, present, order))

    async def _take_ticket(
        self, service: Service, green: bool, present: bool, order: list[int]
    ) -> None:
        kiosks = [self.fleet.kiosks[i] for i in order]
        usable = [k for k in kiosks if k.online and k.offers(service.id)]
        if not usable:
            self.ledger.turned_away[service.id] += 1
            return
        for kiosk in usable[:2]:  # a refused citizen tries one other kiosk
            outcome = await kiosk.take_ticket(service.id, green=green)
            if outcome.result is TakeResult.PRINTED and outcome.number is not None:
                ticket = IssuedTicket(outcome.number, service.id, kiosk.id, green, self.clock.now())
                self.ledger.issue(ticket)
                self._present[outcome.number] = present
                self._already_called(outcome.number)
                return
            if outcome.result is TakeResult.REFUSED:
                self.ledger.refusals[outcome.code or "refused"] += 1
                if outcome.code not in RETRYABLE_AT_KIOSK:
                    return
            elif outcome.result is TakeResult.NOT_PRINTED and outcome.number is not None:
                self.ledger.not_printed.append((kiosk.id, outcome.number))
            else:
                self.ledger.unanswered[kiosk.id] += 1

    # --- being called --------------------------------------------------------------------------

    def _display_listener(self, window: int) -> Callable[[proto.DeviceState], None]:
        return lambda state: self._on_display(window, state)

    def _on_display(self, window: int, state: proto.DeviceState) -> None:
        if isinstance(state, proto.WindowDisplayState) and state.mode is proto.DisplayMode.CALLING:
            for line in state.lines:
                for number in _NUMBER_RE.findall(line):
                    self.called(number, window)

    def _already_called(self, number: str) -> None:
        """A call can beat the slip out of the printer: look at the strips once."""
        for window, display in self.fleet.displays.items():
            if display.state is not None:
                self._on_display(window, display.state)

    def called(self, number: str, window: int) -> None:
        """The citizen holding ``number`` learnt it is called (strip or voice): walk up."""
        if not self._present.get(number, False) or number in self._walking:
            return
        self._walking.add(number)
        walk = self._walk_rng.uniform(*self.params.walk_seconds)
        self._tasks.spawn(self._walk(number, walk))

    async def _walk(self, number: str, seconds: float) -> None:
        await self.clock.sleep(seconds)
        if number in self._walking:
            self.arrival(number).set()

    def arrival(self, number: str) -> asyncio.Event:
        """Set when the citizen with ``number`` stands at the window."""
        return self._arrived.setdefault(number, asyncio.Event())

    def done(self, number: str) -> None:
        """The citizen leaves the window (served, no-show, or back to the seats)."""
        self._walking.discard(number)
        self._arrived.pop(number, None)


class Clerk:
    """One member of staff at one window, working its keypad."""

    def __init__(
        self,
        window: Window,
        staff: Staff,
        caller: SimCaller,
        crowd: Crowd,
        config: HallConfig,
        params: SimParams,
        clock: SimClock,
        ledger: Ledger,
        rng: random.Random,
        *,
        voice_only: bool,
    ) -> None:
        self.window = window
        self.staff = staff
        self.caller = caller
        self.crowd = crowd
        self.config = config
        self.params = params
        self.clock = clock
        self.ledger = ledger
        self.rng = rng
        self.voice_only = voice_only  # no MQTT strip: the clerk's call reaches people by voice

    async def press(self, op: proto.PressOp, **args: Any) -> bool:
        result = await self.caller.press(op, **args)
        if result.reply is None:
            self.ledger.unanswered[self.caller.id] += 1
        elif not result.ok:
            self.ledger.press_errors[f"{op.value}:{result.code}"] += 1
        return result.ok

    async def run(self) -> None:
        if not await self._login():
            return
        while True:
            result = await self.caller.press(proto.PressOp.CALL_NEXT)
            if result.reply is None:
                self.ledger.unanswered[self.caller.id] += 1
            if result.ok and result.number is not None:
                await self._serve(result.number)
                await self.clock.sleep(self.rng.uniform(*self.params.idle_gap_seconds))
            else:
                await self._wait_for_work()

    async def _login(self) -> bool:
        while True:
            result = await self.caller.press(proto.PressOp.LOGIN, staff=self.staff.id)
            if result.ok or result.code == ALREADY_IN:
                return True
            if result.reply is not None:  # refused (unknown staff, at another window...)
                self.ledger.press_errors[f"login:{result.code}"] += 1
                return False
            self.ledger.unanswered[self.caller.id] += 1
            await self.clock.sleep(30)

    async def _wait_for_work(self) -> None:
        """Watch the keypad screen until it shows someone waiting (or a minute passes)."""
        await self.clock.sleep(5)
        state = self.caller.state
        if state is not None and state.waiting > 0:
            return
        self.caller.changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.clock.real(60)):
                while not (self.caller.state is not None and self.caller.state.waiting > 0):
                    await self.caller.changed.wait()
                    self.caller.changed.clear()

    async def _serve(self, number: str) -> None:
        self.ledger.call(number, self.window.number)
        if self.voice_only:
            self.crowd.called(number, self.window.number)
        if not await self._wait_for_citizen(number):
            if await self.press(proto.PressOp.NO_SHOW):
                self.ledger.no_shows.append((number, self.window.number))
            self.crowd.done(number)
            return
        await self.press(proto.PressOp.START)
        await self._work(number)
        target = self._transfer_target(number)
        if target is not None and await self.press(proto.PressOp.TRANSFER, service=target):
            self.ledger.transfers.append((number, self.window.number, target))
            self.crowd.done(number)
            return
        if await self.press(proto.PressOp.FINISH):
            self.ledger.served.append((number, self.window.number))
        self.crowd.done(number)

    async def _wait_for_citizen(self, number: str) -> bool:
        arrived = self.crowd.arrival(number)
        recalls = self.rng.choice((1, 2))
        for attempt in range(recalls + 1):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.clock.real(self.params.patience_seconds)):
                    await arrived.wait()
                    return True
            if attempt < recalls and not await self.press(proto.PressOp.RECALL):
                break
        return False

    async def _work(self, number: str) -> None:
        service = self._service_of(number)
        median = (service.expected_minutes if service else 10.0) * 60.0
        total = self.rng.lognormvariate(math.log(median), self.params.service_sigma)
        if self.rng.random() < self.params.suspend:
            first = total * self.rng.uniform(0.2, 0.6)
            await self.clock.sleep(first)
            if await self.press(proto.PressOp.SUSPEND):
                self.ledger.suspends.append((number, self.window.number))
                await self.clock.sleep(self.rng.uniform(60, 300))
                await self.press(proto.PressOp.CALL_BACK, number=number)
            total -= first
        await self.clock.sleep(total)

    def _service_of(self, number: str) -> Service | None:
        ticket = self.ledger.issued.get(number)
        if ticket is not None:
            return self.config.service(ticket.service)
        prefix = number.rstrip("0123456789")
        return next((s for s in self.config.services if s.prefix == prefix), None)

    def _transfer_target(self, number: str) -> str | None:
        if self.rng.random() >= self.params.transfer:
            return None
        current = self._service_of(number)
        others = [s.id for s in self.config.services if current is None or s.id != current.id]
        return self.rng.choice(others) if others else None


class Rater:
    """Citizens at the pads: rate (after a delay, maybe with reasons) or never press."""

    def __init__(self, params: SimParams, clock: SimClock, rng: random.Random, tasks: TaskGroup):
        self.params = params
        self.clock = clock
        self.rng = rng
        self._tasks = tasks
        self._levels = list(params.ratings)
        self._weights = [params.ratings[level] for level in self._levels]

    def on_invite(self, pad: SimEvaluator, invite: Invite) -> None:
        if self.rng.random() < self.params.never_rate:
            return  # the pad times out on its own
        level = self.rng.choices(self._levels, self._weights)[0]
        low, high = self.params.rating_delay_seconds
        delay = self.rng.uniform(low, min(high, 0.8 * invite.seconds))
        reasons: tuple[str, ...] = ()
        offered = [tag.id for tag in invite.reasons]
        bad = level <= proto.RatingLevel.DISSATISFIED
        if bad and offered and self.rng.random() < self.params.pick_reasons:
            count = min(len(offered), self.rng.choice((1, 2)))
            reasons = tuple(self.rng.sample(offered, count))
        self._tasks.spawn(self._press(pad, invite, level, reasons, delay))

    async def _press(
        self,
        pad: SimEvaluator,
        invite: Invite,
        level: proto.RatingLevel,
        reasons: tuple[str, ...],
        delay: float,
    ) -> None:
        await self.clock.sleep(delay)
        if pad.invite is invite:
            pad.press(level, reasons)


class TaskGroup:
    """Background tasks of the people, cancelled together at the end of a run."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self.failures: list[BaseException] = []

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.failures.append(task.exception())  # type: ignore[arg-type]

    async def cancel(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class People:
    """Everyone in the hall: the crowd, a clerk per staffed window, raters at every pad."""

    def __init__(
        self,
        config: HallConfig,
        fleet: Fleet,
        params: SimParams,
        clock: SimClock,
        ledger: Ledger,
        seed: int,
    ) -> None:
        self.tasks = TaskGroup()
        self.crowd = Crowd(config, fleet, params, clock, ledger, seed, self.tasks)
        self.clerks: list[Clerk] = []
        staff = list(config.staff)
        for window in sorted(config.windows, key=lambda w: w.number):
            caller = fleet.callers.get(window.number)
            if caller is None or not staff:
                continue
            self.clerks.append(
                Clerk(
                    window,
                    staff.pop(0),
                    caller,
                    self.crowd,
                    config,
                    params,
                    clock,
                    ledger,
                    child_rng(seed, f"clerk:{window.number}"),
                    voice_only=window.number not in fleet.displays,
                )
            )
        for pad in fleet.evaluators.values():
            rater = Rater(params, clock, child_rng(seed, f"rater:{pad.id}"), self.tasks)
            pad.invite_listeners.append(rater.on_invite)

    def start(self) -> None:
        self.crowd.start()
        for clerk in self.clerks:
            self.tasks.spawn(clerk.run())

    async def stop(self) -> None:
        await self.tasks.cancel()
