"""pytest fixture ``mosquitto``: a private broker per test on a free port, never the system one.

The fixture yields a ``MosquittoProcess`` that unpacks as ``host, port = mosquitto``;
``mosquitto.restart()`` stops it and starts it again on the same port for broker-restart tests
(call it through ``asyncio.to_thread`` from async tests: it blocks).
Registered in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devices.mqtt.mosquitto_process import MosquittoProcess


@pytest.fixture
def mosquitto() -> Iterator[MosquittoProcess]:
    broker = MosquittoProcess()
    broker.start()
    try:
        yield broker
    finally:
        broker.close()
