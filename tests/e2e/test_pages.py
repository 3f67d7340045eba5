"""Every console page in a real headless Chromium (Debian's, through Playwright) at a desktop's
1440×900 and a phone's 390×844, checked with axe-core (no serious or critical violation), and
the hall screen on a TV at 1920×1080 and 1280×720: the notice inside the screen, 8 calls on one
line each even with long window names, and a voice queue that stays short under a burst of
calls (a recall replaces its pending call, moved-on and old calls are dropped).

Also: refusals in Chinese on the page, pause after the current ticket, cancel asks first, the
transfer choice survives the list's refresh, the waiting list says how many it hides and finds
by number, no red 连接中 on pages without a live feed, every input named, tiles' contrast.
Screenshots of every page go to docs/img/ (desktop) and test-artifacts/e2e/ (phone)."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from firmware_protocols import mqtt_v1 as proto
from tests.e2e.harness import (
    ADMIN,
    ARTIFACTS,
    CHROMIUM,
    ROOT,
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
    pytest.mark.timeout(300),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="apt-get install chromium"),
]

AXE = ROOT / "tests" / "e2e" / "vendor" / "axe-core" / "axe.min.js"
DOCS_IMG = ROOT / "docs" / "img"


def pictures() -> Path:
    """Where the desktop screenshots go: docs/img/ when asked (HALLCTL_DOCS_IMG=1, to refresh
    the README's), else test-artifacts/e2e/ (so a test run leaves the work tree alone)."""
    folder = DOCS_IMG if os.environ.get("HALLCTL_DOCS_IMG") == "1" else ARTIFACTS
    folder.mkdir(parents=True, exist_ok=True)
    return folder


PAGES = ["hall", "devices", "actions", "ratings", "figures", "caller", "admin"]
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
LONG_NAME = "不动产登记与抵押权设立变更注销综合受理窗口"


async def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations of WCAG 2 A/AA on the page as it is."""
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21aa']}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


async def ready(page: Any, name: str) -> None:
    """Wait for the page's content (not only its HTML)."""
    selector = {
        "hall": ".win[data-window='1']",
        "devices": "tr[data-device]",
        "actions": "tr[data-ticket]",
        "ratings": "#cases table, #cases p",
        "figures": "#charts img",
        "caller": "#status .n",
        "admin": "#audit table",
        "screen": "#calls tr",
    }[name]
    await page.wait_for_selector(selector)
    if name in ("hall", "devices", "actions", "caller"):
        await page.wait_for_selector("#conn:text('实时')")


async def login(page: Any, url: str) -> None:
    await page.goto(f"{url}/console/login.html")
    await page.fill("#user", ADMIN[0])
    await page.fill("#password", ADMIN[1])
    await page.click("button[type=submit]")
    await page.wait_for_url("**/hall.html**")


async def test_every_page_desktop_and_phone_with_axe(mosquitto: Any, tmp_path: Path) -> None:
    config, text = demo_config(mosquitto)
    hall = config.hall.id
    running = await start_daemon(config, text, tmp_path / "hall.db")
    report: dict[str, Any] = {}
    try:
        async with hall_fleet(config, mosquitto) as fleet:
            api = Api(running.url, await admin_token(running.url), hall)
            staff_ids = [s.id for s in config.staff]
            view = await api.get(f"/api/v1/halls/{hall}")
            for w, staff in zip(view["windows"][:6], staff_ids, strict=False):
                await api.command({"type": "login", "window": w["number"], "staff": staff})
            for _ in range(130):  # more than the 操作 page's 100 rows
                await api.command({"type": "issue_ticket", "service": "A"})
            w1 = view["windows"][0]
            await api.command({"type": "issue_ticket", "service": w1["services"][0]})
            await api.command({"type": "call_next", "window": w1["number"]})
            w2 = view["windows"][1]
            await api.command({"type": "issue_ticket", "service": w2["services"][0]})
            called = await api.command({"type": "call_next", "window": w2["number"]})
            ticket = called["events"][0]["ticket"]
            await api.command({"type": "start", "window": w2["number"]})
            await api.command({"type": "finish", "window": w2["number"]})

            # A 差评 for the ratings page, pressed on the window's pad (ratings come only from
            # the hall's evaluator devices, never through the command API).
            pad = fleet.evaluators[w2["number"]]
            await until(lambda: pad.invite is not None and pad.invite.ticket == ticket, within=15)
            assert pad.press(proto.RatingLevel.VERY_DISSATISFIED)
            async with playwright_api.async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
                    context = await browser.new_context(viewport=viewport, bypass_csp=True)
                    page = await context.new_page()
                    await login(page, running.url)
                    for name in PAGES:
                        await page.goto(f"{running.url}/console/{name}.html?hall={hall}")
                        await ready(page, name)
                        assert await page.locator("meta[name=viewport]").count() == 1
                        violations = await axe_violations(page)
                        report[f"{name}-{size}"] = violations
                        if size == "desktop":
                            await page.screenshot(path=str(pictures() / f"console-{name}.png"))
                        else:
                            ARTIFACTS.mkdir(parents=True, exist_ok=True)
                            await page.screenshot(
                                path=str(ARTIFACTS / f"phone-{name}.png"), full_page=True
                            )
                            width = await page.evaluate("document.documentElement.scrollWidth")
                            assert width <= PHONE["width"], (name, width)
                    await page.goto(f"{running.url}/console/login.html")
                    report[f"login-{size}"] = await axe_violations(page)
                    await context.close()
                await browser.close()
            await api.close()
    finally:
        await running.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "axe.json").write_text(json.dumps(report, ensure_ascii=False, indent=1))
    bad = {k: v for k, v in report.items() if isinstance(v, list) and v}
    assert bad == {}


