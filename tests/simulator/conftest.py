"""Fixtures for simulator tests: a fake controller on the private broker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from devices.mqtt.identity import Identity
from devices.mqtt.mosquitto_process import MosquittoProcess
from tests.simulator.fake_controller import FakeController

HALL = "t"


def controller_login(broker: MosquittoProcess, hall: str = HALL) -> tuple[str, str]:
    """The fake controller logs in as the hall's controller (the broker runs secured)."""
    broker.grant([Identity(hall)])
    return broker.login(Identity(hall))


@pytest.fixture
async def controller(mosquitto: MosquittoProcess) -> AsyncIterator[FakeController]:
    fake = FakeController(mosquitto.host, mosquitto.port, HALL, login=controller_login(mosquitto))
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()
