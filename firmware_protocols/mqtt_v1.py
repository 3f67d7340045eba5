"""hallctl MQTT protocol v1: topics and MessagePack messages between the controller and IP devices.

Theory of operation. Every message is one MessagePack map, the payload of one MQTT PUBLISH. Its
key ``t`` names the message type and its key ``v`` is the protocol version, always 1. Devices
publish *up* messages on ``hallctl/v1/{hall}/dev/{device}/up`` and their availability (``birth``
and ``will``) retained on ``.../status``; the controller publishes *down* messages on
``.../down`` and its own availability retained on ``hallctl/v1/{hall}/controller/status``.

Down messages are commands: each carries an ``id`` the device acknowledges with ``ack`` and uses
to ignore repeats. The main command, ``show``, carries the device's whole desired state with a
``ver``sion, so a device that missed anything converges by applying the newest ``show`` it sees.
Up requests that want an answer (``press``, ``take_ticket``, ``rating``, ``rating_timeout``)
carry a device-chosen ``rid``; the controller answers each with ``reply`` and answers a repeated
``rid`` with the same reply, so devices may re-send freely.

This module is sans-I/O: pure functions from values to bytes and back, no sockets or clocks.
Bad bytes raise ``PayloadError`` with a ``PayloadErrorReason`` and change nothing. Receivers
ignore map keys they do not know, so optional fields can be added within v1. The specification
for device vendors is docs/protocol/mqtt.md; its examples are generated from this module.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, TypeAlias, TypeVar

import msgspec
from msgspec import Meta

from firmware_protocols.base import EncodeError
from firmware_protocols.msgpack_peek import peek_int

PROTOCOL_VERSION: Final = 1
MAX_PAYLOAD: Final = 4096
"""Largest payload either side sends or accepts, in bytes; checked before decoding."""

TOPIC_ROOT: Final = "hallctl/v1"

# --------------------------------------------------------------------------------------------
# Topics

_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


class TopicError(ValueError):
    """A hall or device id, or a topic, that is not part of this protocol."""


class Channel(enum.Enum):
    """What a topic carries."""

    UP = "up"  # device -> controller messages
    DOWN = "down"  # controller -> device commands
    STATUS = "status"  # device availability, retained
    CONTROLLER_STATUS = "controller_status"  # controller availability, retained


@dataclass(frozen=True, slots=True)
class TopicAddress:
    """A parsed topic; ``device`` is None for the controller's status topic."""

    hall: str
    device: str | None
    channel: Channel


def check_id(value: str, what: str = "id") -> str:
    """Return ``value`` if it is a valid hall or device id ([A-Za-z0-9_-]{1,64})."""
    if not isinstance(value, str) or _ID_RE.fullmatch(value) is None:
        raise TopicError(f"{what} {value!r} is not 1-64 characters of A-Z a-z 0-9 _ -")
    return value


def up_topic(hall: str, device: str) -> str:
    """Where a device publishes its up messages."""
    return f"{TOPIC_ROOT}/{check_id(hall, 'hall')}/dev/{check_id(device, 'device')}/up"


def down_topic(hall: str, device: str) -> str:
    """Where the controller publishes commands for one device."""
    return f"{TOPIC_ROOT}/{check_id(hall, 'hall')}/dev/{check_id(device, 'device')}/down"


def status_topic(hall: str, device: str) -> str:
    """A device's retained availability: its last birth or will."""
    return f"{TOPIC_ROOT}/{check_id(hall, 'hall')}/dev/{check_id(device, 'device')}/status"


def controller_status_topic(hall: str) -> str:
    """The controller's retained availability for one hall."""
    return f"{TOPIC_ROOT}/{check_id(hall, 'hall')}/controller/status"


def up_filter(hall: str) -> str:
    """Subscription filter for every device's up messages in a hall."""
    return f"{TOPIC_ROOT}/{check_id(hall, 'hall')}/dev/+/up"


def status_filter(hall: str) -> str:
    """Subscription filter for every device's availability in a hall."""
    return f"{TOPIC_ROOT}/{check_id(hall, 'hall')}/dev/+/status"


_DEVICE_CHANNELS: Final = {"up": Channel.UP, "down": Channel.DOWN, "status": Channel.STATUS}


