"""Which appointment slots a hall offers: pure arithmetic on the configuration and the calendar.

A slot is (service, start ms, end ms). A service's day is open when the service can be booked
online, the day lies within ``days_ahead`` of today, and (``holidays_closed``) it is a working
day of the official calendar, 调休 included. Its slots cut the day's windows (上午, 下午) into
``slot_minutes`` pieces. Booking a slot closes ``cutoff_minutes`` before it starts. Opening
hours (a later issue) will narrow the open days and windows here, in one place.

The engine asks ``check`` before recording a booking, so an offered slot is the only one that
can ever be booked; the HTTP edge asks ``day_slots`` to draw the choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from controller.config.model import Appointments, SlotRules
from controller.core.lifecycle import Rejected, RejectReason
from controller.core.workdays import WorkCalendar

MINUTE_MS = 60_000
R = RejectReason


@dataclass(frozen=True, slots=True)
class Slot:
    start_ms: int
    end_ms: int
    day: str  # the hall's local date, ISO


class SlotPlan:
    """The slots of every bookable service, seen from ``now``."""

    def __init__(self, settings: Appointments, calendar: WorkCalendar, tz: ZoneInfo) -> None:
        self.settings = settings
        self._calendar = calendar
        self.tz = tz

    def rules(self, service: str) -> SlotRules:
        rules = self.settings.rules_for(service)
        if rules is None:
            raise Rejected(R.BOOKING_CLOSED, "该事项暂不提供线上预约")
        return rules

    def today(self, now_ms: int) -> date:
        return datetime.fromtimestamp(now_ms / 1000, self.tz).date()

    def open_days(self, service: str, now_ms: int) -> list[date]:
        """The days a citizen may choose for ``service`` (closed days left out)."""
        rules = self.rules(service)
        today = self.today(now_ms)
        days = (today + timedelta(days=n) for n in range(rules.days_ahead + 1))
        return [d for d in days if self._is_open(d)]

    def _is_open(self, day: date) -> bool:
        return not self.settings.holidays_closed or self._calendar.is_workday(day)

    def day_slots(self, service: str, day: date) -> list[Slot]:
        """Every slot of ``service`` on ``day`` (empty on a closed day), bookable or not."""
        rules = self.rules(service)
        if not self._is_open(day):
            return []
        length = timedelta(minutes=rules.slot_minutes)
        out: list[Slot] = []
        for first, last in rules.windows:
            start = datetime.combine(day, first, self.tz)
            end = datetime.combine(day, last, self.tz)
            while start + length <= end:
                out.append(Slot(_ms(start), _ms(start + length), day.isoformat()))
                start += length
        return out

    def bookable(self, service: str, slot: Slot, now_ms: int) -> bool:
        """Not past its cut-off (the day's horizon is checked by ``check``)."""
        return now_ms <= slot.start_ms - self.rules(service).cutoff_minutes * MINUTE_MS

    def check(self, service: str, start_ms: int, now_ms: int) -> Slot:
        """The offered slot starting at ``start_ms``; raises ``Rejected`` (Chinese detail)."""
        rules = self.rules(service)
        day = datetime.fromtimestamp(start_ms / 1000, self.tz).date()
        today = self.today(now_ms)
        if day < today or day > today + timedelta(days=rules.days_ahead):
            raise Rejected(R.SLOT_NOT_OFFERED, f"只能预约今天起 {rules.days_ahead} 天内的时段")
        if not self._is_open(day):
            raise Rejected(R.SLOT_NOT_OFFERED, f"{day.isoformat()} 不办公，请选择工作日")
        for slot in self.day_slots(service, day):
            if slot.start_ms == start_ms:
                if not self.bookable(service, slot, now_ms):
                    raise Rejected(
                        R.BOOKING_CUTOFF,
                        f"该时段已截止预约（开始前 {rules.cutoff_minutes} 分钟截止）",
                    )
                return slot
        raise Rejected(R.SLOT_NOT_OFFERED, "没有这个预约时段，请从列表中选择")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def clock_text(ms: int, tz: ZoneInfo) -> str:
    """'10:30' in the hall's time zone (for the kiosk's Chinese answers)."""
    return datetime.fromtimestamp(ms / 1000, tz).strftime("%H:%M")


def date_text(ms: int, tz: ZoneInfo) -> str:
    local = datetime.fromtimestamp(ms / 1000, tz)
    return f"{local.month}月{local.day}日"
