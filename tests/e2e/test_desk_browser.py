"""The staff desk in a real browser: headless Chromium (driven by Selenium through the system chromedriver) opens
the desk served by carebot's HTTP server, as Telegram would, with the signed initData in the URL fragment.

One browser for the module; each test serves a fresh bot. Screenshots of the queue and the ticket page are kept in
the test's temporary folder (pytest prints where on failure)."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from bot.runtime.webhook import WebServer, build_web_app, start_server
from bot.settings import Settings
from tests.botapi import FakeTelegram, FakeUser
from tests.desk_support import BASE, customer_opens_ticket, init_data, with_desk
from tests.harness import BotHarness
from tests.staff_world import World, staff_world

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None, reason="needs chromium and chromedriver (.ci/run installs them)"
)
WAIT_SECONDS = 20
THEME = {"bg_color": "#ffffff", "text_color": "#000000", "button_color": "#3390ec", "button_text_color": "#ffffff"}


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    assert CHROMIUM is not None and CHROMEDRIVER is not None
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=412,915",  # a phone
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # no internet: telegram.org fails at once
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_desk(settings)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def served(bot: BotHarness) -> AsyncIterator[str]:
    """Carebot's own HTTP server (health, metrics, the desk) on a free port; its root URL."""
    port = free_port()
    server = WebServer(build_web_app(bot.app, bot.dispatcher, webhook=False), host="127.0.0.1", port=port)
    task = await start_server(server)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def launch_url(root: str, user: FakeUser, token: str, path: str = "/") -> str:
    """The URL Telegram opens: the desk's, with the launch parameters in the fragment."""
    fragment = "&".join(
        (
            "tgWebAppData=" + quote(init_data(user, token), safe=""),
            "tgWebAppVersion=8.0",
            "tgWebAppPlatform=android",
            "tgWebAppThemeParams=" + quote(json.dumps(THEME), safe=""),
        )
    )
    return f"{root}{BASE}{path}#{fragment}"


async def in_browser(work: Callable[[], Any]) -> Any:
    """Selenium blocks: it runs in a thread while the bot and its server go on serving in this loop."""
    return await asyncio.to_thread(work)


def wait_for(browser: WebDriver, css: str, text: str | None = None) -> Any:
    def found(driver: WebDriver) -> Any:
        for element in driver.find_elements(By.CSS_SELECTOR, css):
            if text is None or text in element.text:
                return element
        return False

    # The page swaps its content in: an element read while that happens is stale, and looked for again.
    return WebDriverWait(browser, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,)).until(found)


async def world_with_tickets(bot: BotHarness, tg: FakeTelegram) -> tuple[World, FakeUser]:
    world = await staff_world(bot, tg)
    await customer_opens_ticket(bot, tg, tg.user(5201, "Lena", language_code="en"), "The zipper broke")
    customer = tg.user(5202, "<script>alert(1)</script>", language_code="en")
    await customer_opens_ticket(bot, tg, customer, "Is the <b>blue</b> one back?")
    return world, customer


async def test_staff_see_the_queue_open_a_ticket_and_reply(
    bot: BotHarness, tg: FakeTelegram, served: str, browser: WebDriver, tmp_path: Path
) -> None:
    world, customer = await world_with_tickets(bot, tg)
    token = bot.services.settings.bot_token

    def open_queue() -> list[str]:
        browser.get(launch_url(served, world.agent, token))
        wait_for(browser, ".ticket-row", "Lena")
        browser.save_screenshot(str(tmp_path / "desk-queue.png"))
        return [row.text for row in browser.find_elements(By.CSS_SELECTOR, ".ticket-row")]

    rows = await in_browser(open_queue)
    assert len(rows) == 2 and "#1" in rows[0] and "Lena" in rows[0]

    def reply() -> str:
        browser.find_element(By.CSS_SELECTOR, "a[data-ticket='2']").click()
        wait_for(browser, ".conversation", "Is the <b>blue</b> one back?")
        browser.find_element(By.CSS_SELECTOR, "textarea[name=text]").send_keys("Yes, since Monday.")
        browser.find_element(By.CSS_SELECTOR, "button[data-action=reply]").click()
        flash = wait_for(browser, ".flash", "#2")
        browser.save_screenshot(str(tmp_path / "desk-ticket.png"))
        return str(flash.text)

    assert "sent" in await in_browser(reply)
    assert tg.last_sent(customer).content == "Yes, since Monday."  # type: ignore[union-attr]
    assert (tmp_path / "desk-queue.png").stat().st_size > 0 and (tmp_path / "desk-ticket.png").stat().st_size > 0


async def test_a_customer_name_with_markup_shows_as_text_in_either_language(
    bot: BotHarness, tg: FakeTelegram, served: str, browser: WebDriver
) -> None:
    world, _customer = await world_with_tickets(bot, tg)
    token = bot.services.settings.bot_token

    def names() -> tuple[list[str], bool]:
        browser.get(launch_url(served, world.admin, token))
        wait_for(browser, ".ticket-row", "Lena")
        shown = [element.text for element in browser.find_elements(By.CSS_SELECTOR, ".ticket-row .name")]
        try:
            browser.switch_to.alert.dismiss()
            alerted = True
        except NoAlertPresentException:
            alerted = False
        return shown, alerted

    shown, alerted = await in_browser(names)
    assert "<script>alert(1)</script>" in shown and not alerted

    def switch_language() -> str:
        browser.find_element(By.CSS_SELECTOR, "button[data-lang]").click()
        title = str(wait_for(browser, "h1", "等待处理的工单").text)
        browser.execute_script("localStorage.clear()")  # the choice is kept per origin: leave none behind
        return title

    assert await in_browser(switch_language) == "等待处理的工单：2"


async def test_someone_who_is_not_staff_sees_no_data(
    bot: BotHarness, tg: FakeTelegram, served: str, browser: WebDriver
) -> None:
    world, _customer = await world_with_tickets(bot, tg)
    token = bot.services.settings.bot_token

    def refused() -> tuple[str, str]:
        browser.get(launch_url(served, world.outsider, token))
        wait_for(browser, "[data-refused]")
        return browser.find_element(By.ID, "desk").text, browser.page_source

    text, source = await in_browser(refused)
    assert "for staff" in text
    assert "Lena" not in source and "zipper" not in source and "ticket-row" not in source
