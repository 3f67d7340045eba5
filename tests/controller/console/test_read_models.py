"""The console's pure read models: alerts, day figures and the SVG charts."""

from __future__ import annotations

from xml.etree import ElementTree

from controller.console.alerts import AlertKind, DeviceFacts, OverdueCase, hall_alerts
from controller.console.stats import day_figures, figures_rows
from controller.console.svg import bar_chart
from controller.core import events as ev
from controller.core.commands import RatingChannel, RatingLevel
from controller.core.queries import hall_view
from controller.core.state import HallState
from tests.controller.halls import MINUTE, MONDAY_9AM, small_hall


def served_state() -> HallState:
    """Two A tickets at window 1 (09:00 and 10:00): one rated 满意, one 不满意; one B waiting."""
    state = HallState(small_hall())
    day = "2026-11-23"
    t = MONDAY_9AM
    state.apply(ev.StaffLoggedIn(at=t, window=1, staff="1001"))
    for ticket, (at, level) in enumerate(
        [(t, RatingLevel.SATISFIED), (t + 60 * MINUTE, RatingLevel.DISSATISFIED)], start=1
    ):
        number = f"A00{ticket}"
        state.apply(
            ev.TicketIssued(at=at, ticket=ticket, number=number, seq=ticket, service="A", day=day)
        )
        state.apply(ev.TicketCalled(at=at + 4 * MINUTE, ticket=ticket, number=number, window=1))
        state.apply(ev.ServiceStarted(at=at + 5 * MINUTE, ticket=ticket, window=1))
        state.apply(
            ev.ServiceFinished(
                at=at + 9 * MINUTE, ticket=ticket, window=1, staff="1001", service_ms=4 * MINUTE
            )
        )
        state.apply(
            ev.ServiceRated(
                at=at + 10 * MINUTE,
                ticket=ticket,
                window=1,
                staff="1001",
                service="A",
                level=level,
                channel=RatingChannel.WINDOW_PAD,
            )
        )
    state.apply(
        ev.TicketIssued(at=t + 70 * MINUTE, ticket=3, number="B001", seq=1, service="B", day=day)
    )
    return state


def test_figures_by_hour_window_staff_and_service() -> None:
    figures = day_figures(served_state())
    assert figures.day == "2026-11-23" and figures.days == ["2026-11-23"]
    by_hour = {h.hour: h for h in figures.hours}
    assert (by_hour[9].arrivals, by_hour[9].mean_wait_minutes) == (1, 4.0)
    assert (by_hour[10].arrivals, by_hour[10].mean_wait_minutes) == (2, 4.0)  # B not called
    [window] = figures.by_window
    assert (window.finished, window.rated, window.bad, window.satisfaction) == (2, 2, 1, 0.5)
    assert figures.by_staff[0].label == "王芳(1001)"
    assert [g.key for g in figures.by_service] == ["A", "B"]
    assert figures.overall.coverage == 1.0
    rows = figures_rows(figures)
    assert rows[0][0] == "类别" and all(len(r) == len(rows[0]) for r in rows)


def test_an_unknown_day_has_no_figures() -> None:
    figures = day_figures(served_state(), "2020-01-01")
    assert figures.overall.finished == 0 and figures.overall.satisfaction is None
    assert all(h.arrivals == 0 for h in figures.hours)


def test_alerts_for_devices_printers_waits_and_cases() -> None:
    state = served_state()
    now = MONDAY_9AM + 120 * MINUTE
    view = hall_view(state, now)
    devices = [
        DeviceFacts("strip-1", "window_display", 1, online=False, since_ms=now - MINUTE),
        DeviceFacts("kiosk-1", "kiosk", None, online=True, since_ms=0, printer="out"),
        DeviceFacts("kiosk-2", "kiosk", None, online=True, since_ms=0, printer="low"),
    ]
    alerts = hall_alerts(
        view,
        devices,
        now_ms=now,
        wait_alert_minutes=30,
        overdue=[OverdueCase("#1", "回访", now - MINUTE)],
    )
    assert [(a.kind, a.subject) for a in alerts] == [
        (AlertKind.DEVICE_OFFLINE, "strip-1"),
        (AlertKind.PRINTER, "kiosk-1"),
        (AlertKind.LONG_WAIT, "B"),
        (AlertKind.CASE_OVERDUE, "#1"),
    ]
    assert "1号窗口" in alerts[0].text and "缺纸" in alerts[1].text
    quiet = hall_alerts(view, [], now_ms=now, wait_alert_minutes=60)
    assert quiet == []


def test_charts_are_wellformed_svg_with_escaped_labels() -> None:
    svg = bar_chart("满意率 <test>", ["窗口&1", "2"], [0.5, None], percent=True)
    root = ElementTree.fromstring(svg)
    assert root.tag.endswith("svg")
    texts = [el.text for el in root.iter() if el.tag.endswith("text")]
    assert "窗口&1" in texts and "满意率 <test>" in texts and "50%" in texts and "-" in texts
    assert len([el for el in root.iter() if el.tag.endswith("rect")]) == 1
    empty = ElementTree.fromstring(bar_chart("空", [], []))
    assert empty.tag.endswith("svg")
