"""run_simulation: build the devices of a hall, let the people loose, inject faults, check.

Order of a run: connect every MQTT device (serial ones are skipped) and wait until each has
shown its first state; start the simulated clock, the people and the fault schedule; stop after
``duration_s`` real seconds or when ``stop`` is set; stop the people (requests in flight still
get their Replies recorded), restore faulted printers, let the hall settle (pads' outboxes
drained, last Shows arrived), check, and disconnect cleanly (each device publishes its will).

Deterministic given the seed as far as timing allows: every random draw comes from a stream per
component seeded by ``seed``, but the controller's answers and the broker interleave in real
time, so two runs match in their draws, not necessarily in every number called.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from controller.config.model import HallConfig
from firmware_protocols.rating_mac import DeviceKey
from simulator.checker import CheckResult, Violation, check
from simulator.clock import SimClock
from simulator.devices import Fleet, build_fleet
from simulator.faults import BrokerRestart, Fault, FaultInjector, FaultRecord
from simulator.ledger import Ledger
from simulator.params import SimParams
from simulator.people import People

SETTLE_S = 2.0
CONNECT_WITHIN_S = 10.0
FIRST_SHOW_WITHIN_S = 5.0


@dataclass(frozen=True, slots=True)
class SimReport:
    hall: str
    seed: int
    speed: float
    duration_s: float  # real seconds the people were active
    simulated_minutes: float
    cut_short: bool  # ended by duration or stop, not at the hall's closing (always, for now)
    result: CheckResult
    faults: tuple[FaultRecord, ...] = ()
    skipped_devices: tuple[str, ...] = ()  # serial devices, simulated elsewhere
    ledger: dict[str, Any] = field(default_factory=dict)  # people-level counts

    @property
    def ok(self) -> bool:
        return not self.result.violations

    @property
    def violations(self) -> tuple[Violation, ...]:
        return self.result.violations

    def to_json(self) -> dict[str, Any]:
        return {
            "hall": self.hall,
            "seed": self.seed,
            "speed": self.speed,
            "duration_s": round(self.duration_s, 3),
            "simulated_minutes": round(self.simulated_minutes, 1),
            "cut_short": self.cut_short,
            "ok": self.ok,
            "summary": asdict(self.result.summary),
            "open_tickets": self.result.open_tickets,
            "violations": [
                {"kind": v.kind.value, "subject": v.subject, "detail": v.detail}
                for v in self.result.violations
            ],
            "faults": [
                {
                    "kind": r.fault.kind.value,
                    "target": r.fault.target,
                    "at_s": r.started,
                    "seconds": r.fault.seconds,
                    "note": r.note,
                }
                for r in self.faults
            ],
            "skipped_devices": list(self.skipped_devices),
            "people": self.ledger,
        }


async def run_simulation(
    config: HallConfig,
    broker: tuple[str, int],
    *,
    duration_s: float,
    speed: float = 60.0,
    seed: int = 0,
    faults: Sequence[Fault] = (),
    stop: asyncio.Event | None = None,
    params: SimParams | None = None,
    broker_restart: BrokerRestart | None = None,
    settle_s: float = SETTLE_S,
    passwords: Mapping[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
    keys: Callable[[str], DeviceKey | None] = lambda device: None,
) -> SimReport:
    """See the module docstring. Raises ``FaultError`` (before connecting) for a fault that
    cannot run, ``ValueError`` for a bad duration or speed."""
    if duration_s <= 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s!r}")
    params = params or SimParams()
    clock = SimClock(speed, start_hour=params.start_hour)
    fleet = build_fleet(
        config,
        broker,
        time_scale=1.0 / speed,
        paper=params.kiosk_paper,
        paper_low=params.kiosk_paper_low,
        passwords=passwords,
        tls=tls,
        keys=keys,
    )
    injector = FaultInjector(fleet.by_id(), broker_restart=broker_restart)
    injector.validate(faults)
    ledger = Ledger()
    people = People(config, fleet, params, clock, ledger, seed)
    stop = stop or asyncio.Event()
    started = time.monotonic()
    try:
        await fleet.start(CONNECT_WITHIN_S)
        await _first_shows(fleet, FIRST_SHOW_WITHIN_S)
        clock.start()
        started = time.monotonic()
        people.start()
        fault_task = asyncio.create_task(injector.run(faults), name="sim-faults")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(duration_s):
                await stop.wait()
        active = time.monotonic() - started
        simulated = clock.now() / 60.0
        fault_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await fault_task
        await people.stop()
        await injector.restore()
        await _settle(fleet, settle_s)
        result = check(config, fleet, ledger, people_failures=people.tasks.failures)
    finally:
        await people.stop()
        await fleet.close()
    return SimReport(
        hall=config.hall.id,
        seed=seed,
        speed=speed,
        duration_s=active,
        simulated_minutes=simulated,
        cut_short=True,
        result=result,
        faults=tuple(injector.records),
        skipped_devices=tuple(fleet.skipped),
        ledger=_people_counts(ledger),
    )


async def _first_shows(fleet: Fleet, within: float) -> None:
    """Wait until every connected device shows a state (the controller answered its birth)."""
    await _until(lambda: not any(d.online and d.ver == 0 for d in fleet), within)


async def _settle(fleet: Fleet, within: float) -> None:
    """Let in-flight traffic land: devices back online, outboxes empty, then a quiet moment."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    await _until(lambda: all(d.online for d in fleet), within)
    for pad in fleet.evaluators.values():
        await pad.settle(max(0.0, deadline - loop.time()))
    await asyncio.sleep(min(0.5, max(0.1, deadline - loop.time())))


async def _until(condition: Callable[[], bool], within: float, step: float = 0.05) -> None:
    """Poll ``condition`` (device state has no single event to wait on) for ``within`` s."""
    for _ in range(max(1, int(within / step))):
        if condition():
            return
        await asyncio.sleep(step)


def _people_counts(ledger: Ledger) -> dict[str, Any]:
    return {
        "tickets_taken": len(ledger.issued),
        "served": len(ledger.served),
        "no_shows": len(ledger.no_shows),
        "transfers": len(ledger.transfers),
        "suspends": len(ledger.suspends),
        "refusals": dict(ledger.refusals),
        "turned_away": dict(ledger.turned_away),
        "not_printed": len(ledger.not_printed),
        "unanswered": dict(ledger.unanswered),
        "press_errors": dict(ledger.press_errors),
    }