def parse_topic(topic: str) -> TopicAddress:
    """Parse any topic of this protocol, or raise ``TopicError``."""
    parts = topic.split("/")
    if len(parts) < 4 or f"{parts[0]}/{parts[1]}" != TOPIC_ROOT:
        raise TopicError(f"topic {topic!r} is not under {TOPIC_ROOT}/")
    hall = check_id(parts[2], "hall")
    if len(parts) == 5 and parts[3] == "controller" and parts[4] == "status":
        return TopicAddress(hall, None, Channel.CONTROLLER_STATUS)
    if len(parts) == 6 and parts[3] == "dev" and parts[5] in _DEVICE_CHANNELS:
        return TopicAddress(hall, check_id(parts[4], "device"), _DEVICE_CHANNELS[parts[5]])
    raise TopicError(f"topic {topic!r} is not a hallctl v1 topic")


# --------------------------------------------------------------------------------------------
# Field types (constraints are checked when decoding and by ``encode``)

U63 = Annotated[int, Meta(ge=0, le=2**63 - 1)]
CommandId = Annotated[int, Meta(ge=1, le=2**63 - 1)]
"""Controller-chosen, never reused, not even across controller restarts."""
RequestId = Annotated[int, Meta(ge=0, le=2**32 - 1)]
"""Device-chosen; not reused by that device within 10 minutes, reboots included."""
TicketId = Annotated[int, Meta(ge=1, le=2**63 - 1)]
Count = Annotated[int, Meta(ge=0, le=1_000_000)]
Code = Annotated[str, Meta(pattern=r"^[a-z0-9_]{1,32}$")]
Key = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Name = Annotated[str, Meta(max_length=64)]
Text = Annotated[str, Meta(max_length=256)]
Url = Annotated[str, Meta(max_length=512)]
TicketNumber = Annotated[str, Meta(min_length=1, max_length=16)]
Counter = Annotated[int, Meta(ge=1, le=2**63 - 1)]
"""A pad's signing counter: grows with every signed message, kept in non-volatile memory."""
Mac = Annotated[bytes, Meta(min_length=32, max_length=32)]
"""HMAC-SHA256, all 32 bytes (MessagePack bin)."""


class DeviceKind(enum.Enum):
    """What announces itself in a birth. Values match ``controller.config.model.DeviceKind``."""

    KIOSK = "kiosk"
    CALLER = "caller"
    WINDOW_DISPLAY = "window_display"
    EVALUATOR = "evaluator"
    HALL_SCREEN = "hall_screen"
    CONTROLLER = "controller"


class AckError(enum.Enum):
    """Why a device could not execute a command."""

    UNSUPPORTED = "unsupported"  # this device does not know the command or state kind
    INVALID = "invalid"  # a field it cannot show (text too long for the panel...)
    PRINTER = "printer"  # kiosk: printing failed (see printer_status for why)
    BUSY = "busy"  # try again later
    INTERNAL = "internal"  # anything else; put the detail in ``text``


class PressOp(enum.Enum):
    """A window keypad operation (see domain: queue operations)."""

    LOGIN = "login"  # 登录; needs ``staff`` (工号)
    LOGOUT = "logout"  # 登出
    CALL_NEXT = "call_next"  # 呼叫
    RECALL = "recall"  # 重呼
    CALL_NUMBER = "call_number"  # 指呼 / 特呼; needs ``number``
    START = "start"  # 开始
    FINISH = "finish"  # 办结
    NO_SHOW = "no_show"  # 弃号 / 过号
    SUSPEND = "suspend"  # 挂起
    CALL_BACK = "call_back"  # 回呼; needs ``number``
    TRANSFER = "transfer"  # 转移; needs exactly one of ``service`` or ``window``
    PAUSE = "pause"  # 暂停
    RESUME = "resume"  # 恢复
    ONE_METRE_LINE = "one_metre_line"  # 一米线 reminder


class PaperLevel(enum.Enum):
    OK = "ok"
    LOW = "low"
    OUT = "out"


class RatingLevel(enum.IntEnum):
    """好差评 level as sent by pads. In THIS protocol higher is better: 1 = 非常不满意 ...
    5 = 非常满意 (the provincial direction; the national data standard counts the other way,
    adapters map). 1 and 2 are 差评."""

    VERY_DISSATISFIED = 1  # 非常不满意
    DISSATISFIED = 2  # 不满意
    BASICALLY_SATISFIED = 3  # 基本满意
    SATISFIED = 4  # 满意
    VERY_SATISFIED = 5  # 非常满意


