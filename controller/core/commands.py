"""Commands: what someone asks a hall to do. Typed, frozen, decodable from JSON or MessagePack.

A command is a wish; it may be refused (``controller.core.lifecycle.Rejected``). Only the events the
engine emits for an accepted command are facts. Commands carry no time: the engine is given the
time beside the command, so replaying or testing never reads a clock.
"""

from __future__ import annotations

import enum

import msgspec


class RatingLevel(enum.Enum):
    """The five 好差评 levels. String values on purpose: numeric codes differ by province
    (1 = 非常满意 nationally, 1 = 非常不满意 in many provincial interfaces); adapters map."""

    VERY_SATISFIED = "very_satisfied"  # 非常满意
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意
    VERY_DISSATISFIED = "very_dissatisfied"  # 非常不满意

    @property
    def label(self) -> str:
        return _LEVEL_LABELS[self]

    @property
    def is_bad(self) -> bool:
        """差评: 不满意 and 非常不满意."""
        return self in (RatingLevel.DISSATISFIED, RatingLevel.VERY_DISSATISFIED)


_LEVEL_LABELS = {
    RatingLevel.VERY_SATISFIED: "非常满意",
    RatingLevel.SATISFIED: "满意",
    RatingLevel.BASICALLY_SATISFIED: "基本满意",
    RatingLevel.DISSATISFIED: "不满意",
    RatingLevel.VERY_DISSATISFIED: "非常不满意",
}


class RatingChannel(enum.Enum):
    """Where a rating came from (national data element 评价渠道)."""

    WINDOW_PAD = "window_pad"
    HALL_TERMINAL = "hall_terminal"
    QR_CODE = "qr_code"
    PC = "pc"
    MOBILE = "mobile"
    PHONE = "phone"
    SMS = "sms"


class Evidence(enum.Enum):
    """How a rating's origin is proven; recorded with it and carried into the 好差评 record."""

    SIGNED = "signed"  # the pad's HMAC-SHA256 over the rating, checked before recording
    UNSIGNED = "unsigned"  # a pad without a key, let in by [evaluation] allow_unsigned_pads
    LEGACY_SERIAL = "legacy_serial"  # an RS-485 pad: the bus has no cryptography
    QR_TOKEN = "qr_token"  # 追评 through the ticket's signed QR token
    STAFF = "staff"  # entered through the authenticated API or console


