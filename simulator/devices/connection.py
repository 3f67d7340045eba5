"""One simulated device's MQTT connection: session counter, will, birth, reconnects.

Theory of operation. A supervisor task keeps one gmqtt client connected (gmqtt's own
reconnect is off; ``devices.mqtt.reconnect`` decides when to retry, as for the controller's
link). Every attempt takes the next session number S, sets the retained will ``Will(S)`` on the
device's status topic, connects with a clean session, subscribes to the device's down topic and
the controller's status topic, and only then publishes the retained ``Birth(S)``, so the Show the
controller sends in answer to the birth cannot arrive before the subscription exists.

The device logs in as ``d/{hall}/{device}`` (``devices.mqtt.identity``: also its client id)
with the password the installer typed in (``Endpoint.password``; empty on a broker without
authentication), over TLS when ``Endpoint.tls`` is given.

``drop`` ends the connection without an MQTT DISCONNECT (the socket is aborted, as when a cable
is pulled), so the broker publishes the will; the device stays offline for the given time.
``close`` disconnects with MQTT 5 reason code 0x04 ("disconnect with will message"), so the broker
publishes the will exactly once and no device looks online after a run. (Publishing the will
ourselves before a normal DISCONNECT was seen delivered twice under load.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gmqtt  # type: ignore[import-untyped]

from devices.mqtt.identity import device_client_id
from devices.mqtt.reconnect import BackoffPolicy, Reconnector
from firmware_protocols import mqtt_v1 as proto

log = logging.getLogger(__name__)

DISCONNECT_WITH_WILL = 0x04  # MQTT 5 reason code: the broker publishes the will (once)
DEVICE_BACKOFF = BackoffPolicy(initial=0.2, factor=2.0, cap=2.0, jitter=0.5)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the broker is and who this device is on it."""

    host: str
    port: int
    hall: str
    device: str
    kind: proto.DeviceKind
    fw: str = "hallctl-sim 1"
    keepalive: int = 10
    connect_timeout: float = 5.0
    password: str = ""  # the device's broker password; empty: no login
    tls: ssl.SSLContext | None = None


class _OneShotClient(gmqtt.Client):  # type: ignore[misc]
    """gmqtt client without its built-in reconnect: the supervisor decides."""

    async def reconnect(self, delay: bool = False) -> None:
        return None


MessageHandler = Callable[[str, bytes], None]
ConnectedHandler = Callable[[int], None]


