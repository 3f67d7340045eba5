"""Alerts for the live hall: what needs a person now. A pure function of what the hub and
the hall know; the console recomputes it on every update."""

from __future__ import annotations

import enum
from collections.abc import Iterable

import msgspec

from controller.core.queries import HallView
from controller.core.workdays import CalendarCoverage


class AlertKind(enum.Enum):
    DEVICE_OFFLINE = "device_offline"  # 设备离线
    PRINTER = "printer"  # 打印机缺纸 / 卡纸
    LONG_WAIT = "long_wait"  # 等候超时
    CASE_OVERDUE = "case_overdue"  # 差评处理超期
    CALENDAR = "calendar"  # 官方节假日数据即将用完
    STORE_UNWRITABLE = "store_unwritable"  # 事件日志无法写入 (disk full, I/O error, read-only)
    MQTT_LOGIN_REFUSED = "mqtt_login_refused"  # 消息服务器拒绝控制器登录


class Alert(msgspec.Struct, frozen=True):
    kind: AlertKind
    subject: str
    text: str  # Chinese, for the console
    since_ms: int = 0


class DeviceFacts(msgspec.Struct, frozen=True):
    """The part of a device's status alerts look at (``devices.availability.DeviceStatus``)."""

    device: str
    kind: str
    window: int | None
    online: bool
    since_ms: int
    printer: str = ""


class OverdueCase(msgspec.Struct, frozen=True):
    """A 差评 case step past its deadline (from the 好差评 module when present)."""

    case: str
    step: str  # 回访 or 整改
    deadline_ms: int


def hall_alerts(
    view: HallView,
    devices: Iterable[DeviceFacts],
    *,
    now_ms: int,
    wait_alert_minutes: float,
    overdue: Iterable[OverdueCase] = (),
    calendar: CalendarCoverage | None = None,
    store_problem: Alert | None = None,
    link_problem: Alert | None = None,
) -> list[Alert]:
    """``store_problem``: the log cannot be written; it comes first, it stops the whole hall.
    ``link_problem``: the broker refuses the controller's login; no device hears the hall."""
    alerts: list[Alert] = [a for a in (store_problem, link_problem) if a is not None]
    for device in devices:
        where = f"{device.window}号窗口 " if device.window is not None else ""
        if not device.online:
            alerts.append(
                Alert(
                    AlertKind.DEVICE_OFFLINE,
                    device.device,
                    f"{where}{device.device} 离线",
                    device.since_ms,
                )
            )
        flags = set(device.printer.split(",")) if device.printer else set()
        if "out" in flags or "jam" in flags:
            what = "缺纸" if "out" in flags else "卡纸"
            alerts.append(Alert(AlertKind.PRINTER, device.device, f"{device.device} 打印机{what}"))
    threshold_ms = int(wait_alert_minutes * 60_000)
    for service in view.services:
        if service.waiting and service.longest_wait_ms > threshold_ms:
            minutes = service.longest_wait_ms // 60_000
            # written as the console writes durations (1小时5分, 35分)
            waited = f"{minutes // 60}小时{minutes % 60}分" if minutes >= 60 else f"{minutes}分"
            alerts.append(
                Alert(
                    AlertKind.LONG_WAIT,
                    service.id,
                    f"{service.name} 最长等候 {waited}，建议增开窗口",
                    now_ms - service.longest_wait_ms,
                )
            )
    for case in overdue:
        alerts.append(
            Alert(
                AlertKind.CASE_OVERDUE,
                case.case,
                f"差评 {case.case} {case.step}已超期",
                case.deadline_ms,
            )
        )
    if calendar is not None:
        calendar_alert = _calendar_alert(calendar)
        if calendar_alert is not None:
            alerts.append(calendar_alert)
    return alerts


def _calendar_alert(calendar: CalendarCoverage) -> Alert | None:
    """60 days before the official holiday data runs out: type in next year's notice."""
    if not calendar.runs_out_soon:
        return None
    until, left = calendar.until, calendar.days_left
    when = f"剩 {left} 天" if left >= 0 else f"已过 {-left} 天，差评期限按周一至周五估算"
    return Alert(
        AlertKind.CALENDAR,
        str(until.year + 1),
        f"官方节假日数据至 {until.isoformat()} 止（{when}）：请在配置 [evaluation] 中录入"
        f" {until.year + 1} 年国务院放假通知（holidays、adjusted_workdays、calendar_years）",
    )
