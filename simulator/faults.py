"""Faults on demand: what goes wrong in a real hall, done to the simulated devices.

- ``drop``: a device loses its connection uncleanly (the broker publishes its will) and comes
  back after ``seconds`` with a new session.
- ``paper_out``: a kiosk printer runs out of paper (PrinterStatus out) and is refilled after
  ``seconds`` (0: never during the run).
- ``pad_link_loss``: the next rating pressed on a pad finds its link gone: the rating waits in
  the outbox and must be delivered after the reconnect ``seconds`` later.
- ``broker_restart``: the caller's callback restarts the broker (e.g. the mosquitto fixture's
  ``restart``); every device reconnects by itself.

Faults run now (``FaultInjector`` methods) or on a schedule (``Fault`` values with a start time
in real seconds after the people start). ``Fault.parse`` reads the CLI form
``KIND:TARGET@AT[+SECONDS]``, e.g. ``drop:w03-pad@10+5``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from simulator.devices import SimDevice, SimEvaluator, SimKiosk

BrokerRestart = Callable[[], Awaitable[None] | None]


class FaultKind(enum.Enum):
    DROP = "drop"
    PAPER_OUT = "paper_out"
    PAD_LINK_LOSS = "pad_link_loss"
    BROKER_RESTART = "broker_restart"


class FaultError(ValueError):
    """A fault that cannot be applied: unknown device, wrong family, no restart callback."""


_SPEC_RE = re.compile(
    r"^(?P<kind>[a-z_]+)(?::(?P<target>[A-Za-z0-9_-]+))?@(?P<at>[0-9.]+)"
    r"(?:\+(?P<seconds>[0-9.]+))?$"
)


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    at_s: float  # real seconds after the people start
    target: str | None = None  # device id; None for broker_restart
    seconds: float = 2.0  # how long the device stays offline / the printer stays empty

    def __post_init__(self) -> None:
        if self.at_s < 0 or self.seconds < 0:
            raise FaultError(f"{self.kind.value}: times must be >= 0")
        if (self.kind is FaultKind.BROKER_RESTART) != (self.target is None):
            raise FaultError(
                f"{self.kind.value}: a target device is required except for "
                "broker_restart, which takes none"
            )

    @classmethod
    def parse(cls, spec: str) -> Fault:
        match = _SPEC_RE.match(spec.strip())
        if match is None:
            raise FaultError(f"fault {spec!r}: expected KIND[:DEVICE]@AT[+SECONDS]")
        try:
            kind = FaultKind(match["kind"])
        except ValueError:
            kinds = ", ".join(k.value for k in FaultKind)
            raise FaultError(f"fault {spec!r}: unknown kind (one of {kinds})") from None
        seconds = float(match["seconds"]) if match["seconds"] else 2.0
        return cls(kind, float(match["at"]), match["target"], seconds)


@dataclass(frozen=True, slots=True)
class FaultRecord:
    fault: Fault
    started: float  # real seconds after the people start
    note: str


class FaultInjector:
    def __init__(
        self,
        devices: Mapping[str, SimDevice],
        *,
        broker_restart: BrokerRestart | None = None,
    ) -> None:
        self.devices = devices
        self._broker_restart = broker_restart
        self.records: list[FaultRecord] = []
        self._refills: list[asyncio.Task[None]] = []
        self._empty_kiosks: dict[str, int] = {}  # kiosk -> sheets to put back

    def validate(self, faults: Sequence[Fault]) -> None:
        """Raise ``FaultError`` for a fault that could not run (before the run starts)."""
        for fault in faults:
            if fault.kind is FaultKind.BROKER_RESTART:
                if self._broker_restart is None:
                    raise FaultError("broker_restart needs a restart callback")
                continue
            device = self._device(fault.target)
            if fault.kind is FaultKind.PAPER_OUT and not isinstance(device, SimKiosk):
                raise FaultError(f"paper_out: {fault.target} is not a kiosk")
            if fault.kind is FaultKind.PAD_LINK_LOSS and not isinstance(device, SimEvaluator):
                raise FaultError(f"pad_link_loss: {fault.target} is not an evaluator pad")

    def _device(self, target: str | None) -> SimDevice:
        device = self.devices.get(target or "")
        if device is None:
            raise FaultError(f"no simulated MQTT device {target!r}")
        return device

    # --- faults now ------------------------------------------------------------------------------

    def drop(self, device_id: str, seconds: float) -> None:
        self._device(device_id).drop(seconds)

    def paper_out(self, kiosk_id: str, refill_after: float) -> None:
        kiosk = self._device(kiosk_id)
        if not isinstance(kiosk, SimKiosk):
            raise FaultError(f"{kiosk_id} is not a kiosk")
        self._empty_kiosks.setdefault(kiosk_id, max(kiosk.paper, kiosk.paper_low + 1))
        kiosk.set_paper(0)
        if refill_after > 0:
            self._refills.append(asyncio.create_task(self._refill_later(kiosk, refill_after)))

    async def _refill_later(self, kiosk: SimKiosk, after: float) -> None:
        await asyncio.sleep(after)
        self.refill(kiosk.id)

    def refill(self, kiosk_id: str) -> None:
        sheets = self._empty_kiosks.pop(kiosk_id, None)
        kiosk = self._device(kiosk_id)
        if sheets is not None and isinstance(kiosk, SimKiosk):
            kiosk.set_paper(sheets)

    def pad_link_loss(self, pad_id: str, seconds: float) -> None:
        pad = self._device(pad_id)
        if not isinstance(pad, SimEvaluator):
            raise FaultError(f"{pad_id} is not an evaluator pad")
        pad.lose_link_on_next_press(seconds)

    async def broker_restart(self) -> None:
        if self._broker_restart is None:
            raise FaultError("broker_restart needs a restart callback")
        if inspect.iscoroutinefunction(self._broker_restart):
            await self._broker_restart()
        else:  # a blocking call such as MosquittoProcess.restart: keep the loop running
            result = await asyncio.to_thread(self._broker_restart)
            if inspect.isawaitable(result):
                await result

    # --- schedule -----------------------------------------------------------------------------

    async def run(self, faults: Sequence[Fault]) -> None:
        """Apply ``faults`` at their times (cancel to stop early)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        for fault in sorted(faults, key=lambda f: f.at_s):
            await asyncio.sleep(max(0.0, start + fault.at_s - loop.time()))
            await self.apply(fault, loop.time() - start)

    async def apply(self, fault: Fault, now: float = 0.0) -> None:
        note = ""
        if fault.kind is FaultKind.DROP:
            assert fault.target is not None
            self.drop(fault.target, fault.seconds)
        elif fault.kind is FaultKind.PAPER_OUT:
            assert fault.target is not None
            self.paper_out(fault.target, fault.seconds)
        elif fault.kind is FaultKind.PAD_LINK_LOSS:
            assert fault.target is not None
            self.pad_link_loss(fault.target, fault.seconds)
            note = "armed: fires at the next press"
        else:
            await self.broker_restart()
        self.records.append(FaultRecord(fault, round(now, 3), note))

    async def restore(self) -> None:
        """End of run: refill every emptied printer, disarm pad link losses."""
        for task in self._refills:
            task.cancel()
        for task in self._refills:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for kiosk_id in list(self._empty_kiosks):
            self.refill(kiosk_id)
        for device in self.devices.values():
            if isinstance(device, SimEvaluator) and device.link_loss is not None:
                if not device.link_loss.fired:
                    self.records.append(
                        FaultRecord(
                            Fault(
                                FaultKind.PAD_LINK_LOSS,
                                0.0,
                                device.id,
                                device.link_loss.offline_for,
                            ),
                            -1.0,
                            "never fired: no rating was pressed on this pad after it was armed",
                        )
                    )
                device.link_loss = None