async def test_console_basics_in_the_browser(mosquitto: Any, tmp_path: Path) -> None:
    config, text = demo_config(mosquitto)
    hall = config.hall.id
    running = await start_daemon(config, text, tmp_path / "hall.db")
    try:
        async with hall_fleet(config, mosquitto):
            api = Api(running.url, await admin_token(running.url), hall)
            view = await api.get(f"/api/v1/halls/{hall}")
            w = view["windows"][2]
            number = w["number"]
            await api.command({"type": "login", "window": number, "staff": config.staff[2].id})
            for _ in range(105):
                await api.command({"type": "issue_ticket", "service": w["services"][0]})
            await api.command({"type": "call_next", "window": number})
            async with playwright_api.async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                # A browser in New York: the console still shows the hall's (Shanghai) times.
                context = await browser.new_context(
                    viewport=DESKTOP, bypass_csp=True, timezone_id="America/New_York"
                )
                page = await context.new_page()
                await login(page, running.url)
                await page.wait_for_function("typeof HC !== 'undefined' && HC.session")
                shown = await page.evaluate(TIMES_JS)
                assert shown == {
                    "time": "11/30 08:00:00",  # 00:00 UTC is 08:00 in Shanghai, 19:00 in New York
                    "midnight": "11/30 24:00",  # a deadline at 12/01 00:00 is the end of 11/30
                    "deadline": "11/30 17:30",
                    "durations": ["45秒", "12分30秒", "1小时5分"],
                }, shown

                # 统计 and 账号与审计 have no live feed: no badge at all, never a red 连接中.
                for name in ("figures", "admin"):
                    await page.goto(f"{running.url}/console/{name}.html?hall={hall}")
                    await ready(page, name)
                    assert await page.locator("#conn").count() == 0

                # Tiles: white text at >= 4.5:1 on every state's colour.
                await page.goto(f"{running.url}/console/hall.html?hall={hall}")
                await ready(page, "hall")
                ratios = await page.evaluate(CONTRAST_JS)
                assert ratios and min(r for _, r in ratios) >= 4.5, ratios

                # The waiting list says how many it hides and finds by number.
                await page.goto(f"{running.url}/console/actions.html?hall={hall}")
                await ready(page, "actions")
                await page.wait_for_selector("#tickets-note:has-text('未显示')")
                note = await page.text_content("#tickets-note")
                assert note is not None and "另有 4 张未显示" in note, note
                first = await page.text_content("tr[data-ticket] td")
                assert first is not None
                await page.fill("#ticket-search", first[:-1])
                await page.wait_for_selector("#tickets-note:has-text('找到')")
                shown = await page.locator("tr[data-ticket]").all_text_contents()
                assert shown and all(first[:-1] in row for row in shown), shown

                # Every input, select and textarea on 操作 has a name a screen reader says.
                unnamed = await page.evaluate(UNNAMED_JS)
                assert unnamed == [], unnamed

                # The transfer choice survives the list's 5 s refresh (it used to reset).
                await page.fill("#ticket-search", "")
                await page.wait_for_selector("#tickets-note:has-text('未显示')")
                select = page.locator("tr[data-ticket] select[data-field=transfer]").first
                await select.select_option(index=1)
                chosen = await select.input_value()
                await api.command({"type": "issue_ticket", "service": "A"})  # the list changes
                # the next refresh (every 5 s) counts it in the note, and leaves the choice alone
                await page.wait_for_selector(
                    "#tickets-note:has-text('另有 5 张未显示')", timeout=12000
                )
                assert await select.input_value() == chosen

                # 取消 asks first; declining sends nothing (the accepted one is the only cancel).
                before = await api.get(f"/api/v1/halls/{hall}/tickets?state=cancelled")
                dialogs: list[str] = []

                async def answer(dialog: Any) -> None:
                    dialogs.append(dialog.message)
                    await (dialog.accept() if len(dialogs) == 2 else dialog.dismiss())

                page.on("dialog", answer)
                cancel = page.locator("tr[data-ticket] button[data-action=cancel]").nth(1)
                second = await page.locator("tr[data-ticket] td").nth(6).text_content()
                await cancel.click()
                await cancel.click()
                await page.wait_for_function(
                    "(document.getElementById('toast') || {}).textContent?.includes('已取消')"
                )
                after = await api.get(f"/api/v1/halls/{hall}/tickets?state=cancelled")
                assert [t["number"] for t in after] == [t["number"] for t in before] + [second]
                assert len(dialogs) == 2 and "确定取消号票" in dialogs[0], dialogs

                # A refusal is a Chinese sentence: logging out a calling window.
                row = f"tr[data-window='{number}']"
                await page.click(f"{row} button[data-action=logout]")
                await page.wait_for_selector("#toast.err")
                refusal = await page.text_content("#toast")
                assert refusal == f"操作失败：{number}号窗口正在呼叫，不能签退", refusal

                # Pause on a busy window: after the current ticket, with a reason.
                await page.select_option(f"{row} select[data-field=reason]", "午休")
                await page.click(f"{row} button[data-action=pause]")
                await page.wait_for_selector(f"{row} .pending:has-text('办完当前号后暂停（午休）')")
                await api.command({"type": "start", "window": number})
                await api.command({"type": "finish", "window": number})
                await page.wait_for_selector(f"{row} td.state:text('暂停')")
                await page.wait_for_selector(f"{row}:has-text('暂停：午休')")
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / "actions-paused-after-current.png"))
                await browser.close()
            await api.close()
    finally:
        await running.close()


