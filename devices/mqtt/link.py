"""MqttLink: the controller's one MQTT connection for one hall. It moves bytes, nothing more.

Theory of operation. The link keeps one gmqtt client connected to the broker. At every connect
it takes a new controller session number, sets the MQTT will ``will(session)`` retained on the
hall's controller status topic, publishes ``birth(session)`` retained there, and subscribes to
every device's up and status topics in the hall. Inbound payloads are decoded with
``firmware_protocols.mqtt_v1`` and handed on as ``Inbound`` values; commands go out with
``publish`` at QoS 1. What the bytes mean is the drivers' business.

Identity. The link logs in as ``c/{hall}`` (``devices.mqtt.identity``) with the hall's
controller password, over TLS when given a context. A broker that refuses the login (bad user
name or password, not authorised) is not a network fault: the link records it in ``refusal``
(read by ``/healthz``, ``/metrics`` and the console), logs an error, and tries again every
``refused_retry`` seconds, so a fixed password file (SIGHUP to Mosquitto) is picked up without
a restart.

One hall per link: MQTT allows one will per connection, and each hall has its own controller
status topic, so a controller serving five halls runs five links.

Reconnecting is ``devices.mqtt.reconnect``'s state machine; gmqtt's own reconnect is switched
off, and each attempt gets a fresh client with clean session state. Commands lost with a
connection are not replayed here: drivers retry unacknowledged commands and re-send the desired
state when a device (or this link) is born again.

Inbound delivery. With a ``handler`` the link calls it for each message, on the event loop; it
must not block. Without one, messages go to the bounded queue ``inbound``. When that queue is
full the NEWEST message is dropped: the broker has already been acknowledged (as in aiomqtt 2,
whose client drops the same way but silently), so the link cannot refuse it; each drop is
counted in ``stats.dropped`` and logged (first drop of a burst, then every 1000th, then once
when the queue accepts again). Nothing is lost for good by design of the protocol: devices
re-send requests until a reply comes, and status topics are retained.

Hostile input. A ``gate`` (the hub's token buckets) is asked with the device id, which the
topic names, *before* a device's payload is decoded: a flooding device costs a topic lookup per
message, not a decode. Undecodable payloads are counted in ``stats.decode_errors`` and logged
at most every ``BAD_LOG_EVERY_S`` seconds with the count since the last line, never once per
message. The per-topic caches are LRUs (``devices.lru``): a million unknown device ids cost
the same memory as a few thousand.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import gmqtt  # type: ignore[import-untyped]

from devices.lru import Lru
from devices.mqtt.identity import controller_client_id
from devices.mqtt.ids import MonotonicIds
from devices.mqtt.reconnect import BackoffPolicy, LinkState, Reconnector
from devices.throttle import QuietWarning
from firmware_protocols import mqtt_v1 as proto

log = logging.getLogger(__name__)

DROP_LOG_EVERY = 1000
TOPIC_CACHE_MAX = 4096  # remembered topics each way (a hall has a few thousand)
BAD_LOG_EVERY_S = 10.0
CLOSE_WITHIN = 2.0


class LinkDown(ConnectionError):
    """A publish was attempted while the link is not connected; the caller retries later."""


class LinkBusy(ConnectionError):
    """The outbound backlog is full (the broker acknowledges slower than we publish)."""


@dataclass(frozen=True, slots=True)
class Inbound:
    """One decoded message from a device: its up topic or its retained status topic."""

    hall: str
    device: str
    channel: proto.Channel
    message: proto.UpMessage
    retained: bool


@dataclass(slots=True)
class LinkStats:
    received: int = 0  # PUBLISH packets that reached the link
    delivered: int = 0  # handed to the handler or the queue
    published: int = 0  # commands and status messages sent
    decode_errors: int = 0  # bad topic or payload (logged now and then, with a count)
    gated: int = 0  # dropped unread: the sending device is over its rate limit
    dropped: int = 0  # inbound queue full
    backlogged: int = 0  # publishes that waited for the broker's receive window
    unsent: int = 0  # backlogged publishes discarded because the connection was lost
    handler_errors: int = 0  # the handler raised
    connects: int = 0
    refused: int = 0  # logins the broker refused (bad credentials, not authorised)


REFUSED_LOGIN: dict[int, str] = {
    4: "bad_credentials",  # MQTT 3.1.1 CONNACK 4
    5: "not_authorized",  # MQTT 3.1.1 CONNACK 5
    0x86: "bad_credentials",  # MQTT 5 reason codes
    0x87: "not_authorized",
    0x8A: "banned",
    0x8C: "bad_credentials",  # bad authentication method
}
"""CONNACK codes that mean "not you": the broker is there and said no."""


@dataclass(frozen=True, slots=True)
class LoginRefused:
    """The broker refused the controller's login: why (a code above), since when (wall ms)."""

    reason: str
    code: int
    since_ms: int

    @property
    def text(self) -> str:
        """What the hall's staff read (console alert, /healthz)."""
        why = _REFUSAL_TEXT.get(self.reason, "拒绝登录")
        return f"消息服务器{why}，设备收不到指令；请核对凭据文件和服务器的密码文件与权限表"


