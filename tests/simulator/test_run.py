"""Whole runs: against the real controller (daemon + device hub) with every fault, and against
the fake controller to show the checker catches a controller that forgets tickets."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from controller.auth.device_keys import DeviceKeys, device_keys_path
from controller.config.model import HallConfig
from controller.daemon.device_links import mqtt_devices
from controller.daemon.process import Daemon, HallSource
from devices.mqtt.mosquitto_process import MosquittoProcess
from firmware_protocols import mqtt_v1 as p
from simulator.checker import ViolationKind
from simulator.faults import Fault, FaultError, FaultKind
from simulator.params import SimParams
from simulator.run import run_simulation
from tests.simulator.conftest import controller_login
from tests.simulator.fake_controller import FakeController
from tests.simulator.halls import TINY_HALL, tiny_hall

BUSY = SimParams(arrivals_per_hour=60.0)


@asynccontextmanager
async def real_controller(config: HallConfig, tmp_path: Path) -> AsyncIterator[Daemon]:
    daemon = Daemon(
        [HallSource(config, TINY_HALL)],
        db_path=tmp_path / "hall.db",
        http_port=0,
        extensions=[mqtt_devices()],
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(daemon.run(stop, ready))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        yield daemon
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_a_busy_run_with_every_fault_against_the_real_controller_is_clean(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    config = tiny_hall(mosquitto.host, mosquitto.port)
    config = dataclasses.replace(config, mqtt=mosquitto.settings(config))
    passwords = mosquitto.device_passwords(config)
    faults = [
        Fault(FaultKind.PAD_LINK_LOSS, 0.0, "w1-pad", 0.5),
        Fault(FaultKind.PAD_LINK_LOSS, 0.0, "w2-pad", 0.5),
        Fault(FaultKind.PAPER_OUT, 0.5, "kiosk-1", 1.0),
        Fault(FaultKind.DROP, 1.0, "w2-caller", 0.5),
        Fault(FaultKind.DROP, 1.2, "w1-led", 0.3),
        Fault(FaultKind.BROKER_RESTART, 2.0),
    ]
    async with real_controller(config, tmp_path):
        report = await run_simulation(
            config,
            mosquitto.address,
            duration_s=4.0,
            speed=600,
            seed=7,
            faults=faults,
            params=BUSY,
            broker_restart=mosquitto.restart,
            settle_s=4.0,
            passwords=passwords,
            keys=DeviceKeys(device_keys_path(tmp_path / "hall.db")).lookup(config.hall.id),
        )
    summary = report.result.summary
    assert report.violations == ()
    assert report.skipped_devices == ("w3-keypad",)
    assert summary.devices_online == summary.devices_total == 9
    assert summary.tickets_issued >= 20
    assert 0 < summary.tickets_served <= summary.tickets_called <= summary.tickets_issued
    assert summary.ratings + summary.not_evaluated > 0 and summary.lost == 0
    assert [r.fault.kind for r in report.faults][:6] == [f.kind for f in faults]
    never_fired = [r for r in report.faults if r.note.startswith("never fired")]
    assert len(never_fired) < 2  # at least one pad lost its link holding a rating
    assert report.simulated_minutes == pytest.approx(40, abs=2)


async def test_the_checker_catches_a_controller_that_forgets_tickets(
    mosquitto: MosquittoProcess,
) -> None:
    config = tiny_hall(mosquitto.host, mosquitto.port)
    config = dataclasses.replace(config, mqtt=mosquitto.settings(config))
    passwords = mosquitto.device_passwords(config)
    fake = FakeController(mosquitto.host, mosquitto.port, "t", login=controller_login(mosquitto))
    offered = p.KioskState(
        services=[
            p.KioskService(id="A", name="不动产登记", waiting=0),
            p.KioskService(id="B", name="社保业务", waiting=0),
        ]
    )
    fake.states.update({"kiosk-1": offered, "kiosk-2": offered})
    await fake.start()
    try:
        report = await run_simulation(
            config,
            mosquitto.address,
            duration_s=1.5,
            speed=600,
            seed=3,
            params=BUSY,
            passwords=passwords,
        )
    finally:
        await fake.close()
    unaccounted = [v for v in report.violations if v.kind is ViolationKind.TICKET_UNACCOUNTED]
    assert {v.subject for v in unaccounted} == set(report.result.open_tickets) == {"A", "B"}
    assert report.result.summary.tickets_called == 0
    assert sum(report.result.open_tickets.values()) == report.result.summary.tickets_issued > 0


async def test_the_same_seed_draws_the_same_arrivals(mosquitto: MosquittoProcess) -> None:
    config = tiny_hall(mosquitto.host, mosquitto.port)
    config = dataclasses.replace(config, mqtt=mosquitto.settings(config))
    passwords = mosquitto.device_passwords(config)
    runs: list[Counter[str]] = []
    for _ in range(2):
        fake = FakeController(
            mosquitto.host, mosquitto.port, "t", login=controller_login(mosquitto)
        )
        offered = p.KioskState(services=[p.KioskService(id="A", name="不动产登记", waiting=0)])
        fake.states.update({"kiosk-1": offered, "kiosk-2": offered})
        await fake.start()
        try:
            await run_simulation(
                config,
                mosquitto.address,
                duration_s=1.0,
                speed=600,
                seed=11,
                params=BUSY,
                passwords=passwords,
            )
        finally:
            await fake.close()
        runs.append(Counter(m.service for m in fake.up(p.TakeTicket)))
    # Only the last arrival before the deadline may fall either side of it.
    assert runs[0]["A"] > 5 and abs(runs[0]["A"] - runs[1]["A"]) <= 1


async def test_bad_arguments_are_refused_before_connecting() -> None:
    config = tiny_hall()
    nowhere = ("127.0.0.1", 1)
    with pytest.raises(ValueError):
        await run_simulation(config, nowhere, duration_s=0)
    with pytest.raises(FaultError, match="no simulated MQTT device"):
        await run_simulation(
            config, nowhere, duration_s=1, faults=[Fault(FaultKind.DROP, 0, "w3-keypad")]
        )
    with pytest.raises(FaultError, match="not a kiosk"):
        await run_simulation(
            config, nowhere, duration_s=1, faults=[Fault(FaultKind.PAPER_OUT, 0, "w1-pad")]
        )
    with pytest.raises(FaultError, match="callback"):
        await run_simulation(
            config, nowhere, duration_s=1, faults=[Fault(FaultKind.BROKER_RESTART, 0)]
        )


def test_config_without_mqtt_devices_builds_an_empty_fleet() -> None:
    config = tiny_hall()
    serial_only = dataclasses.replace(
        config, devices=tuple(d for d in config.devices if d.link.value == "serial")
    )
    from simulator.devices import build_fleet

    assert list(build_fleet(serial_only, ("127.0.0.1", 1))) == []
