"""The validated hall configuration: plain frozen values, no I/O.

``controller.config.loader`` builds these from TOML and reports every mistake at once; the
engine, drivers and simulator only ever see values that passed validation.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, time


class DeviceKind(enum.Enum):
    KIOSK = "kiosk"
    CALLER = "caller"
    WINDOW_DISPLAY = "window_display"
    EVALUATOR = "evaluator"
    HALL_SCREEN = "hall_screen"


class LinkKind(enum.Enum):
    MQTT = "mqtt"
    SERIAL = "serial"


class LeftoverPolicy(enum.Enum):
    """What daily close does with tickets still open."""

    EXPIRE = "expire"
    CARRY_OVER = "carry_over"


class PriorityClass(enum.Enum):
    """Classes that may be called ahead of arrival order (see docs/calling-policy.md)."""

    GREEN_CHANNEL = "green_channel"
    APPOINTMENT = "appointment"
    TRANSFER = "transfer"


@dataclass(frozen=True, slots=True)
class Service:
    """业务: what a citizen takes a ticket for."""

    id: str
    name: str
    prefix: str
    number_min: int = 1
    number_max: int = 999
    number_width: int = 3
    daily_reset: time = time(0, 0)
    green_channel: bool = True
    expected_minutes: float = 10.0
    item_code: str = ""  # 事项编码 (national catalogue code of the matter), reported upward


@dataclass(frozen=True, slots=True)
class WindowService:
    """One service a window serves, with its weight (higher is called first)."""

    service_id: str
    weight: int = 1


@dataclass(frozen=True, slots=True)
class Window:
    """窗口: a counter where a clerk serves; 综合窗口 serve many services."""

    number: int
    name: str
    services: tuple[WindowService, ...]
    department: str = ""


@dataclass(frozen=True, slots=True)
class Department:
    """A department (部门) whose windows sit in the hall; its 差评 cases are its own to handle.

    ``code`` is the 18-character unified social credit code (统一社会信用代码)."""

    id: str
    name: str
    code: str


@dataclass(frozen=True, slots=True)
class Staff:
    """A clerk, identified by 工号; the evaluator pad shows name and photo (亮牌)."""

    id: str
    name: str
    photo: str = ""
    title: str = ""


@dataclass(frozen=True, slots=True)
class SerialLink:
    bus: str
    address: int
    protocol: str


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    kind: DeviceKind
    link: LinkKind
    window: int | None = None
    serial: SerialLink | None = None


@dataclass(frozen=True, slots=True)
class SerialBus:
    """An RS-485 segment with one master (us)."""

    id: str
    port: str
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1
    turnaround_ms: float = 10.0


@dataclass(frozen=True, slots=True)
class CallingPolicy:
    """How 'call next' picks a ticket; data, not code (docs/calling-policy.md)."""

    priority_order: tuple[PriorityClass, ...] = (
        PriorityClass.TRANSFER,
        PriorityClass.GREEN_CHANNEL,
        PriorityClass.APPOINTMENT,
    )
    fairness_bound_minutes: float | None = 30.0
    appointment_early_minutes: float = 10.0
    appointment_late_minutes: float = 15.0
    max_recalls: int = 5
    implicit_start: bool = True


@dataclass(frozen=True, slots=True)
class ReasonTag:
    """A 差评 reason a citizen may pick; ``code`` is what the provincial platform calls it."""

    id: str
    text: str
    code: str = ""


DEFAULT_REASON_TAGS: tuple[ReasonTag, ...] = (
    ReasonTag(id="wait", text="等候时间长", code="01"),
    ReasonTag(id="attitude", text="服务态度差", code="02"),
    ReasonTag(id="efficiency", text="办事效率低", code="03"),
    ReasonTag(id="guidance", text="一次告知不清", code="04"),
    ReasonTag(id="other", text="其他", code="99"),
)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """好差评: pad behaviour (一次一评), follow-up ratings, 差评 deadlines and escalation."""

    window_seconds: float = 30.0
    late_delivery_seconds: float = 300.0
    reasons: tuple[ReasonTag, ...] = DEFAULT_REASON_TAGS
    follow_up_days: int = 7  # a 追评 through the ticket's QR code is accepted this long
    follow_up_url: str = ""  # base of the QR code's link; empty: no QR code on tickets
    contact_working_days: int = 1  # 回访 due
    rectify_working_days: int = 15  # 整改 due
    escalation_webhook: str = ""  # POSTed a JSON notice for every overdue step; empty: none
    call_webhook: str = ""  # 回访 masked call-through: POSTed case id and phone; empty: none
    secrets_file: str = ""  # HMAC and encryption keys; empty: "<db file>.secrets", generated
    # Pads without a signing key may rate (recorded as evidence "unsigned"): for a migration
    # only; otherwise their ratings are refused with ``unsigned_rating``.
    allow_unsigned_pads: bool = False
    holidays: tuple[date, ...] = ()  # for years chinese-calendar does not cover yet
    adjusted_workdays: tuple[date, ...] = ()  # 调休 working weekends, likewise
    calendar_years: tuple[int, ...] = ()  # years whose official notice is typed in above
    disclose_staff: bool = (
        False  # 评价信息公开 per staff member too (off: hall, department, window)
    )


@dataclass(frozen=True, slots=True)
class Reporting:
    """One destination of real-time reporting (a provincial 好差评 platform, the 12345 hotline).

    ``credentials`` names an entry of the secrets file (never the configuration text, which
    the log records); ``id`` names the destination's cursor (default: the adapter's name).
    """

    adapter: str = ""
    url: str = ""
    id: str = ""
    credentials: str = ""
    batch_size: int = 200  # records per request, for adapters whose platform takes batches
    timeout_seconds: float = 10.0
    max_backoff_seconds: float = 300.0

    @property
    def name(self) -> str:
        return self.id or self.adapter


class LateArrival(enum.Enum):
    """What a kiosk does with a booking code checked in after the slot's tolerance."""

    ORDINARY = "ordinary"  # an ordinary ticket (no priority); the booking counts as used
    REFUSE = "refuse"  # refused: take an ordinary ticket or book again