class DisplayMode(enum.Enum):
    CALLING = "calling"
    SERVING = "serving"
    PAUSED = "paused"
    IDLE = "idle"


class WindowState(enum.Enum):
    """Values match ``controller.core.lifecycle.WindowState`` plus ``suspended`` for keypads."""

    LOGGED_OUT = "logged_out"
    IDLE = "idle"
    CALLING = "calling"
    SERVING = "serving"
    SUSPENDED = "suspended"
    PAUSED = "paused"


class EvaluatorMode(enum.Enum):
    STAFF_CARD = "staff_card"  # 亮牌: name, photo, 工号 of the staff at the window
    INVITE = "invite"  # ask to rate ``ticket`` for ``seconds``; on 差评 show ``reasons`` locally
    THANKS = "thanks"  # thank the citizen for ``seconds``, then wait for the next state


# --------------------------------------------------------------------------------------------
# Messages


class Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="t"):
    """Base of every v1 message: ``t`` (type) and ``v`` (protocol version) come first."""

    v: Literal[1] = 1


# Up: device -> controller


class Birth(Message, tag="birth", kw_only=True, frozen=True):
    """Online, published retained on the status topic right after every connect.

    ``session`` grows by one at every connect (kept in flash), so a will left over from an older
    connection can be recognised and ignored."""

    session: U63
    kind: DeviceKind
    fw: Name  # firmware version, free text
    model: Name | None = None


class Will(Message, tag="will", kw_only=True, frozen=True):
    """Offline; set as the MQTT will (retained) on the status topic with the birth's session."""

    session: U63


class Ack(Message, tag="ack", kw_only=True, frozen=True):
    """A command ``id`` was executed (``ok``) or could not be (``code`` says why)."""

    id: CommandId
    ok: bool
    code: AckError | None = None
    text: Text = ""

    def __post_init__(self) -> None:
        if self.ok == (self.code is not None):
            raise ValueError("ack: `code` is required when ok is false and forbidden otherwise")


_PRESS_ARGS: Final = {
    PressOp.LOGIN: frozenset({"staff"}),
    PressOp.CALL_NUMBER: frozenset({"number"}),
    PressOp.CALL_BACK: frozenset({"number"}),
}


class Press(Message, tag="press", kw_only=True, frozen=True):
    """A window keypad key, with the arguments its ``op`` needs and no others."""

    rid: RequestId
    op: PressOp
    staff: Key | None = None  # 工号, for login
    number: TicketNumber | None = None  # ticket number, for call_number and call_back
    service: Key | None = None  # transfer target service id
    window: Annotated[int, Meta(ge=1, le=9999)] | None = None  # transfer target window

    def __post_init__(self) -> None:
        given = frozenset(
            name
            for name in ("staff", "number", "service", "window")
            if getattr(self, name) is not None
        )
        if self.op is PressOp.TRANSFER:
            if len(given) != 1 or not given <= {"service", "window"}:
                raise ValueError("press transfer: give exactly one of `service` or `window`")
            return
        wanted = _PRESS_ARGS.get(self.op, frozenset())
        if given != wanted:
            need = ", ".join(sorted(wanted)) or "no arguments"
            raise ValueError(f"press {self.op.value}: takes {need}, got {sorted(given)}")


class TakeTicket(Message, tag="take_ticket", kw_only=True, frozen=True):
    """A kiosk press: a citizen takes a ticket for ``service``."""

    rid: RequestId
    service: Key
    appt: Key | None = None  # appointment code (预约码) when checking in
    green: bool = False  # 绿色通道 (elderly, disabled, pregnant)


class PrinterStatus(Message, tag="printer_status", kw_only=True, frozen=True):
    """Kiosk printer condition; sent after each birth and whenever it changes."""

    paper: PaperLevel
    jam: bool = False
    cover_open: bool = False


def _check_signed(counter: int | None, key_id: str | None, mac: bytes | None) -> None:
    if len({counter is None, key_id is None, mac is None}) != 1:
        raise ValueError("signature: give all of `counter`, `key_id`, `mac` or none")