class DeviceConnection:
    """See the module docstring. ``on_message(topic, payload)`` and ``on_connected(session)``
    run on the event loop and must not block."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        on_message: MessageHandler,
        on_connected: ConnectedHandler,
        backoff: BackoffPolicy = DEVICE_BACKOFF,
    ) -> None:
        self.endpoint = endpoint
        self.client_id = device_client_id(endpoint.hall, endpoint.device)
        self.up = proto.up_topic(endpoint.hall, endpoint.device)
        self.down = proto.down_topic(endpoint.hall, endpoint.device)
        self.status = proto.status_topic(endpoint.hall, endpoint.device)
        self.controller_status = proto.controller_status_topic(endpoint.hall)
        self.session = 0  # kept across reconnects: the simulated flash
        self.connects = 0
        self.drops = 0
        self._on_message = on_message
        self._on_connected = on_connected
        self._backoff = backoff
        self._client: _OneShotClient | None = None
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._stop = asyncio.Event()
        self._offline_until = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"sim-{self.client_id}")

    def publish(self, message: proto.UpMessage, *, status: bool = False) -> bool:
        """QoS 1 publish on the up (or, retained, the status) topic; False if offline."""
        client = self._client
        if client is None or not self.connected or not client.is_connected:
            return False
        topic = self.status if status else self.up
        try:
            client.publish(topic, proto.encode(message), qos=1, retain=status)
        except (OverflowError, OSError, AttributeError) as exc:
            log.debug("%s: publish failed: %r", self.client_id, exc)
            return False
        return True

    def drop(self, offline_for: float) -> None:
        """Lose the connection uncleanly (the will fires) and stay away ``offline_for`` s."""
        loop = asyncio.get_running_loop()
        self._offline_until = max(self._offline_until, loop.time() + offline_for)
        client = self._client
        self.drops += 1
        self._connected.clear()
        self._lost.set()
        if client is not None:
            _abort(client)

    async def close(self) -> None:
        """Disconnect with the will, stop. The supervisor goes first: woken by the
        disconnect it would abort the socket."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        client = self._client
        if client is not None and self.connected:
            client.on_disconnect = _ignore
            try:
                async with asyncio.timeout(1.0):
                    await client.disconnect(reason_code=DISCONNECT_WITH_WILL)
            except Exception as exc:  # the broker is gone or slow: the abort below ends it
                log.debug("%s: clean disconnect failed: %r", self.client_id, exc)
            else:
                client.on_message = _ignore
                self._client = None
        self._connected.clear()
        await self._forget_client()

    # --- supervisor -----------------------------------------------------------------------

    async def _supervise(self) -> None:
        reconnector = Reconnector(self._backoff)
        reconnector.start()
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            try:
                await self._connect_once()
            except Exception as exc:  # refused, unreachable, timed out, or a gmqtt bug
                if not isinstance(exc, OSError | TimeoutError | gmqtt.MQTTConnectError):
                    log.warning("%s: unexpected error while connecting: %r", self.client_id, exc)
                await self._forget_client()
                retry = reconnector.failed()
                log.debug(
                    "%s: connect failed (%r), retry in %.2f s", self.client_id, exc, retry.delay
                )
            else:
                reconnector.connected()
                await self._lost.wait()
                self._connected.clear()
                await self._forget_client()
                retry = reconnector.lost()
            delay = max(retry.delay, self._offline_until - loop.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stop.wait()
            if self._stop.is_set():
                return
            reconnector.retry()

    async def _connect_once(self) -> None:
        self.session += 1
        session = self.session
        will = gmqtt.Message(
            self.status, proto.encode(proto.Will(session=session)), qos=1, retain=True
        )
        client = _OneShotClient(
            self.client_id,
            clean_session=True,
            will_message=will,
            logger=logging.getLogger("simulator.gmqtt"),
        )
        client.on_message = self._message
        client.on_disconnect = self._disconnected
        if self.endpoint.password:
            client.set_auth_credentials(self.client_id, self.endpoint.password)
        self._lost.clear()
        self._client = client
        async with asyncio.timeout(self.endpoint.connect_timeout):
            await client.connect(
                self.endpoint.host,
                self.endpoint.port,
                ssl=self.endpoint.tls or False,
                keepalive=self.endpoint.keepalive,
            )
        if self._lost.is_set():  # dropped while connecting
            raise OSError("connection dropped during connect")
        client.subscribe(
            [
                gmqtt.Subscription(self.down, qos=1),
                gmqtt.Subscription(self.controller_status, qos=1),
            ]
        )
        self.connects += 1
        self._connected.set()
        self.publish(self.birth(), status=True)
        self._on_connected(session)

    def birth(self) -> proto.Birth:
        return proto.Birth(
            session=self.session, kind=self.endpoint.kind, fw=self.endpoint.fw, model="sim"
        )

    async def _forget_client(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        client.on_message = _ignore
        client.on_disconnect = _ignore
        _abort(client)

    def _disconnected(self, client: Any, packet: Any, exc: Any = None) -> None:
        if client is self._client:
            self._connected.clear()
            self._lost.set()

    def _message(
        self, client: Any, topic: str, payload: bytes, qos: int, properties: dict[str, Any]
    ) -> int:
        if client is self._client:
            self._on_message(topic, payload)
        return 0


def _abort(client: Any) -> None:
    """Close the socket without DISCONNECT (gmqtt has no public call for a cable pull)."""
    connection = getattr(client, "_connection", None)
    transport = getattr(connection, "_transport", None)
    if transport is not None:
        transport.abort()


def _ignore(*args: object, **kwargs: object) -> int:
    return 0