@dataclass(frozen=True, slots=True)
class SlotRules:
    """How one service's days are cut into bookable slots (线上预约)."""

    slot_minutes: int = 30
    capacity: int = 5  # bookings per slot
    days_ahead: int = 7  # today plus this many days are bookable
    cutoff_minutes: int = 30  # booking closes this long before the slot starts
    # Windows of the day cut into slots (上午, 下午): (start, end), end exclusive.
    windows: tuple[tuple[time, time], ...] = (
        (time(9, 0), time(12, 0)),
        (time(13, 30), time(17, 0)),
    )


@dataclass(frozen=True, slots=True)
class ServiceBooking:
    """``[[appointments.services]]``: a service's own rules, or ``enabled = false``."""

    service: str
    enabled: bool = True
    rules: SlotRules = field(default_factory=SlotRules)


@dataclass(frozen=True, slots=True)
class Appointments:
    """线上预约: slots, limits and the 爽约 rule (docs/appointments.md).

    Off unless the hall's TOML has an ``[appointments]`` table."""

    enabled: bool = False
    rules: SlotRules = field(default_factory=SlotRules)  # every service, unless overridden
    services: tuple[ServiceBooking, ...] = ()
    holidays_closed: bool = True  # closed on non-working days of the official calendar (调休)
    no_show_limit: int = 3  # this many 爽约 ...
    no_show_days: int = 30  # ... within this many days ...
    block_days: int = 30  # ... block online booking for this long
    per_phone_per_day: int = 1  # active bookings per phone, service and day
    public_per_ip_per_minute: int = 10  # bookings and changes from one address on the page
    late_arrival: LateArrival = LateArrival.ORDINARY

    def rules_for(self, service_id: str) -> SlotRules | None:
        """The service's slot rules; None when it cannot be booked online."""
        if not self.enabled:
            return None
        for override in self.services:
            if override.service == service_id:
                return override.rules if override.enabled else None
        return self.rules


@dataclass(frozen=True, slots=True)
class HallSettings:
    id: str
    name: str
    timezone: str = "Asia/Shanghai"
    region_code: str = ""
    closing_time: time = time(17, 30)
    leftover: LeftoverPolicy = LeftoverPolicy.EXPIRE
    notice: str = "欢迎光临 热情服务"


@dataclass(frozen=True, slots=True)
class StoreSettings:
    kind: str = "sqlite"
    path: str = "hallctl.db"
    dsn: str = ""
    snapshot_every_events: int = 200_000


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """The hall broker and how the controller logs in (docs/security.md).

    The password is never in the configuration (its text is recorded in the event log): it is
    read from ``credentials_file`` (default ``<db>.mqtt-credentials``, written by ``hallctl
    broker-config``). ``password`` is only ever set by code (the demo, tests), never from TOML.
    """

    host: str = "127.0.0.1"
    port: int = 1883
    username: str = ""  # default "c/{hall}", the controller's client id
    login: bool = True  # log in with the credentials file; false: an open test broker only
    credentials_file: str = ""
    tls: bool = False
    ca_file: str = ""  # the CA that signed the broker's certificate; empty: the system's CAs
    cert_file: str = ""  # a client certificate, when the broker asks for one
    key_file: str = ""
    password: str = ""


@dataclass(frozen=True, slots=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    # How devices and phones reach this controller, e.g. "http://192.168.10.2:8080": pads get
    # the staff photo (亮牌) at {public_url}/public/{hall}/staff/{id}/photo. Empty: no photo.
    public_url: str = ""


@dataclass(frozen=True, slots=True)
class HallConfig:
    """Everything one hall needs; ``source`` is the file it came from (for messages)."""

    hall: HallSettings
    services: tuple[Service, ...]
    windows: tuple[Window, ...]
    staff: tuple[Staff, ...] = ()
    departments: tuple[Department, ...] = ()
    devices: tuple[Device, ...] = ()
    buses: tuple[SerialBus, ...] = ()
    policy: CallingPolicy = field(default_factory=CallingPolicy)
    evaluation: Evaluation = field(default_factory=Evaluation)
    store: StoreSettings = field(default_factory=StoreSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    reporting: tuple[Reporting, ...] = ()  # [[reporting]] destinations (or one [reporting])
    appointments: Appointments = field(default_factory=Appointments)
    source: str = "<memory>"

    def service(self, service_id: str) -> Service | None:
        for s in self.services:
            if s.id == service_id:
                return s
        return None

    def window(self, number: int) -> Window | None:
        for w in self.windows:
            if w.number == number:
                return w
        return None

    def department_of(self, window: int) -> Department | None:
        """The department a window's ``department`` names (by id or by name)."""
        found = self.window(window)
        if found is None or not found.department:
            return None
        for d in self.departments:
            if found.department in (d.id, d.name):
                return d
        return None