class Rating(Message, tag="rating", kw_only=True, frozen=True):
    """A citizen's rating of ``ticket``. ``rating_id`` is made once by the pad and kept on every
    re-send (even after a reboot), so the controller counts it once; ``rid`` is new per send.
    ``age_ms``: how long before this send the press happened, by the pad's own clock, so the
    controller dates the press without trusting the pad's calendar."""

    rid: RequestId
    rating_id: Key
    ticket: TicketId
    level: RatingLevel
    reasons: Annotated[list[Key], Meta(max_length=16)] = []
    age_ms: U63 | None = None
    counter: Counter | None = None  # signature (firmware_protocols.rating_mac): all three
    key_id: Key | None = None  # or none
    mac: Mac | None = None

    def __post_init__(self) -> None:
        if self.reasons and not self.level <= RatingLevel.DISSATISFIED:
            raise ValueError("rating: `reasons` are for 差评 (level 1-2) only")
        _check_signed(self.counter, self.key_id, self.mac)


class RatingTimeout(Message, tag="rating_timeout", kw_only=True, frozen=True):
    """The invite for ``ticket`` closed with no press: the service is 'not evaluated'."""

    rid: RequestId
    ticket: TicketId
    counter: Counter | None = None  # signed like a rating
    key_id: Key | None = None
    mac: Mac | None = None

    def __post_init__(self) -> None:
        _check_signed(self.counter, self.key_id, self.mac)


class RebirthRequest(Message, tag="rebirth_request", kw_only=True, frozen=True):
    """The device lost its state (or doubts it) and asks for the full desired state."""


# Desired state per device family, carried by ``Show``


