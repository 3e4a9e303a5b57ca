"""The playground at ``/`` in a real headless Chromium (Debian's, driven by Playwright) against a real
server with a key: load, choose a strategy, generate, see coloured tokens and a chart point per
token, hover a token, compare two settings side by side, save the trace for ``dyntemp plot``, and no
console errors. ``DYNTEMP_SCREENSHOT=path`` keeps a screenshot of the page (the README's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
from playwright.sync_api import sync_playwright

from conftest import Server

KEY = "playground-test-key"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def served():
    running = Server("--parallel", "2", "--threads", "2", "--api-key", KEY)
    yield running
    assert running.stop() == 0, running.logs()


@pytest.fixture(scope="module")
def page(served):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
        page = context.new_page()
        page.errors = []
        page.on("console", lambda message: page.errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.on("dialog", lambda dialog: dialog.accept(KEY))  # the key, asked once
        page.goto(served.url + "/")
        page.wait_for_selector("#status:text('ready')", timeout=30_000)
        yield page
        browser.close()


def test_the_page_needs_no_key_and_serves_no_data_without_one(served):
    assert httpx.get(f"{served.url}/", timeout=10).status_code == 200
    assert httpx.get(f"{served.url}/playground/vendor/uplot/uPlot.iife.min.js", timeout=10).status_code == 200
    assert httpx.get(f"{served.url}/v1/strategies", timeout=10).status_code == 401


def test_generate_colours_every_token_and_charts_it(page, tmp_path):
    page.select_option("#run-a .strategy", "sentence")
    page.fill("#max_tokens", "40")
    page.click("#generate")
    page.wait_for_selector("#run-a .legend:has-text('finish_reason')", timeout=120_000)
    tokens = page.locator("#run-a .output .token")
    count = tokens.count()
    assert count > 5
    colours = {tokens.nth(i).evaluate("e => e.style.background") for i in range(count)}
    assert len(colours) >= 2  # a sentence schedule: more than one temperature
    points = page.evaluate("() => document.querySelectorAll('#run-a .chart canvas').length")
    assert points == 1
    assert page.evaluate("() => state.runs['run-a'].chart.data[0].length") == count
    tokens.nth(2).hover()
    title = tokens.nth(2).get_attribute("title")
    assert title.startswith("temperature ") and "entropy" in title and "probability" in title
    with page.expect_download() as download:
        page.click("#save")
    path = tmp_path / "trace.jsonl"
    download.value.save_as(path)
    lines = path.read_text().splitlines()
    assert "header" in json.loads(lines[0]) and len(lines) == count + 1
    plotted = subprocess.run([sys.executable, "-m", "dyntemp", "plot", str(path), "--out", str(tmp_path / "plot")],
                             capture_output=True, text=True, timeout=120)
    assert plotted.returncode == 0, plotted.stderr
    assert page.errors == []


def test_two_settings_side_by_side(page):
    page.check("#compare")
    page.select_option("#run-b .strategy", "constant")
    page.fill("#run-b .params input[name=temperature]", "0")
    page.click("#generate")
    page.wait_for_selector("#run-b .legend:has-text('finish_reason')", timeout=120_000)
    page.wait_for_selector("#run-a .legend:has-text('finish_reason')", timeout=120_000)
    a = page.locator("#run-a .output").inner_text()
    b = page.locator("#run-b .output").inner_text()
    assert a and b and a != b
    b_colours = page.evaluate("() => [...document.querySelectorAll('#run-b .token')].map(e => e.style.background)")
    assert len(set(b_colours)) == 1  # temperature 0 throughout: one colour
    if os.environ.get("DYNTEMP_SCREENSHOT"):
        page.screenshot(path=os.environ["DYNTEMP_SCREENSHOT"], full_page=True)
    assert page.errors == []
