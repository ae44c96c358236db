"""Screenshots of the demo program for the README: the console overview, a member's 360 page,
the review queue, and the member portal, taken from a running `make run` server.

    .venv/bin/python scripts/demo_screenshots.py [BASE_URL] [MEMBER_TOKEN]

BASE_URL defaults to http://127.0.0.1:8000; the token (for member m001) is the one `jifen demo`
printed. Drives Debian's chromium through Playwright; never downloads a browser.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def main(base: str, token: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        desk = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
        page = desk.new_page()
        page.goto(f"{base}/console/login")
        page.fill("#email", "owner@demo.jifen")
        page.fill("#password", "jifen-demo")
        page.click("button[type=submit]")
        page.wait_for_url("**/console/p/**")
        page.wait_for_timeout(1500)  # the charts animate in
        page.screenshot(path=str(OUT / "readme-console-overview.png"), full_page=True)
        for path, name in (("members/m001", "member-360"), ("reviews", "reviews")):
            page.goto(f"{base}/console/p/demo/{path}")
            page.wait_for_timeout(800)
            page.screenshot(path=str(OUT / f"readme-console-{name}.png"), full_page=True)
        phone = browser.new_context(
            viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
            has_touch=True, locale="zh-CN",
        )  # fmt: skip
        m = phone.new_page()
        m.goto(f"{base}/m?token={token}")
        m.wait_for_timeout(800)
        m.screenshot(path=str(OUT / "readme-portal-home.png"), full_page=True)
        for path in ("checkin", "tier"):
            m.goto(f"{base}/m/{path}")
            m.wait_for_timeout(800)
            m.screenshot(path=str(OUT / f"readme-portal-{path}.png"), full_page=True)
        browser.close()


if __name__ == "__main__":
    main(
        sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000",
        sys.argv[2] if len(sys.argv) > 2 else "",
    )
