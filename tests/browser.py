"""What the browser tests share: Playwright driving the system Chromium (Debian's package, or
CHROMIUM_PATH), and the page helpers for the app's Gradio tables and plots. The `browser` fixture
in conftest.py launches it; a missing Playwright or Chromium fails the test (tests.checks)."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from tests.checks import require

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:     # launch() reports it as a failure that says what to install
    expect = sync_playwright = None

CHROMIUM = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
TIMEOUT_MS = 30_000


@contextlib.contextmanager
def launch() -> Iterator:
    """One headless Chromium; the caller opens a context (viewport, theme) per test."""
    require(sync_playwright is not None, "playwright is not installed (requirements-dev.txt)")
    require(os.access(CHROMIUM, os.X_OK),
            f"no Chromium at {CHROMIUM} (Debian package chromium, or set CHROMIUM_PATH)")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@contextlib.contextmanager
def open_page(browser, url: str, width: int = 1400, theme: str = "light", *,
              wait_for_data: bool = True, **context_args):
    """A fresh context at `width` px in `theme`, on the app's first tab (with the watchlist in,
    unless told not to wait for it). Script errors collect in `page.page_errors`."""
    ARTIFACTS.mkdir(exist_ok=True)
    height = 900 if width < 1000 else 1000
    context = browser.new_context(viewport={"width": width, "height": height}, **context_args)
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(url + ("/?__theme=dark" if theme == "dark" else "/"))
    if wait_for_data:
        expect(first_column(pg, "watchlist").first).to_have_text("BTC")
    pg.page_errors = errors
    try:
        yield pg
    finally:
        context.close()


def first_column(page, table_id: str):
    """The first-column cells of a gr.Dataframe (Gradio 6 renders rows as role=row divs)."""
    return page.locator(f"#{table_id} [role=gridcell][data-col='0']")


def open_tab(page, name: str) -> None:
    tab = page.get_by_role("tab", name=name)
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")
