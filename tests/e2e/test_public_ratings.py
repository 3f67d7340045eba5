"""评价信息公开 in a real headless Chromium at a phone's size (390×844): the page loads without
login, shows the hall's satisfaction, its departments and windows, switches period, and keeps
staff names off unless configured. Screenshot: ``test-artifacts/e2e/public-ratings.png``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.core import commands as c
from tests.controller.haochaping.test_public_ratings import Site, a_morning, open_site
from tests.e2e.harness import ARTIFACTS, CHROMIUM

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="apt-get install chromium"),
]


async def test_public_ratings_page_on_a_phone(tmp_path: Path) -> None:
    async for site in open_site(tmp_path, disclose=False):
        await a_morning(site)
        await page_checks(site)


async def page_checks(site: Site) -> None:
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        # bypass_csp: the page's strict CSP forbids eval, which Playwright's wait_for_function
        # uses; the page's own errors (a CSP violation among them) are still collected below.
        context = await browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            bypass_csp=True,
        )
        page: Any = await context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", lambda r: errors.append(r.url) if r.status >= 400 else None)
        await page.goto(f"{site.base}/public/ratings.html?hall=h&period=day")
        overall = page.locator("#overall")
        await overall.wait_for(state="visible", timeout=10_000)
        assert await page.locator("#hall").inner_text() == "青溪县政务服务中心"
        text = await overall.inner_text()
        assert "今日满意率" in text and "80.0%" in text and "83.3%" in text  # 4/5, 5/6
        windows = await page.locator("#windows li").all_inner_texts()
        assert len(windows) == 2 and "1号窗口（社保）" in windows[0]
        assert "县医疗保障局" in await page.locator("#departments").inner_text()
        assert await page.locator("#staff").is_hidden()
        assert "王芳" not in await page.content()
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390  # nothing wider than the phone
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "public-ratings.png"), full_page=True)
        await site.serve(2, "02", c.RatingLevel.SATISFIED)
        await page.locator("button[data-period=month]").click()
        await page.wait_for_function(
            "document.querySelector('#overall').innerText.includes('本月满意率')"
        )
        assert "7" in await page.locator("#overall .card").nth(2).inner_text()
        assert errors == []
        await browser.close()
