"""A real browser (Debian's Chromium, driven by Playwright) uses the app like a teacher would.

Screenshots land in test-artifacts/ (CI keeps them as artefacts).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.bundled]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def page(live_app):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run bash scripts/setup.sh --dev")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(120_000)
        page.goto(live_app.url)
        yield page
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_teacher_flow(page):
    from playwright.sync_api import expect

    expect.set_options(timeout=120_000)  # a CPU generation takes seconds, not milliseconds
    # header: base model, device, adapters
    expect(page.locator("#header")).to_contain_text("smollm2-135m")
    expect(page.locator("#header")).to_contain_text("cpu")
    shot(page, "01-loaded")

    # playground: generate, see every reward score and the four-letter highlight
    page.locator("#prompt textarea").fill("Tomorrow I'm gonna learn for exam")
    page.locator("#generate-btn").click()
    expect(page.locator("#generate-status")).to_contain_text("completions from base")
    table = page.locator("#completions-table")
    for column in ("four_letter", "word_count", "distinct_words", "words"):
        expect(table).to_contain_text(column)
    highlight = page.locator("#highlight")
    expect(highlight).to_contain_text("4 letters")  # the legend
    expect(highlight).to_contain_text("#1")
    assert highlight.locator(".token.highlighted").count() > 3  # coloured phrases
    expect(page.get_by_text("Download this session's 4 samples (CSV)")).to_be_visible()
    shot(page, "02-generated")

    # train: a short run, the curve fills in, the run ends, the adapter is selectable
    page.get_by_role("tab", name="Train").click()
    page.locator("#adapter-name textarea, #adapter-name input").first.fill("browser-run")
    for field, value in (("#max-steps", "2"), ("#max-len", "8")):
        box = page.locator(f"{field} input").first
        box.fill(value)
        box.press("Tab")
    page.locator("#start-btn").click()
    progress = page.locator("#train-progress")
    expect(progress).to_contain_text("step 1/2", timeout=300_000)
    plot = page.locator("#reward-plot")
    expect(plot.locator("canvas, svg").first).to_be_visible()
    shot(page, "03-training-step-1")
    expect(progress).to_contain_text("finished", timeout=300_000)
    expect(progress).to_contain_text("browser-run")
    expect(page.locator("#step-table")).to_contain_text("advantage")
    shot(page, "04-training-finished")

    # playground again: switch to the new adapter without reloading the page
    page.get_by_role("tab", name="Playground").click()
    choice = page.locator("#adapter-choice input").first
    choice.click()
    page.get_by_role("option", name="browser-run").click()
    page.locator("#generate-btn").click()
    expect(page.locator("#generate-status")).to_contain_text("completions from browser-run")
    expect(table).to_contain_text("browser-run")
    shot(page, "05-adapter-switched")