_REFUSAL_TEXT = {
    "bad_credentials": "拒绝控制器登录（用户名或密码错误）",
    "not_authorized": "拒绝控制器登录（未授权）",
    "banned": "禁止控制器登录",
}


@dataclass(frozen=True, slots=True)
class LinkConfig:
    host: str
    hall: str
    port: int = 1883
    client_id: str | None = None  # default: "c/{hall}"; a second controller takes over
    username: str = ""  # empty: no login (a broker without authentication)
    password: str = ""
    tls: ssl.SSLContext | None = None  # devices.mqtt.tls.client_context
    refused_retry: float = 10.0  # seconds between logins while the broker refuses ours
    keepalive: int = 30
    connect_timeout: float = 5.0
    queue_size: int = 4096
    backlog_size: int = 4096  # publishes waiting for the broker's receive window
    firmware: str = "hallctl"
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    # MQTT QoS for commands to devices and for the devices' up topics. 0 by default: the
    # protocol acknowledges and retries at the application level (command ids and acks,
    # request ids and replies), so broker-level QoS 1 would only double the packets on the
    # controller's connection (docs/decisions/0005-qos0-on-the-controller-link.md). Births
    # and wills stay QoS 1 and retained.
    device_qos: int = 0


class _WindowStorage(gmqtt.storage.PersistentStorage):  # type: ignore[misc]
    """gmqtt's in-flight store, telling the link when a PUBACK frees a packet id."""

    def __init__(self, on_free: Callable[[], None]) -> None:
        super().__init__()
        self._on_free = on_free

    def remove_message_by_mid(self, mid: int) -> None:
        super().remove_message_by_mid(mid)
        self._on_free()


class _OneShotClient(gmqtt.Client):  # type: ignore[misc]
    """gmqtt client whose built-in reconnect is off: ``reconnect.py`` decides when to retry."""

    async def reconnect(self, delay: bool = False) -> None:
        return None


Handler = Callable[[Inbound], None]
BadMessageHandler = Callable[[str, proto.PayloadError], None]
"""Called with (device id, error) for an undecodable payload on a device's up or status topic,
so the device can be told why (the link itself only moves bytes)."""
Gate = Callable[[str], bool]
"""Asked with a device id before its payload is decoded; False drops the payload unread."""


