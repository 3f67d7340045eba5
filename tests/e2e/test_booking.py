"""Bookings end to end: a citizen books on the public page in a real headless Chromium at a
phone's size (390×844), gets a code and sees its QR code; a booking code checked in at a
simulated kiosk (real broker, real daemon) prints a priority ticket within the slot's
tolerance and is refused, in Chinese with the time to come back, when too early."""

from __future__ import annotations

import dataclasses
from datetime import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controller.config.model import Appointments, PriorityClass, SlotRules
from controller.core.booking import Slot
from controller.daemon.runtime import HallRuntime
from controller.http.booking_api import booking_extension
from simulator.devices.kiosk import SimKiosk, TakeResult
from tests.controller.http.booking_daemon import booking_daemon
from tests.e2e.harness import ARTIFACTS, CHROMIUM, demo_config, hall_fleet, start_daemon

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
_DAY = (time(0, 0), time(23, 30))
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="apt-get install chromium")


@needs_chromium
async def test_booking_page_on_a_phone(tmp_path: Path) -> None:
    async with (
        booking_daemon(tmp_path / "hall.db") as d,
        playwright_api.async_playwright() as pw,
    ):
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = await browser.new_context(
                viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
            )
            page = await context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await page.goto(f"{d.url}/public/book.html")
            await page.wait_for_selector("#services button[aria-checked='true']")
            await page.wait_for_selector("#slots button:not([disabled])")
            await page.click("#days button:nth-child(2)")  # tomorrow: every slot is ahead
            await page.wait_for_selector("#days button:nth-child(2)[aria-checked='true']")
            await page.click("#slots button:not([disabled]) >> nth=2")
            await page.fill("#name", "张三")
            await page.fill("#phone", "13812345678")
            assert await page.is_enabled("#submit")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "booking-phone-form.png"), full_page=True)
            await page.click("#submit")
            await page.wait_for_selector("#done:not([hidden])")
            code = (await page.text_content("#code") or "").strip()
            assert code in d.runtime.state.bookings
            assert await page.text_content("#done-who") == "张* 138****5678"
            qr_width = await page.eval_on_selector("#qr", "img => img.naturalWidth")
            assert qr_width > 100  # the SVG QR code decoded and drew
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390  # nothing wider than the phone
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "booking-phone.png"), full_page=True)
            assert errors == []
        finally:
            await browser.close()


def next_slots(runtime: HallRuntime) -> tuple[Slot, Slot]:
    """The next slot that can still be booked, and one at least three hours after it (tomorrow's
    when the test runs late in the evening: the wall clock decides)."""
    plan = runtime.engine.slots
    now = runtime.now()
    days = (plan.today(now), plan.today(now + 86_400_000))
    ahead = [s for d in days for s in plan.day_slots("B", d) if plan.bookable("B", s, now)]
    soon = ahead[0]
    later = next(s for s in ahead if s.start_ms >= soon.start_ms + 3 * 3_600_000)
    return soon, later


async def test_kiosk_check_in_by_booking_code(mosquitto: Any, tmp_path: Path) -> None:
    config, text = demo_config(mosquitto)
    # The whole day is bookable (the test runs at any hour), and a code may check in up to an
    # hour before its slot.
    rules = SlotRules(slot_minutes=30, capacity=2, cutoff_minutes=0, windows=(_DAY,))
    config = dataclasses.replace(
        config,
        appointments=Appointments(enabled=True, rules=rules, holidays_closed=False),
        policy=dataclasses.replace(config.policy, appointment_early_minutes=60),
    )
    db = tmp_path / "hall.db"
    running = await start_daemon(config, text, db, extra=(booking_extension(db),))
    try:
        runtime = running.daemon.halls[config.hall.id]
        soon, later = next_slots(runtime)
        codes = [
            await _book(running.url, config.hall.id, s, n) for n, s in enumerate((soon, later))
        ]
        async with hall_fleet(config, mosquitto, db) as fleet:
            kiosk = next(d for d in fleet if isinstance(d, SimKiosk))
            early = await kiosk.take_ticket("B", appt=codes[1])
            assert (early.result, early.code) == (TakeResult.REFUSED, "appointment_too_early")
            assert early.text.startswith("预约时段 ") and "后签到" in early.text
            taken = await kiosk.take_ticket("B", appt=codes[0])
            assert taken.result is TakeResult.PRINTED and taken.number is not None
            ticket = runtime.state.tickets[runtime.state.open_numbers[taken.number]]
            assert ticket.priority is PriorityClass.APPOINTMENT
            assert ticket.appointment_id == codes[0] and codes[0] not in runtime.state.bookings
            again = await kiosk.take_ticket("B", appt=codes[0])
            assert again.code == "appointment_already_checked_in"
    finally:
        await running.close()


async def _book(url: str, hall: str, slot: Slot, n: int) -> str:
    body = {
        "service": "B",
        "slot_start_ms": slot.start_ms,
        "name": "李四",
        "phone": f"1390000000{n}",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/api/v1/public/halls/{hall}/bookings", json=body) as r,
    ):
        answer = await r.json()
        assert r.status == 200, answer
        code: str = answer["code"]
        return code
