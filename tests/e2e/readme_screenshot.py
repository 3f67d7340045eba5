"""Take the README's screenshot of the live hall from a running ``hallctl demo``.

    .venv/bin/python -m tests.e2e.readme_screenshot [--wait 45] [--out docs/img/live-hall.png]

Starts the demo headless, waits until the simulated hall is busy, logs in as the demo admin in
Debian's chromium (Playwright, no download) and saves a screenshot of 实时大厅.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from playwright.async_api import async_playwright

from tests.e2e.harness import CHROMIUM, ROOT

PASSWORD = "readme-demo-1"


async def main(wait: float, out: Path) -> int:
    demo = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "controller.cli.hallctl",
        "--log-level",
        "warning",
        "demo",
        "--json",
        "--duration",
        str(wait + 30),
        "--admin-password",
        PASSWORD,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert demo.stderr is not None
    url = ""
    while not url:
        line = (await demo.stderr.readline()).decode()
        if not line:
            print("demo ended before printing its console address", file=sys.stderr)
            return 1
        if line.startswith("console "):
            url = line.split()[1]
    await asyncio.sleep(wait)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1440, "height": 1000})
        await page.goto(f"{url}login.html")
        await page.fill("#user", "admin")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_selector("#conn:text('实时')")
        await page.wait_for_timeout(1500)
        out.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(out), full_page=True)
        await browser.close()
    demo.terminate()
    await demo.wait()
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wait", type=float, default=45.0, help="seconds of simulated activity")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "live-hall.png")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.wait, args.out)))