class PadSignature(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The signed evidence of a pad's message: whose key, which counter, the MAC (hex).
    The counter must grow per (device, key_id): the state folds its high-water mark."""

    device: str
    key_id: str
    counter: int
    mac: str


class RaterKind(enum.Enum):
    """Who rated (national data element): a person or a legal person (法人)."""

    INDIVIDUAL = "individual"
    LEGAL_PERSON = "legal_person"


class VerificationOutcome(enum.Enum):
    """What checking a 差评 found (核实)."""

    UPHELD = "upheld"  # founded: rectify
    EXPLAINED = "explained"  # explained to the citizen, nothing to rectify
    MISTAKEN = "mistaken"  # appeal: pressed by mistake (误评), for review
    MALICIOUS = "malicious"  # appeal: malicious (恶意差评), for review

    @property
    def is_appeal(self) -> bool:
        return self in (VerificationOutcome.MISTAKEN, VerificationOutcome.MALICIOUS)


class ContactPurpose(enum.Enum):
    """Why a case's sealed contact was opened (回访)."""

    VIEW = "view"  # shown to the 回访 clerk, who dials
    CALL = "call"  # handed to the telephony platform for a masked call; the clerk never sees it


class Command(msgspec.Struct, frozen=True, tag_field="type", kw_only=True, gc=False):
    """Base of every command; ``type`` names it on the wire."""


class IssueTicket(Command, frozen=True, tag="issue_ticket"):
    """取号: a citizen takes a ticket (kiosk press, appointment check-in, or the console)."""

    service: str
    green_channel: bool = False
    appointment_id: str | None = None
    slot_start_ms: int | None = None
    slot_end_ms: int | None = None


class RegisterAppointment(Command, frozen=True, tag="register_appointment"):
    """预约: the online booking system tells the hall of a booking; the citizen checks in at
    a kiosk with its code (``IssueTicket(appointment_id=code)``, no slot needed then)."""

    appointment_id: str
    service: str
    slot_start_ms: int
    slot_end_ms: int


class BookingChannel(enum.Enum):
    """Where a booking was made: the citizens' page, or the city's 政务服务网 / app (API)."""

    PAGE = "page"
    API = "api"


class BookAppointment(Command, frozen=True, tag="book_appointment"):
    """线上预约: take one place of an offered slot (refused ``slot_full`` when none is left).

    The HTTP edge draws the random ``code`` and seals the citizen's name and phone (AES-GCM);
    ``phone_key`` is the phone's keyed hash, for the per-phone limit and the 爽约 rule. The
    engine never sees a clear name or number."""

    code: str
    service: str
    slot_start_ms: int
    phone_key: str
    name_sealed: str = ""
    phone_sealed: str = ""
    channel: BookingChannel = BookingChannel.API


class CancelAppointment(Command, frozen=True, tag="cancel_appointment"):
    """Give the place back. ``phone_key`` set (the public page): it must be the booking's."""

    code: str
    phone_key: str | None = None


class RescheduleAppointment(Command, frozen=True, tag="reschedule_appointment"):
    """Move a booking to another slot of its service, atomically (the old place is freed
    only if the new one is taken)."""

    code: str
    slot_start_ms: int
    phone_key: str | None = None


class Login(Command, frozen=True, tag="login"):
    window: int
    staff: str


class Logout(Command, frozen=True, tag="logout"):
    window: int


class CallNext(Command, frozen=True, tag="call_next"):
    window: int


class Recall(Command, frozen=True, tag="recall"):
    window: int


class CallNumber(Command, frozen=True, tag="call_number"):
    """指呼 / 特呼: call a given ticket number, out of policy order."""

    window: int
    number: str


class Start(Command, frozen=True, tag="start"):
    window: int


class Finish(Command, frozen=True, tag="finish"):
    window: int


class NoShow(Command, frozen=True, tag="no_show"):
    window: int


class Suspend(Command, frozen=True, tag="suspend"):
    window: int


class CallBack(Command, frozen=True, tag="call_back"):
    """回呼: resume a ticket this window suspended."""

    window: int
    number: str


class Transfer(Command, frozen=True, tag="transfer"):
    """转移 from a window: the ticket at the window goes to another service or window."""

    window: int
    to_service: str | None = None
    to_window: int | None = None


class TransferTicket(Command, frozen=True, tag="transfer_ticket"):
    """The console moves a waiting ticket to another service or window."""

    ticket: int
    to_service: str | None = None
    to_window: int | None = None


class CancelTicket(Command, frozen=True, tag="cancel_ticket"):
    ticket: int
    reason: str = ""


class Pause(Command, frozen=True, tag="pause"):
    """Pause a window. A busy window (calling or serving) refuses unless ``after_current``:
    then the pause is noted and takes effect when its current ticket leaves the window."""

    window: int
    after_current: bool = False
    reason: str = ""  # 午休, 临时离开, ...: shown on the console and kept in the log


class Resume(Command, frozen=True, tag="resume"):
    window: int


class ServiceWeight(msgspec.Struct, frozen=True):
    service: str
    weight: int = 1


class SetWindowServices(Command, frozen=True, tag="set_window_services"):
    """Change which services a window serves (and their weights) for the rest of the day."""

    window: int
    services: tuple[ServiceWeight, ...]


class Rate(Command, frozen=True, tag="rate"):
    """One rating of one finished service (一次一评). ``rating_id`` dedupes re-sends.

    ``rater_sealed``: the rater's identity, already encrypted (``controller.haochaping.privacy``);
    the engine and the log never see it in clear."""

    ticket: int
    level: RatingLevel
    channel: RatingChannel = RatingChannel.WINDOW_PAD
    reasons: tuple[str, ...] = ()
    text: str = ""
    rating_id: str = ""
    rater_sealed: str = ""
    rater_kind: RaterKind | None = None
    evidence: Evidence | None = None
    signature: PadSignature | None = None  # with evidence SIGNED


class FollowUpRate(Command, frozen=True, tag="follow_up_rate"):
    """追评: the one follow-up rating of a finished service, through the ticket's QR code.

    The public endpoint checks the ticket's signed token before submitting this; the engine
    checks the rest (served, once, in time)."""

    ticket: int
    level: RatingLevel
    channel: RatingChannel = RatingChannel.QR_CODE
    reasons: tuple[str, ...] = ()
    text: str = ""
    rater_sealed: str = ""
    rater_kind: RaterKind | None = None


class SetCaseNumber(Command, frozen=True, tag="set_case_number"):
    """The business system names the 办件编号 of a ticket's matter (up to 50 characters)."""

    ticket: int
    case_number: str


class ContactCase(Command, frozen=True, tag="contact_case"):
    """回访 done: ``reached`` False when the citizen could not be reached (anonymous, no
    answer); the step is still recorded."""

    case: int
    by: str
    reached: bool = True
    note: str = ""


class VerifyCase(Command, frozen=True, tag="verify_case"):
    case: int
    by: str
    outcome: VerificationOutcome
    note: str = ""


class ReviewCase(Command, frozen=True, tag="review_case"):
    """申诉复核: ``granted`` strikes the rating (mistaken or malicious); else rectify."""

    case: int
    by: str
    granted: bool
    note: str = ""


class RectifyCase(Command, frozen=True, tag="rectify_case"):
    case: int
    by: str
    note: str


class CloseCase(Command, frozen=True, tag="close_case"):
    """Closing feedback to the citizen (反馈)."""

    case: int
    by: str
    note: str


class UnsealContact(Command, frozen=True, tag="unseal_contact"):
    """回访: open the rater's sealed contact of an open case, recorded before it is shown.

    Only the 好差评 route sends this (it alone holds the key and shows the contact, to an
    account with the followup duty); the event is the audit (who, when, which case, why)."""

    case: int
    by: str
    purpose: ContactPurpose = ContactPurpose.VIEW


class RecordHandOver(Command, frozen=True, tag="record_hand_over"):
    """A destination (the 12345 hotline) acknowledged a 差评 case with its own reference (工单号).

    Sent by the outbox, never by staff; the same reference twice records nothing.
    """

    case: int
    to: str  # the reporting destination's name
    reference: str


class MissEvaluation(Command, frozen=True, tag="miss_evaluation"):
    """The pad's rating window closed with no press: record 'not evaluated'."""

    ticket: int
    signature: PadSignature | None = None  # a signed rating_timeout


class Tick(Command, frozen=True, tag="tick"):
    """Let time-driven rules run (evaluation windows closing, 差评 deadlines passing).
    Usually emits nothing."""


class CloseDay(Command, frozen=True, tag="close_day"):
    """Daily close: leftovers expire or carry over as configured; bookings whose slot passed
    are void; finished tickets leave the live state (the log keeps them).

    Accepted once per business day: when a closing instant passed since the last close. With
    ``early`` an administrator closes today before its closing time (a hall closing early);
    the scheduled close of that day then does not run again. Refused otherwise
    (``day_already_closed``)."""

    early: bool = False


AnyCommand = (
    IssueTicket
    | RegisterAppointment
    | BookAppointment
    | CancelAppointment
    | RescheduleAppointment
    | Login
    | Logout
    | CallNext
    | Recall
    | CallNumber
    | Start
    | Finish
    | NoShow
    | Suspend
    | CallBack
    | Transfer
    | TransferTicket
    | CancelTicket
    | Pause
    | Resume
    | SetWindowServices
    | Rate
    | FollowUpRate
    | SetCaseNumber
    | ContactCase
    | VerifyCase
    | ReviewCase
    | RectifyCase
    | CloseCase
    | UnsealContact
    | RecordHandOver
    | MissEvaluation
    | Tick
    | CloseDay
)
