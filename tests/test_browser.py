"""A real browser (Debian's Chromium, driven by Playwright) uses the app like a teacher would,
on a projector's 1024×768, and checks the layout, not just that things are there: no page-wide
horizontal scroll, no table header narrower than its longest word, no completion text clipped.

Screenshots land in test-artifacts/ (CI keeps them as artefacts; docs/ holds copies).
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
PROJECTOR = {"width": 1024, "height": 768}

LAYOUT = """(selector) => {
  const root = document.querySelector(selector);
  const ctx = document.createElement('canvas').getContext('2d');
  const box = root.getBoundingClientRect();
  const narrow = [], clipped = [], outside = [];
  const heads = [...root.querySelectorAll('th')];
  heads.forEach((th, i) => {
    const label = th.querySelector('span.header') || th;
    const text = label.textContent.trim();
    const style = getComputedStyle(label);
    ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const longest = Math.max(0, ...text.split(/\\s+/).map(w => ctx.measureText(w).width));
    const width = label.getBoundingClientRect().width;
    if (width + 0.5 < longest)
      narrow.push(`${text}: ${width.toFixed(0)} < ${longest.toFixed(0)} px`);
    if (th.getBoundingClientRect().right > box.right + 1) outside.push(text);
  });
  const col = heads.findIndex(th => th.textContent.trim() === 'completion');
  const rows = root.querySelectorAll('.virtual-row');  // Gradio's (virtualised) body rows
  if (col >= 0) {
    for (const row of rows) {
      const cell = row.children[col];
      if (!cell) continue;
      const wrap = cell.querySelector('.cell-wrap') || cell;
      const r = cell.getBoundingClientRect();
      if (wrap.scrollWidth > wrap.clientWidth + 1 || r.right > box.right + 1)
        clipped.push(wrap.textContent.slice(0, 40));
    }
  }
  return {narrow, clipped, outside, rows: rows.length,
          page: document.documentElement.scrollWidth - window.innerWidth};
}"""


@pytest.fixture(scope="module")
def page(live_app):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run bash scripts/setup.sh --dev")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport=PROJECTOR)
        page.set_default_timeout(120_000)
        page.goto(live_app.url)
        yield page
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def fits(page, selector: str, rows: int | None = None) -> None:
    """The table at ``selector`` reads on the projector (see LAYOUT)."""
    got = page.evaluate(LAYOUT, selector)
    assert got["page"] <= 0, f"the page scrolls sideways by {got['page']} px"
    assert not got["narrow"], f"{selector}: headers narrower than their words: {got['narrow']}"
    assert not got["outside"], f"{selector}: columns past the right edge: {got['outside']}"
    assert not got["clipped"], f"{selector}: completion text clipped: {got['clipped']}"
    if rows is not None:
        assert got["rows"] == rows, got


def test_teacher_flow_at_1024x768(page):
    from playwright.sync_api import expect

    expect.set_options(timeout=120_000)  # a CPU generation takes seconds, not milliseconds
    expect(page.locator("#intro")).to_contain_text("Try first")
    expect(page.locator("#header")).to_contain_text("smollm2-135m")
    expect(page.locator("#header")).to_contain_text("task four-letter")  # what it learned
    fits(page, "#completions-table", rows=0)  # real headers, no "1 2 3" placeholder
    shot(page, "01-loaded")

    # a wrong field: its message under it, nothing else changes
    page.locator("#num-samples input").fill("40")
    page.locator("#generate-btn").click()
    expect(page.get_by_text("num_samples must be 1..16 (got 40)")).to_be_visible()
    page.locator("#num-samples input").fill("4")

    # generate: prompt shown with each completion, the table fits the projector
    page.locator("#prompt textarea").fill("Tomorrow I'm gonna learn for exam")
    page.locator("#generate-btn").click()
    expect(page.locator("#generate-status")).to_contain_text("4 completions from")
    highlight = page.locator("#highlight")
    expect(highlight).to_contain_text("Tomorrow I'm gonna learn for exam")
    assert highlight.locator(".token.highlighted").count() > 3  # coloured phrases
    fits(page, "#completions-table", rows=4)
    page.get_by_text("Every reward's score, and what each column means").click()
    expect(page.locator("#reward-legend")).to_contain_text("distinct_words")
    fits(page, "#scores-table", rows=4)
    expect(page.get_by_text("Download this session's 4 samples (CSV)")).to_be_visible()
    shot(page, "02-generated")

    # compare: one column per model, each scored by its own task
    page.locator("#num-samples input").fill("2")
    page.locator("#compare-btn").click()
    expect(page.locator("#generate-status")).to_contain_text(" models × 2, seed 0")
    models = int(page.locator("#generate-status").inner_text().split(": ")[1].split()[0])
    columns = page.locator("#compare-cols .cmp-col")
    assert columns.count() == models >= 3  # base + the shipped adapters (+ any trained)
    tops = {round(columns.nth(i).bounding_box()["y"]) for i in range(min(models, 4))}
    assert len(tops) == 1  # side by side, not stacked: four to a row at 1024 px
    expect(columns.nth(1)).to_contain_text("task reward")
    fits(page, "#compare-summary")
    shot(page, "03-compared")


def test_training_at_1024x768(page):
    from playwright.sync_api import expect

    expect.set_options(timeout=300_000)
    page.get_by_role("tab", name="Train").click()
    expect(page.locator("#preset-remark")).to_contain_text("min for the whole run")

    # the reward lab: does this reward teach anything? (the base model's own groups)
    page.get_by_text("Build your own reward (no code) and test it on the base").click()
    expect(page.locator("#reward-builder")).to_contain_text("n_letter")
    page.locator("#reward-spec textarea").fill("1*nope")
    page.locator("#start-btn").click()
    expect(page.get_by_text("Reward: unknown reward term 'nope'")).to_be_visible()
    page.locator("#reward-spec textarea").fill("")
    page.locator("#score-base-btn").click()
    expect(page.locator("#score-verdict")).to_contain_text("can move the model")
    fits(page, "#score-table")
    shot(page, "04-scored-base")
    page.locator("#adapter-name textarea, #adapter-name input").first.fill("browser-run")
    for field, value in (("#max-steps", "2"), ("#max-len", "8")):
        box = page.locator(f"{field} input").first
        box.fill(value)
        box.press("Tab")
    page.locator("#start-btn").click()
    progress = page.locator("#train-progress")
    expect(progress).to_contain_text("step 1/2")
    expect(page.locator("#reward-plot img").first).to_be_visible()
    expect(progress).to_contain_text("finished")
    expect(progress).to_contain_text("browser-run")
    fits(page, "#step-table")  # 32 rows; only those in view are rendered
    expect(page.locator("#learning-signal")).to_contain_text("tied groups")
    shot(page, "04-training-finished")

    # a second Start with the same name: refused under the name field, the charts stay
    page.locator("#start-btn").click()
    expect(page.get_by_text("adapter 'browser-run' already exists")).to_be_visible()
    expect(page.locator("#reward-plot img").first).to_be_visible()

    # the new adapter is listed and preselected in Evaluate without a reload
    page.get_by_role("tab", name="Evaluate").click()
    expect(page.locator("#eval-models")).to_contain_text("browser-run")
    page.locator("#eval-n input").fill("4")
    page.locator("#evaluate-btn").click()
    expect(page.locator("#eval-status")).to_contain_text("4 per model")
    expect(page.locator("#eval-status")).to_contain_text("collapsed (one word repeated): hacked")
    fits(page, "#table1")
    fits(page, "#diversity")
    shot(page, "05-evaluated")

    # playground: switch to the new adapter without reloading the page
    page.get_by_role("tab", name="Playground").click()
    page.locator("#adapter-choice input").first.click()
    page.get_by_role("option", name="browser-run").click()
    page.locator("#generate-btn").click()
    expect(page.locator("#generate-status")).to_contain_text("completions from browser-run")
    expect(page.locator("#completions-table")).to_contain_text("browser-run")