class State(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """Base of a family's desired state; ``kind`` matches the birth's ``kind``."""


class WindowDisplayState(State, tag="window_display", kw_only=True, frozen=True):
    """LED window strip: lines to show (UTF-8 here; the device converts to GB2312)."""

    mode: DisplayMode
    lines: Annotated[list[Text], Meta(max_length=8)]
    blink: bool = False


class CallerState(State, tag="caller", kw_only=True, frozen=True):
    """Window keypad screen."""

    window: WindowState
    current: TicketNumber | None = None  # the ticket at the window
    waiting: Count = 0  # tickets this window may call
    staff: Name | None = None  # logged-in staff name
    message: Text = ""  # last result, e.g. "无人等候"


class ReasonTag(msgspec.Struct, frozen=True, kw_only=True):
    """A 差评 reason the citizen may pick."""

    id: Key
    text: Name


class EvaluatorState(State, tag="evaluator", kw_only=True, frozen=True):
    """Evaluator pad. In ``invite`` a press of level 1-2 makes the pad show ``reasons`` itself
    and send one ``rating`` with level and picked reasons."""

    mode: EvaluatorMode
    window: Name  # window name shown on the card, e.g. "3号窗口"
    staff_name: Name | None = None
    staff_id: Key | None = None  # 工号
    photo: Url | None = None
    ticket: TicketId | None = None  # the service to rate (invite only)
    seconds: Annotated[int, Meta(ge=0, le=600)] = 0  # invite / thanks duration
    reasons: Annotated[list[ReasonTag], Meta(max_length=16)] = []

    def __post_init__(self) -> None:
        if (self.mode is EvaluatorMode.INVITE) != (self.ticket is not None):
            raise ValueError("evaluator: `ticket` is required in invite mode and only there")


class CallEntry(msgspec.Struct, frozen=True, kw_only=True):
    number: TicketNumber
    window: Name
    recall: bool = False


class ServiceWaiting(msgspec.Struct, frozen=True, kw_only=True):
    service: Key
    name: Name
    waiting: Count


class HallScreenState(State, tag="hall_screen", kw_only=True, frozen=True):
    calls: Annotated[list[CallEntry], Meta(max_length=20)]  # newest first
    waiting: Annotated[list[ServiceWaiting], Meta(max_length=64)] = []
    notice: Text = ""  # scrolling notice


class KioskService(msgspec.Struct, frozen=True, kw_only=True):
    id: Key
    name: Name
    waiting: Count
    enabled: bool = True  # false: shown greyed, take_ticket will be refused


class KioskState(State, tag="kiosk", kw_only=True, frozen=True):
    services: Annotated[list[KioskService], Meta(max_length=64)]
    notice: Text = ""


DeviceState: TypeAlias = (
    WindowDisplayState | CallerState | EvaluatorState | HallScreenState | KioskState
)


# Down: controller -> device. Every one carries ``id`` and is acknowledged with ``ack``.


class Show(Message, tag="show", kw_only=True, frozen=True):
    """The device's whole desired state. Apply it only if ``ver`` is greater than the version
    the device shows now (a device that just powered on shows version 0)."""

    id: CommandId
    ver: CommandId
    state: DeviceState


class PrintTicket(Message, tag="print_ticket", kw_only=True, frozen=True):
    """Kiosk: print a ticket slip. Ack after the paper is cut; ack ``printer`` if it failed."""

    id: CommandId
    number: TicketNumber
    service: Name
    ahead: Count  # people waiting before this ticket
    wait_min: Count | None = None  # estimated minutes
    issued: Name  # local time as it should be printed, e.g. "2026-11-22 09:31"
    qr: Url | None = None


class Reply(Message, tag="reply", kw_only=True, frozen=True):
    """The answer to request ``rid``. ``code`` is a stable reason (e.g. "queue_empty") and
    ``text`` what to show; ``number`` is the ticket taken or called, when there is one."""

    id: CommandId
    rid: RequestId
    ok: bool
    code: Code | None = None
    text: Text = ""
    number: TicketNumber | None = None

    def __post_init__(self) -> None:
        if self.ok == (self.code is not None):
            raise ValueError("reply: `code` is required when ok is false and forbidden otherwise")


class Rebirth(Message, tag="rebirth", kw_only=True, frozen=True):
    """Asks the device to publish its birth (same session) and its status again."""

    id: CommandId


UpMessage: TypeAlias = (
    Birth
    | Will
    | Ack
    | Press
    | TakeTicket
    | PrinterStatus
    | Rating
    | RatingTimeout
    | RebirthRequest
)
DownMessage: TypeAlias = Show | PrintTicket | Reply | Rebirth
StatusMessage: TypeAlias = Birth | Will

UP_TYPES: Final[tuple[type[Message], ...]] = (
    Birth,
    Will,
    Ack,
    Press,
    TakeTicket,
    PrinterStatus,
    Rating,
    RatingTimeout,
    RebirthRequest,
)
DOWN_TYPES: Final[tuple[type[Message], ...]] = (Show, PrintTicket, Reply, Rebirth)


def will_applies(last_birth_session: int | None, will: Will) -> bool:
    """A will means 'offline' only if it belongs to the connection of the last birth seen; a
    will from an earlier connection can arrive (or stay retained) after a newer birth."""
    return last_birth_session is not None and will.session == last_birth_session


# --------------------------------------------------------------------------------------------
# Decoding and encoding


class PayloadErrorReason(enum.Enum):
    NOT_MSGPACK = "not_msgpack"
    TRUNCATED = "truncated"
    WRONG_VERSION = "wrong_version"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_FIELD = "invalid_field"
    OVERSIZED = "oversized"


class PayloadError(ValueError):
    """A payload that is not a valid v1 message for the direction it was read in. ``rid``: the
    request id it carried, when that could be read (so the error reply can name the request)."""

    def __init__(self, reason: PayloadErrorReason, detail: str, rid: int | None = None) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.rid = rid


class _Envelope(msgspec.Struct):
    """The two keys read first, so version and type errors are told apart from field errors."""

    t: Any = None
    v: Any = None


_envelope_decoder: Final = msgspec.msgpack.Decoder(_Envelope)
_up_decoder: Final[msgspec.msgpack.Decoder[UpMessage]] = msgspec.msgpack.Decoder(UpMessage)
_down_decoder: Final[msgspec.msgpack.Decoder[DownMessage]] = msgspec.msgpack.Decoder(DownMessage)
_status_decoder: Final[msgspec.msgpack.Decoder[StatusMessage]] = msgspec.msgpack.Decoder(
    StatusMessage
)
_encoder: Final = msgspec.msgpack.Encoder()


def _tags(types: tuple[type[Message], ...]) -> frozenset[str]:
    return frozenset(str(t.__struct_config__.tag) for t in types)


_UP_TAGS: Final = _tags(UP_TYPES)
_DOWN_TAGS: Final = _tags(DOWN_TYPES)
_STATUS_TAGS: Final = _tags((Birth, Will))


M = TypeVar("M")


def _syntax_error(exc: msgspec.DecodeError | UnicodeDecodeError) -> PayloadError:
    # Invalid UTF-8 in a MessagePack str is malformed MessagePack, not a bad field.
    truncated = "truncated" in str(exc)
    reason = PayloadErrorReason.TRUNCATED if truncated else PayloadErrorReason.NOT_MSGPACK
    return PayloadError(reason, str(exc))


def _decode(
    payload: bytes, decoder: msgspec.msgpack.Decoder[M], tags: frozenset[str], direction: str
) -> M:
    if len(payload) > MAX_PAYLOAD:  # refused unread: no request id either
        raise PayloadError(
            PayloadErrorReason.OVERSIZED, f"{len(payload)} bytes, limit {MAX_PAYLOAD}"
        )
    try:
        return _decode_checked(payload, decoder, tags, direction)
    except RecursionError:
        # Nesting deeper than the decoder's stack allows (a few KB of nested arrays): no v1
        # message nests more than three levels, so it is a bad field, not a crash.
        error = PayloadError(PayloadErrorReason.INVALID_FIELD, "nested too deeply")
    except PayloadError as exc:
        error = exc
    rid = peek_int(payload, "rid")
    if rid is not None and 0 <= rid <= 2**32 - 1:
        error.rid = rid
    raise error


def _decode_checked(
    payload: bytes, decoder: msgspec.msgpack.Decoder[M], tags: frozenset[str], direction: str
) -> M:
    try:
        envelope = _envelope_decoder.decode(payload)
    except msgspec.ValidationError as exc:
        # The type check stops at the first byte; bad MessagePack after it must still count as
        # such, so read the whole payload untyped before calling it a wrong shape.
        try:
            msgspec.msgpack.decode(payload)
        except (msgspec.DecodeError, UnicodeDecodeError) as raw_exc:
            raise _syntax_error(raw_exc) from None
        raise PayloadError(PayloadErrorReason.INVALID_FIELD, f"not a message map: {exc}") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise _syntax_error(exc) from None
    if type(envelope.v) is not int or envelope.v != PROTOCOL_VERSION:
        raise PayloadError(
            PayloadErrorReason.WRONG_VERSION, f"v is {envelope.v!r}, expected {PROTOCOL_VERSION}"
        )
    if not isinstance(envelope.t, str) or envelope.t not in tags:
        raise PayloadError(
            PayloadErrorReason.UNKNOWN_TYPE,
            f"t={envelope.t!r} is not one of the {direction} messages",
        )
    try:
        return decoder.decode(payload)
    except msgspec.ValidationError as exc:
        raise PayloadError(PayloadErrorReason.INVALID_FIELD, f"{envelope.t}: {exc}") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # in a value the envelope skipped
        raise _syntax_error(exc) from None


def decode_up(payload: bytes) -> UpMessage:
    """Decode a payload read on a device's up topic."""
    return _decode(payload, _up_decoder, _UP_TAGS, "up")


def decode_down(payload: bytes) -> DownMessage:
    """Decode a payload read on a device's down topic."""
    return _decode(payload, _down_decoder, _DOWN_TAGS, "down")


def decode_status(payload: bytes) -> StatusMessage:
    """Decode a retained availability payload (a device's or the controller's status topic)."""
    return _decode(payload, _status_decoder, _STATUS_TAGS, "status")


def encode(msg: UpMessage | DownMessage, *, check: bool = True) -> bytes:
    """MessagePack bytes of ``msg``. With ``check`` (the default) the bytes are decoded again,
    so a value breaking a field constraint raises ``EncodeError`` here, not on the device."""
    data = _encoder.encode(msg)
    if len(data) > MAX_PAYLOAD:
        raise EncodeError(f"{msg.__struct_config__.tag}: {len(data)} bytes, limit {MAX_PAYLOAD}")
    if check:
        decoder = _down_decoder if isinstance(msg, DOWN_TYPES) else _up_decoder
        try:
            decoder.decode(data)
        except msgspec.ValidationError as exc:
            raise EncodeError(f"{msg.__struct_config__.tag}: {exc}") from None
    return data