async def test_hall_screen_on_a_tv_and_its_voice_queue(mosquitto: Any, tmp_path: Path) -> None:
    config, text = demo_config(mosquitto)
    windows = tuple(replace(w, name=LONG_NAME) if w.number % 2 else w for w in config.windows)
    config = replace(config, windows=windows)
    hall = config.hall.id
    running = await start_daemon(config, text, tmp_path / "hall.db")
    figures: dict[str, Any] = {}
    try:
        async with hall_fleet(config, mosquitto):
            api = Api(running.url, await admin_token(running.url), hall)
            view = await api.get(f"/api/v1/halls/{hall}")
            open_windows = view["windows"][:8]
            for w, s in zip(open_windows, config.staff, strict=False):
                await api.command({"type": "login", "window": w["number"], "staff": s.id})
            async with playwright_api.async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=CHROMIUM,
                    args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
                )
                context = await browser.new_context(viewport=DESKTOP, bypass_csp=True)
                page = await context.new_page()
                await login(page, running.url)
                await page.set_viewport_size({"width": 1920, "height": 1080})
                await page.goto(f"{running.url}/console/screen.html?hall={hall}&voice_max_age=4")
                await page.wait_for_selector("#waiting tr")

                # A burst: 8 windows call, recall, move on; 3 rounds.
                calls = 0
                most_queued = 0
                for round_ in range(3):
                    for w in open_windows:
                        await api.command({"type": "issue_ticket", "service": w["services"][0]})
                        await api.command({"type": "call_next", "window": w["number"]})
                        calls += 1
                        if w["number"] % 3 == 0:
                            await api.command({"type": "recall", "window": w["number"]})
                            calls += 1
                        queued = await page.evaluate("window.hallScreen.queue.length")
                        most_queued = max(most_queued, queued)
                    if round_ < 2:
                        for w in open_windows:
                            await api.command({"type": "start", "window": w["number"]})
                            await api.command({"type": "finish", "window": w["number"]})
                await page.wait_for_selector("#calls tbody tr:nth-child(8)")
                for size in ((1920, 1080), (1280, 720)):
                    await page.set_viewport_size({"width": size[0], "height": size[1]})
                    await page.wait_for_function(f"window.innerHeight === {size[1]}")
                    layout = await page.evaluate(LAYOUT_JS)
                    figures[f"layout-{size[0]}"] = layout
                    vw, vh = size
                    n = layout["notice"]
                    assert n["top"] >= 0 and n["bottom"] <= vh and n["height"] > 0, layout
                    assert len(layout["rows"]) == 8, layout
                    for r in layout["rows"]:
                        assert r["bottom"] <= n["top"] + 1 and r["lines"] == 1, layout
                    ARTIFACTS.mkdir(parents=True, exist_ok=True)
                    await page.screenshot(path=str(ARTIFACTS / f"screen-{vw}x{vh}.png"))
                    if size == (1920, 1080):
                        await page.screenshot(path=str(pictures() / "console-screen.png"))

                # Calls left waiting longer than the bound (4 s here, 60 s by default) are dropped.
                await page.wait_for_function(
                    "window.hallScreen.dropped.some(d => d.why === 'too_old')", timeout=20000
                )
                # The calls still pending end with the round: everyone is served now.
                for w in open_windows:
                    await api.command({"type": "start", "window": w["number"]})
                await page.wait_for_function("window.hallScreen.queue.length === 0", timeout=10000)
                state = await page.evaluate(
                    "({played: window.hallScreen.played, dropped: window.hallScreen.dropped})"
                )
                figures.update(calls=calls, most_queued=most_queued, **state)
                whys = {d["why"] for d in state["dropped"]}
                assert most_queued <= len(open_windows), figures
                assert {"replaced", "moved_on"} <= whys, figures
                assert len(state["played"]) + len(state["dropped"]) <= calls
                assert len(state["played"]) < calls, figures
                await browser.close()
            await api.close()
    finally:
        await running.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "screen.json").write_text(json.dumps(figures, ensure_ascii=False, indent=1))


