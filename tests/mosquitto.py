"""pytest fixture ``mosquitto``: a private broker per test on a free port, never the system one.

It runs as a hall's broker does: no anonymous access, per-identity passwords and the ACL of
``devices.mqtt.broker_access``, client id = user name, plus a TLS listener with a throw-away CA.
A test grants the identities it uses (``mosquitto.grant_hall(config)`` for a whole hall,
``mosquitto.grant([...])``) and connects with ``mosquitto.login(identity)``;
``mosquitto.settings(config)`` is the ``[mqtt]`` section a daemon needs for it.

The fixture yields a ``MosquittoProcess`` that unpacks as ``host, port = mosquitto``;
``mosquitto.restart()`` stops it and starts it again on the same port for broker-restart tests
(call it through ``asyncio.to_thread`` from async tests: it blocks).
Registered in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.config.model import HallConfig
from devices.mqtt.credentials import CredentialStore, credentials_path
from devices.mqtt.identity import Identity
from devices.mqtt.mosquitto_process import MosquittoProcess


@pytest.fixture
def mosquitto() -> Iterator[MosquittoProcess]:
    broker = MosquittoProcess(secure=True, tls=True)
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


def write_controller_credentials(broker: MosquittoProcess, config: HallConfig, db: Path) -> None:
    """What `hallctl broker-config` leaves beside the log: the controller's password in
    ``<db>.mqtt-credentials``, for a daemon started as a real process."""
    hall = Identity(config.hall.id)
    password = broker.grant_hall(config)[hall]
    store = CredentialStore.load(credentials_path(db, config.mqtt.credentials_file))
    store.controllers[hall.hall] = password
    store.save()
