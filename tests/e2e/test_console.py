"""End to end in a real headless Chromium: log in, watch the hall update live, pause a window
and see the simulated LED strip show 暂停服务, record a 回访 on a 差评 case, hear queued
announcements on the hall screen, call from the web caller, and survive a daemon restart
without logging in again.

Debian's chromium is driven through Playwright's Python client (``executable_path``; Playwright
downloads nothing). Screenshots and the measured latencies go to ``test-artifacts/e2e/``.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from firmware_protocols import mqtt_v1 as proto
from tests.e2e.harness import (
    ADMIN,
    ARTIFACTS,
    CHROMIUM,
    Api,
    admin_token,
    demo_config,
    hall_fleet,
    start_daemon,
    until,
)

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="apt-get install chromium"),
]


async def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_console_end_to_end(mosquitto: Any, tmp_path: Path) -> None:
    config, text = demo_config(mosquitto)
    hall = config.hall.id
    db = tmp_path / "hall.db"
    running = await start_daemon(config, text, db)
    figures: dict[str, Any] = {}
    async with hall_fleet(config, mosquitto, db) as fleet:
        api = Api(running.url, await admin_token(running.url), hall)
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
            )
            # bypass_csp: wait_for_function evaluates strings; the pages themselves never eval.
            context = await browser.new_context(
                viewport={"width": 1400, "height": 1000}, bypass_csp=True
            )
            page = await context.new_page()

            # Log in: the hall page sends us to the login page and back.
            await page.goto(f"{running.url}/console/hall.html")
            await page.wait_for_url("**/login.html**")
            await page.fill("#user", ADMIN[0])
            await page.fill("#password", ADMIN[1])
            await page.click("button[type=submit]")
            await page.wait_for_url("**/hall.html**")
            await page.wait_for_selector("#conn:text('实时')")
            await page.wait_for_selector(".win[data-window='20']")
            await shot(page, "01-live-hall")

            # Live updates: each ticket appears on the page; measure command → page.
            cell = "[data-service='A'] td:nth-child(2)"
            start = int(await page.text_content(cell) or "0")
            latencies = []
            for i in range(1, 11):
                sent = time.perf_counter()
                await api.command({"type": "issue_ticket", "service": "A"})
                await page.wait_for_function(
                    f"document.querySelector(\"{cell}\").textContent === '{start + i}'",
                    polling=5,
                )
                latencies.append(time.perf_counter() - sent)
            figures["command_to_page_s"] = sorted(latencies)
            assert max(latencies) < 1.0, latencies

            # Pause window 3 from the actions page; the simulated LED strip shows it.
            await api.command({"type": "login", "window": 3, "staff": config.staff[2].id})
            await page.goto(f"{running.url}/console/actions.html?hall={hall}")
            pause = "tr[data-window='3'] button[data-action='pause']"
            await page.wait_for_selector(pause)
            clicked = time.perf_counter()
            await page.click(pause)
            display = fleet.displays[3]
            await until(lambda: display.state is not None and display.state.lines == ["暂停服务"])
            figures["click_to_led_strip_s"] = time.perf_counter() - clicked
            await page.wait_for_selector("tr[data-window='3'] td.state:text('暂停')")
            await shot(page, "02-actions-window-3-paused")

            # A 差评 opens a case; record its 回访 on the case page.
            await api.command({"type": "resume", "window": 3})
            window3 = (await api.get(f"/api/v1/halls/{hall}"))["windows"][2]
            await api.command({"type": "issue_ticket", "service": window3["services"][0]})
            called = await api.command({"type": "call_next", "window": 3})
            ticket = called["events"][0]["ticket"]
            await api.command({"type": "start", "window": 3})
            await api.command({"type": "finish", "window": 3})
            # The citizen presses 非常不满意 on window 3's simulated pad (ratings come only
            # from devices); the 回访 needs the followup duty, granted to the admin here.
            pad = fleet.evaluators[3]
            await until(lambda: pad.invite is not None and pad.invite.ticket == ticket)
            assert pad.press(proto.RatingLevel.VERY_DISSATISFIED)
            cases: list[Any] = []

            async def case_opened() -> bool:
                cases[:] = await api.get(f"/api/v1/halls/{hall}/cases")
                return any(c["ticket"] == ticket for c in cases)

            deadline = time.monotonic() + 15
            while not await case_opened():
                assert time.monotonic() < deadline, "the pad's 差评 opened no case"
                await asyncio.sleep(0.05)
            [case] = [c["id"] for c in cases if c["ticket"] == ticket]
            await api.post(f"/api/v1/users/{ADMIN[0]}/duties", {"duties": ["followup"]})
            await page.goto(f"{running.url}/console/ratings.html?hall={hall}&case={case}")
            await page.wait_for_selector("#record-contact")
            await page.fill("#case-note", "已电话回访，群众反映等候时间长")
            await page.click("#record-contact")
            await page.wait_for_selector("#case h2:text('待核实')")
            await page.wait_for_selector("#case td:text-is('回访')")  # the step, in Chinese
            detail = await api.get(f"/api/v1/halls/{hall}/cases/{case}")
            assert detail["state"] == "awaiting_verification"
            assert detail["steps"][-1]["note"] == "已电话回访，群众反映等候时间长"
            assert detail["steps"][-1]["by"] == ADMIN[0]
            await shot(page, "03-case-contacted")

            # The hall screen queues announcements: a call and its recall play one after the
            # other, never overlapping.
            screen = await context.new_page()
            voices: list[int] = []
            screen.on(
                "response", lambda r: voices.append(r.status) if "voice.wav" in r.url else None
            )
            await screen.goto(f"{running.url}/console/screen.html?hall={hall}")
            await screen.wait_for_selector("#waiting tr")
            await page.goto(f"{running.url}/console/hall.html?hall={hall}")
            await api.command({"type": "issue_ticket", "service": window3["services"][0]})
            await api.command({"type": "call_next", "window": 3})
            await api.command({"type": "recall", "window": 3})
            await screen.wait_for_function("window.hallScreen.played.length >= 2", timeout=20000)
            played = await screen.evaluate("window.hallScreen.played")
            assert voices[:2] == [200, 200]
            assert "重呼" in played[1]["text"] and "重呼" not in played[0]["text"]
            assert played[1]["start"] >= played[0]["end"], played
            figures["announcements"] = played
            await shot(screen, "04-hall-screen")

            # The web caller does what a keypad does: log in, call; the window's strip shows it.
            caller = await context.new_page()
            await caller.goto(f"{running.url}/console/caller.html?hall={hall}&window=5")
            await caller.wait_for_selector("#status .n")
            await caller.fill("#staff", config.staff[4].id)
            await caller.click("button[data-op='login']")
            await caller.wait_for_selector("#status.idle")
            window5 = (await api.get(f"/api/v1/halls/{hall}"))["windows"][4]
            await api.command({"type": "issue_ticket", "service": window5["services"][0]})
            await caller.click("button[data-op='call_next']")
            await caller.wait_for_selector("#status.calling")
            strip5 = fleet.displays[5]
            await until(lambda: strip5.state is not None and strip5.state.lines[0].startswith("请"))
            await shot(caller, "05-web-caller")
            await caller.close()

            # Restart the daemon on the same port: the page reconnects by itself, still logged in.
            bound = running.daemon.bound_port
            assert bound is not None
            await running.close()
            await page.wait_for_selector("#conn:text('重连中')")
            down = time.perf_counter()
            running = await start_daemon(config, text, db, port=bound)
            await page.wait_for_selector("#conn:text('实时')", timeout=15000)
            figures["restart_to_live_s"] = time.perf_counter() - down
            before = int(await page.text_content(cell) or "0")
            await api.command({"type": "issue_ticket", "service": "A"})
            await page.wait_for_function(
                f"document.querySelector(\"{cell}\").textContent === '{before + 1}'"
            )
            await shot(page, "06-after-restart")
            await browser.close()
        await api.close()
    await running.close()
    (ARTIFACTS / "figures.json").write_text(json.dumps(figures, ensure_ascii=False, indent=1))