class MqttLink:
    """See the module docstring. Use ``async with MqttLink(...)`` or ``start``/``close``."""

    def __init__(
        self,
        config: LinkConfig,
        *,
        handler: Handler | None = None,
        sessions: MonotonicIds | None = None,
        on_bad_message: BadMessageHandler | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.config = config
        self._on_bad_message = on_bad_message
        self._gate = gate
        self._bad_log = QuietWarning(BAD_LOG_EVERY_S)
        self.hall = proto.check_id(config.hall, "hall")
        self._client_id = config.client_id or controller_client_id(self.hall)
        self.refusal: LoginRefused | None = None  # set while the broker refuses our login
        self._handler = handler
        self.inbound: asyncio.Queue[Inbound] | None = (
            None if handler else asyncio.Queue(maxsize=config.queue_size)
        )
        self._sessions = sessions or MonotonicIds()
        self.session = 0  # controller session of the current (or last) connection
        self.stats = LinkStats()
        self._reconnector = Reconnector(config.backoff)
        self._client: _OneShotClient | None = None
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._drops_in_burst = 0
        self._backlog: collections.deque[tuple[str, bytes, bool]] = collections.deque()
        self._status_topic = proto.controller_status_topic(self.hall)
        # Topic strings are checked once per device, not once per message.
        self._down_topics: Lru[str, str] = Lru(TOPIC_CACHE_MAX)
        self._parsed: Lru[str, proto.TopicAddress] = Lru(TOPIC_CACHE_MAX)

    # --- public API ---------------------------------------------------------------------------

    @property
    def state(self) -> LinkState:
        return self._reconnector.state

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self) -> None:
        """Start connecting in the background; returns at once (see ``wait_connected``)."""
        self._reconnector.start()
        self._task = asyncio.create_task(self._run(), name=f"mqtt-link-{self.hall}")

    async def wait_connected(self) -> None:
        """Wait until connected (wrap in ``asyncio.timeout`` to bound it)."""
        await self._connected.wait()

    def publish(self, device: str, message: proto.DownMessage) -> None:
        """Send a command to ``device`` at QoS 1; raises ``LinkDown`` or ``LinkBusy``."""
        payload = proto.encode(message, check=False)  # our own structs: valid by construction
        topic = self._down_topics.get(device)
        if topic is None:
            topic = proto.down_topic(self.hall, device)
            self._down_topics.put(device, topic)
        self._publish(topic, payload, retain=False, qos=self.config.device_qos)

    async def close(self) -> None:
        """Publish 'offline' (this session's will), disconnect cleanly and stop, within
        ``CLOSE_WITHIN`` seconds even if the broker does not answer."""
        timeout = CLOSE_WITHIN
        if self._reconnector.closed:
            return
        self._stop.set()
        client = self._client
        if client is not None and self.connected:
            with contextlib.suppress(LinkDown, LinkBusy):
                self._publish_status(proto.Will(session=self.session))
            try:
                async with asyncio.timeout(timeout / 2):
                    await client.disconnect()
            except (TimeoutError, OSError) as exc:
                log.warning("hall %s: clean MQTT disconnect failed: %r", self.hall, exc)
        self._connected.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(timeout / 2):
                    await self._task
        self._reconnector.close()

    async def __aenter__(self) -> MqttLink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- connection supervisor ----------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self._connect_once()
            except Exception as exc:  # refused, unreachable, timed out, or a gmqtt bug
                if not isinstance(exc, OSError | TimeoutError | gmqtt.MQTTConnectError):
                    log.exception("hall %s: unexpected error while connecting", self.hall)
                retry = self._reconnector.failed()
                if self._login_refused(exc):
                    retry = replace(retry, delay=self.config.refused_retry)
                level = logging.WARNING if retry.loud else logging.DEBUG
                log.log(
                    level,
                    "hall %s: cannot connect to MQTT %s:%s (%r); retrying in %.2f s%s",
                    self.hall,
                    self.config.host,
                    self.config.port,
                    exc,
                    retry.delay,
                    " (further failures are logged at debug level)" if retry.loud else "",
                )
            else:
                await self._wait_either(self._lost)
                self._connected.clear()
                self._discard_backlog()
                if self._stop.is_set():
                    return
                retry = self._reconnector.lost()
                log.warning(
                    "hall %s: MQTT connection lost; reconnecting in %.2f s", self.hall, retry.delay
                )
                await self._drop_client()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(retry.delay):
                    await self._stop.wait()
            if self._stop.is_set():
                return
            self._reconnector.retry()

    async def _wait_either(self, event: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._stop.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _connect_once(self) -> None:
        session = self._sessions.next()
        will = gmqtt.Message(
            self._status_topic, proto.encode(proto.Will(session=session)), qos=1, retain=True
        )
        client = _OneShotClient(
            self._client_id,
            clean_session=True,
            will_message=will,
            persistent_storage=_WindowStorage(self._flush_backlog),
            logger=logging.getLogger("devices.mqtt.gmqtt"),
        )
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        if self.config.username:
            client.set_auth_credentials(self.config.username, self.config.password or None)
        self._lost.clear()
        self._client = client
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                await client.connect(
                    self.config.host,
                    self.config.port,
                    ssl=self.config.tls or False,
                    keepalive=self.config.keepalive,
                )
        except BaseException:
            await self._drop_client()
            raise
        self.session = session
        self.stats.connects += 1
        if self.refusal is not None:
            log.warning("hall %s: the broker accepts our login again", self.hall)
        self.refusal = None
        self._connected.set()
        self._publish_status(
            proto.Birth(session=session, kind=proto.DeviceKind.CONTROLLER, fw=self.config.firmware)
        )
        client.subscribe(
            [
                gmqtt.Subscription(proto.up_filter(self.hall), qos=self.config.device_qos),
                gmqtt.Subscription(proto.status_filter(self.hall), qos=1),
                gmqtt.Subscription(self._status_topic, qos=1),
            ]
        )
        failures = self._reconnector.connected()
        if failures:
            log.info("hall %s: MQTT connected after %d failed attempts", self.hall, failures)

    def _login_refused(self, exc: BaseException) -> bool:
        """Record a refused login (once loud); True if ``exc`` was one."""
        code = getattr(exc, "_code", None)
        if not isinstance(exc, gmqtt.MQTTConnectError) or code not in REFUSED_LOGIN:
            return False
        self.stats.refused += 1
        if self.refusal is None or self.refusal.code != code:
            self.refusal = LoginRefused(REFUSED_LOGIN[code], code, time.time_ns() // 1_000_000)
            log.error(
                "hall %s: the MQTT broker %s:%s refused the login of %r (%s, CONNACK 0x%02x); "
                "check [mqtt] and the credentials file, then the broker's password file and ACL",
                self.hall,
                self.config.host,
                self.config.port,
                self.config.username or self._client_id,
                self.refusal.reason,
                code,
            )
        return True

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        client.on_disconnect = _ignore
        client.on_message = _ignore
        with contextlib.suppress(Exception):
            async with asyncio.timeout(0.5):
                await client.disconnect()

    # --- publishing ---------------------------------------------------------------------------

    def _publish_status(self, message: proto.Birth | proto.Will) -> None:
        self._publish(self._status_topic, proto.encode(message), retain=True)

    def _publish(self, topic: str, payload: bytes, *, retain: bool, qos: int = 1) -> None:
        """Publish; at QoS 1 respecting the broker's receive maximum (MQTT 5 flow control).

        Mosquitto allows 20 unacknowledged QoS 1 messages per client by default and gmqtt
        raises once they are used up; publishes beyond that wait in order in a bounded backlog
        that PUBACKs drain. QoS 0 publishes go straight out unless QoS 1 ones are waiting
        (order is kept)."""
        client = self._client
        if client is None or not self.connected or not client.is_connected:
            raise LinkDown(f"hall {self.hall}: MQTT link is down")
        if not self._backlog:
            if qos == 0:
                client.publish(topic, payload, qos=0, retain=retain)
                self.stats.published += 1
                return
            if self._try_publish(client, topic, payload, retain):
                return
        if len(self._backlog) >= self.config.backlog_size:
            raise LinkBusy(f"hall {self.hall}: {len(self._backlog)} publishes wait for the broker")
        self._backlog.append((topic, payload, retain))
        self.stats.backlogged += 1

    def _try_publish(self, client: Any, topic: str, payload: bytes, retain: bool) -> bool:
        try:
            client.publish(topic, payload, qos=1, retain=retain)
        except OverflowError:  # no free packet id: the receive window is full
            return False
        self.stats.published += 1
        return True

    def _flush_backlog(self) -> None:
        client = self._client
        while self._backlog and client is not None and client.is_connected:
            topic, payload, retain = self._backlog[0]
            if not self._try_publish(client, topic, payload, retain):
                return
            self._backlog.popleft()

    def _discard_backlog(self) -> None:
        if self._backlog:
            self.stats.unsent += len(self._backlog)
            log.warning(
                "hall %s: %d publishes not sent before the connection was lost",
                self.hall,
                len(self._backlog),
            )
            self._backlog.clear()

    # --- inbound ------------------------------------------------------------------------------

    def _on_disconnect(self, client: Any, packet: Any, exc: Any = None) -> None:
        if client is self._client:
            self._connected.clear()
            self._lost.set()

    def topic_cache_evictions(self) -> int:
        """Topics forgotten to keep the caches bounded (many distinct device ids seen)."""
        return self._parsed.evicted + self._down_topics.evicted

    def _on_message(
        self, client: Any, topic: str, payload: bytes, qos: int, properties: dict[str, Any]
    ) -> None:
        if client is not self._client:
            return
        self.stats.received += 1
        address: proto.TopicAddress | None = None
        try:
            address = self._parsed.get(topic)
            if address is None:
                address = proto.parse_topic(topic)
                self._parsed.put(topic, address)
            if address.channel is proto.Channel.CONTROLLER_STATUS:
                self._check_controller_status(proto.decode_status(payload))
                return
            device = address.device
            if device is None or address.channel not in (proto.Channel.UP, proto.Channel.STATUS):
                raise proto.TopicError(f"unexpected topic {topic!r}")
            if self._gate is not None and not self._gate(device):
                self.stats.gated += 1
                return
            decode = proto.decode_up if address.channel is proto.Channel.UP else proto.decode_status
            message = decode(payload)
        except (proto.TopicError, proto.PayloadError) as exc:
            self._bad_message(topic, address, exc)
            return
        retained = bool(properties.get("retain", 0))
        self._deliver(Inbound(address.hall, device, address.channel, message, retained))

    def _bad_message(
        self,
        topic: str,
        address: proto.TopicAddress | None,
        exc: proto.TopicError | proto.PayloadError,
    ) -> None:
        self.stats.decode_errors += 1
        count = self._bad_log.due(asyncio.get_running_loop().time())
        if count is not None:
            log.warning(
                "hall %s: dropped bad message on %s: %s (%d bad messages since the last report)",
                self.hall,
                topic[:200],
                exc,
                count,
            )
        if (
            isinstance(exc, proto.PayloadError)
            and self._on_bad_message is not None
            and address is not None
            and address.device is not None
        ):
            self._on_bad_message(address.device, exc)

    def _check_controller_status(self, message: proto.Birth | proto.Will) -> None:
        """Repair a stale will that overwrote our birth; warn about a second controller."""
        if message.session == self.session:
            return
        if isinstance(message, proto.Will) and message.session < self.session:
            log.info("hall %s: stale controller will %d; re-announcing", self.hall, message.session)
            with contextlib.suppress(LinkDown, LinkBusy):
                self._publish_status(
                    proto.Birth(
                        session=self.session,
                        kind=proto.DeviceKind.CONTROLLER,
                        fw=self.config.firmware,
                    )
                )
        elif isinstance(message, proto.Birth):
            log.error(
                "hall %s: another controller announced session %d (ours %d)",
                self.hall,
                message.session,
                self.session,
            )

    def _deliver(self, item: Inbound) -> None:
        if self._handler is not None:
            try:
                self._handler(item)
            except Exception:
                self.stats.handler_errors += 1
                log.exception("hall %s: inbound handler failed", self.hall)
            else:
                self.stats.delivered += 1
            return
        assert self.inbound is not None
        try:
            self.inbound.put_nowait(item)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            self._drops_in_burst += 1
            if self._drops_in_burst == 1 or self._drops_in_burst % DROP_LOG_EVERY == 0:
                log.warning(
                    "hall %s: inbound queue full (%d); dropped %s from %s (%d in this burst, "
                    "%d in total)",
                    self.hall,
                    self.inbound.maxsize,
                    item.message.__struct_config__.tag,
                    item.device,
                    self._drops_in_burst,
                    self.stats.dropped,
                )
            return
        self.stats.delivered += 1
        if self._drops_in_burst:
            log.warning(
                "hall %s: inbound queue accepts again after %d drops",
                self.hall,
                self._drops_in_burst,
            )
            self._drops_in_burst = 0


def _ignore(*args: object, **kwargs: object) -> None:
    return None
