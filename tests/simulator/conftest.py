"""Fixtures for simulator tests: a fake controller on the private broker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from devices.mqtt.mosquitto_process import MosquittoProcess
from tests.simulator.fake_controller import FakeController

HALL = "t"


@pytest.fixture
async def controller(mosquitto: MosquittoProcess) -> AsyncIterator[FakeController]:
    fake = FakeController(mosquitto.host, mosquitto.port, HALL)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()