TIMES_JS = """() => ({
  time: HC.time(Date.UTC(2026, 10, 30, 0, 0, 0)),
  midnight: HC.deadline(Date.UTC(2026, 10, 30, 16, 0, 0)),
  deadline: HC.deadline(Date.UTC(2026, 10, 30, 9, 30, 0)),
  durations: [45e3, 750e3, 3900e3].map(HC.duration),
})"""

CONTRAST_JS = """() => {
  const lum = c => { const [r, g, b] = c.match(/\\d+/g).slice(0, 3).map(Number).map(v => {
    v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const probe = document.createElement('div'); document.body.append(probe);
  const out = [];
  for (const state of ['idle', 'calling', 'serving', 'paused', 'logged_out']) {
    probe.className = 'win ' + state;
    const s = getComputedStyle(probe);
    const [a, b] = [lum(s.color), lum(s.backgroundColor)].sort((x, y) => y - x);
    out.push([state, (a + 0.05) / (b + 0.05)]);
  }
  probe.remove();
  return out;
}"""

UNNAMED_JS = """() => [...document.querySelectorAll('input, select, textarea')].filter(el => {
  if (el.type === 'hidden') return false;
  if (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')) return false;
  if (el.labels && el.labels.length) return false;
  return true;
}).map(el => el.outerHTML.slice(0, 80))"""

LAYOUT_JS = """() => {
  const box = el => { const r = el.getBoundingClientRect(); return {top: r.top, bottom: r.bottom,
    height: r.height}; };
  const rows = [...document.querySelectorAll('#calls tbody tr')].map(tr => {
    const td = tr.children[1], style = getComputedStyle(td);
    return {...box(tr), lines: Math.round(td.scrollHeight / parseFloat(style.lineHeight)) || 1,
      text: td.textContent};
  });
  return {notice: box(document.querySelector('.notice')), rows};
}"""
