"""A real browser (Debian's Chromium, driven by Playwright) uses the app like a teacher would,
on a projector's 1024×768, and checks the layout, not just that things are there: no page-wide
horizontal scroll, no table header narrower than its longest word, no completion text clipped.

Screenshots land in test-artifacts/ (CI keeps them as artefacts; docs/ holds copies).
"""

from __future__ import annotations

import json
import shutil
import time
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
def browser(live_app):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run bash scripts/setup.sh --dev")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


def open_page(browser, url: str):
    """A new browser session (its own context: cookies, Gradio session) at 1024x768."""
    page = browser.new_context(viewport=PROJECTOR).new_page()
    page.set_default_timeout(120_000)
    page.goto(url)
    return page


@pytest.fixture(scope="module")
def page(browser, live_app):
    """The teacher's page."""
    return open_page(browser, live_app.url)


@pytest.fixture(scope="module")
def student(browser, live_app):
    """A second session, as a student in the same class."""
    return open_page(browser, live_app.url)


def shot(page, name: str, at: str | None = None) -> None:
    """What the class sees: the 1024x768 window (scrolled to ``at`` first, when given)."""
    if at:
        page.locator(at).first.scroll_into_view_if_needed()
        page.evaluate(f"document.querySelector('{at}').scrollIntoView({{block: 'start'}})")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


SCROLLS = """(selector) => {
  const v = document.querySelector(`${selector} .virtual-table-viewport`);
  return !!v && v.scrollWidth > v.clientWidth && getComputedStyle(v).overflowX === 'auto';
}"""


def fits(page, selector: str, rows: int | None = None, scrolls: bool | None = False) -> None:
    """The table at ``selector`` reads on the projector (see LAYOUT); ``scrolls``: a table
    wider than the window at 16 px, whose columns past the edge scroll inside its own box
    (None: a table whose width depends on how many models there are, either)."""
    page.locator(selector).first.wait_for(state="visible")  # an accordion renders it on opening
    got = page.evaluate(LAYOUT, selector)
    assert got["page"] <= 0, f"the page scrolls sideways by {got['page']} px"
    assert not got["narrow"], f"{selector}: headers narrower than their words: {got['narrow']}"
    if scrolls or (scrolls is None and got["outside"]):
        assert page.evaluate(SCROLLS, selector), f"{selector}: does not scroll in its own box"
    else:
        assert not got["outside"], f"{selector}: columns past the right edge: {got['outside']}"
    assert not got["clipped"], f"{selector}: completion text clipped: {got['clipped']}"
    if rows is not None:
        assert got["rows"] == rows, got


SMALL_PRINT = """() => {
  const small = [];
  const root = document.querySelector('.gradio-container');
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent.trim();
    const el = walker.currentNode.parentElement;
    if (!text || el.closest('footer')) continue;  // Gradio's "Built with Gradio" line
    const r = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (r.width <= 1 || r.height <= 1 || style.visibility === 'hidden' || style.opacity === '0')
      continue;  // not shown: screen-reader text, a drop hint before a drag
    const least = el.closest('table') ? 16 : 18;
    const size = parseFloat(style.fontSize);
    if (size < least) small.push(`${size} px < ${least}: ${text.slice(0, 40)}`);
  }
  return small;
}"""


def readable(page) -> None:
    """Every text shown is at least 18 px, in a table at least 16 px (the back of the room)."""
    small = page.evaluate(SMALL_PRINT)
    assert not small, f"small print: {small[:8]}"


def chart_text_px(page, selector: str) -> float:
    """The charts' smallest text as drawn on screen: its points at the figure's 100 dpi,
    scaled by the image's shown width over its own."""
    from grpo_demo.ui.train_views import CHART_FONT

    shown, own = page.evaluate(
        f"(() => {{ const i = document.querySelector('{selector} img');"
        " return [i.getBoundingClientRect().width, i.naturalWidth]; })()"
    )
    return min(CHART_FONT.values()) * 100 / 72 * shown / own


WATCH_CHART = """() => {
  window.chartWatch = {least: Infinity, steps: new Set()};
  setInterval(() => {
    const img = document.querySelector('#reward-plot img');
    const h = img ? img.getBoundingClientRect().height : 0;
    window.chartWatch.least = Math.min(window.chartWatch.least, h);
    const m = document.getElementById('train-progress').innerText.match(/step (\\d+)\\//);
    if (m) window.chartWatch.steps.add(m[1]);
  }, 40);
}"""
"""Samples the reward chart's drawn height while steps arrive (Gradio redraws the plot at
each update: it must keep its box, never blank)."""


IN_VIEW = """(ids) => ids.map(id => {
  const r = document.getElementById(id).getBoundingClientRect();
  return [id, Math.round(r.top), Math.round(r.bottom)];
})"""


def in_view(page, *ids: str) -> None:
    """Each element entirely inside the 1024x768 window as it is scrolled now."""
    for name, top, bottom in page.evaluate(IN_VIEW, list(ids)):
        assert top >= 0 and bottom <= PROJECTOR["height"], f"{name} spans {top}..{bottom} px"


def above_the_fold(page, *ids: str) -> None:
    """Each element inside the first screen, before any scrolling."""
    page.evaluate("window.scrollTo(0, 0)")
    in_view(page, *ids)


def all_rows_shown(page, selector: str, rows: int) -> None:
    """Every row of a (virtualised) table is rendered: none hides below its own scroll."""
    got = page.evaluate(LAYOUT, selector)
    assert got["rows"] == rows, f"{selector}: {got['rows']} of {rows} rows show"


def set_numbers(page, values: dict[str, str]) -> None:
    """Type into number fields as a user does (then leave each field)."""
    for field, value in values.items():
        box = page.locator(f"{field} input").first
        box.fill(value)
        box.press("Tab")


def test_teacher_flow_at_1024x768(page):
    from playwright.sync_api import expect

    expect.set_options(timeout=120_000)  # a CPU generation takes seconds, not milliseconds
    expect(page.locator("#intro")).to_contain_text("Try first")
    expect(page.locator("#header")).to_contain_text("smollm2-135m")
    expect(page.locator("#header")).to_contain_text("task four-letter")  # what it learned
    size = page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('#intro p')).fontSize)"
    )
    assert size >= 18, f"body text {size} px: too small for the back of the room"
    above_the_fold(page, "generate-btn", "compare-btn", "temperature", "seed", "num-samples")
    readable(page)
    fits(page, "#completions-table", rows=0)  # real headers, no "1 2 3" placeholder
    shot(page, "01-loaded")

    # a wrong field: its message under it, nothing else changes
    page.locator("#num-samples input").fill("40")
    page.locator("#generate-btn").click()
    expect(page.get_by_text("num_samples must be 1..16 (got 40)")).to_be_visible()
    page.locator("#num-samples input").fill("4")
    page.locator("#prompt textarea").fill("\x00\x01\x02")  # control characters: refused
    page.locator("#generate-btn").click()
    expect(page.get_by_text("control character")).to_be_visible()

    # generate: prompt shown with each completion, the table fits the projector
    page.locator("#prompt textarea").fill("Tomorrow I'm gonna learn for exam")
    page.locator("#generate-btn").click()
    expect(page.locator("#generate-status")).to_contain_text("4 completions from")
    highlight = page.locator("#highlight")
    expect(highlight).to_contain_text("Tomorrow I'm gonna learn for exam")
    assert highlight.locator(".token.highlighted").count() > 3  # coloured phrases
    fits(page, "#completions-table", rows=4)
    expect(page.locator("#columns-note")).to_contain_text("“pie.” is 4")  # the two columns
    readable(page)
    page.get_by_text("Every reward's score, and what each column means").click()
    expect(page.locator("#reward-legend")).to_contain_text("distinct_words")
    fits(page, "#scores-table", rows=4, scrolls=True)
    expect(page.get_by_text("Download this session's 4 samples (CSV)")).to_be_visible()
    shot(page, "02-generated", at="#prompt")

    # compare: one column per model in one row, each scored by its own task
    page.locator("#num-samples input").fill("2")
    page.locator("#compare-btn").click()
    expect(page.locator("#generate-status")).to_contain_text(" models × 2, seed 0")
    models = int(page.locator("#generate-status").inner_text().split(": ")[1].split()[0])
    columns = page.locator("#compare-cols .cmp-col")
    assert columns.count() == models >= 4  # base + the shipped adapters (+ any trained)
    tops = {round(columns.nth(i).bounding_box()["y"]) for i in range(models)}
    assert len(tops) == 1  # one row however many models: it scrolls sideways inside its box
    expect(columns.nth(1)).to_contain_text("task reward")
    fits(page, "#compare-summary", scrolls=None)  # one task column per trained task
    shot(page, "03-compared", at="#generate-status")


def test_training_with_a_student_at_1024x768(browser, live_app, page, student):
    from playwright.sync_api import expect

    expect.set_options(timeout=300_000)
    page.get_by_role("tab", name="Train").click()
    expect(page.locator("#preset-remark")).to_contain_text("min for the whole run")
    above_the_fold(page, "start-btn", "stop-btn")
    expect(page.locator("#before-now")).to_contain_text("Tomorrow I'm gonna learn for exam")

    # bad numbers: the page goes to the fields at fault, each outlined with its message under
    # it; the box under Start names them; the typed values stay
    set_numbers(page, {"#lr": "0", "#max-steps": "-1"})
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("#start-btn").click()
    refusal = page.locator("#start-refusals")
    expect(refusal).to_contain_text("Start refused")
    expect(refusal).to_contain_text("How fast it learns (learning_rate), Training steps")
    assert "*" not in refusal.inner_text()  # no stray markdown
    expect(page.locator("#lr")).to_contain_text("learning_rate must be > 0 (got 0")
    expect(page.locator("#max-steps")).to_contain_text("max_steps must be 1..10000 (got -1)")
    assert page.locator(".refused").count() == 2  # those two fields, none else
    outline = page.evaluate("getComputedStyle(document.querySelector('#lr input')).boxShadow")
    assert "220, 38, 38" in outline, outline  # outlined in red
    page.wait_for_function(  # the smooth scroll has brought both messages into the window
        """() => ['lr', 'max-steps'].every(id => {
            const r = document.getElementById(id).getBoundingClientRect();
            return r.top >= 0 && r.bottom <= window.innerHeight; })"""
    )
    in_view(page, "lr", "max-steps")
    readable(page)
    shot(page, "04a-refused")
    page.wait_for_timeout(3000)  # not a toast that fades
    expect(refusal).to_contain_text("Start refused")
    assert page.locator("#max-steps input").first.input_value() == "-1"
    set_numbers(page, {"#lr": "0.0035", "#max-steps": "0", "#max-len": "99999"})

    # the reward lab: every term in view, a refusal names the term; does this reward teach?
    page.get_by_text("Build your own reward (no code) and test it on the base").click()
    expect(page.locator("#reward-builder")).to_contain_text("n_letter")
    all_rows_shown(page, "#reward-builder", 12)  # n_letter and length_window too
    page.locator("#reward-spec textarea").fill("1*nope")
    page.locator("#start-btn").click()
    expect(refusal).to_contain_text("Custom reward")
    expect(page.locator("#reward-spec")).to_contain_text("unknown reward term 'nope'")
    assert page.locator("#reward-spec textarea").input_value() == "1*nope"  # still visible
    page.locator("#score-base-btn").click()  # the bad reward again: said where the answer goes
    expect(page.locator("#score-verdict")).to_contain_text("Not scored: unknown reward term")
    page.locator("#reward-spec textarea").fill("")
    set_numbers(page, {"#max-len": "8"})
    page.locator("#score-base-btn").click()
    expect(page.locator("#score-verdict")).to_contain_text("can move the model")
    fits(page, "#score-table")
    shot(page, "04-scored-base", at="#reward-spec")

    # the teacher starts a run: progress, before-vs-now and the chart share one screen
    page.locator("#adapter-name textarea, #adapter-name input").first.fill("browser-run")
    set_numbers(page, {"#max-steps": "40", "#max-len": "48"})  # the preset's own size
    page.locator("#start-btn").click()
    started = time.time()
    progress = page.locator("#train-progress")
    expect(progress).to_contain_text("step 1/40")
    expect(refusal).to_have_text("")
    assert page.locator(".refused").count() == 0  # the outlines and messages are gone
    expect(page.locator("#before-now")).to_contain_text("now (step 1)")
    expect(page.locator("#reward-plot img").first).to_be_visible()
    page.wait_for_timeout(1500)  # the smooth scroll
    in_view(page, "train-progress", "before-now", "reward-plot")
    expect(progress).to_contain_text("started on this page")
    expect(progress).to_contain_text("step 4/40")  # a few steps of the real classroom size
    expect(page.locator("#before-now")).to_contain_text("now (step 4)")
    expect(page.locator("#before-now")).to_contain_text("mean of 5:")
    page.evaluate(WATCH_CHART)  # from now on, every 40 ms: is the reward chart drawn?
    readable(page)
    assert chart_text_px(page, "#reward-plot") >= 18
    shot(page, "05-training", at="#train-progress")  # README's Train picture
    page.wait_for_timeout(2500)  # the watchers' timer has ticked: it knows this page owns it
    expect(progress).to_contain_text("started on this page")

    # a student sees who runs it; their Stop is refused and the run goes on
    student.get_by_role("tab", name="Train").click()
    expect(student.locator("#train-progress")).to_contain_text("only that page")
    expect(student.locator("#train-progress")).to_contain_text("left")
    student.locator("#stop-btn").click()
    student.locator("#stop-yes").click()  # Stop asks first
    expect(student.locator("#stop-note")).to_contain_text("Stop refused")
    expect(progress).to_contain_text("running")
    student.locator("#start-btn").click()  # nor can a student start a second run: said
    says = student.locator("#start-refusals")  # plainly, whose run and how long; no form error
    expect(says).to_contain_text("the run 'browser-run' is going (step")
    expect(says).to_contain_text("left")
    assert "fix" not in says.inner_text().lower()
    assert student.locator(".refused").count() == 0
    in_view(student, "start-refusals")
    shot(student, "05b-student-start-refused")
    late = open_page(browser, live_app.url)  # a page opened mid-run shows the run's settings
    late.get_by_role("tab", name="Train").click()
    expect(late.locator("#adapter-name input, #adapter-name textarea").first).to_have_value(
        "browser-run"
    )
    expect(late.locator("#max-steps input").first).to_have_value("40")
    late.close()

    page.wait_for_function("window.chartWatch.steps.size >= 2")  # a new step was drawn
    least = page.evaluate("window.chartWatch.least")
    assert least >= 300, f"the chart shrank to {least} px high between two steps"  # not blank

    # the teacher stops it (after confirming): the adapter is saved, with a final probe
    page.locator("#stop-btn").click()
    expect(page.locator("#stop-confirm")).to_contain_text("Stop the run after the current step?")
    page.locator("#stop-yes").click()
    expect(page.locator("#stop-note")).to_contain_text("Stop requested")
    expect(progress).to_contain_text("stopped")
    expect(progress).to_contain_text("browser-run")
    last = int(progress.inner_text().split("step ")[1].split("/")[0])
    # the run kept this machine's pace itself (the next start's hint and ETA read it)
    from grpo_demo.pace import MEASURED, machine, pace_file, step_seconds

    kept = json.loads(pace_file().read_text())[f"{machine()} smollm2-135m"]["1536"]
    assert pace_file().stat().st_mtime > started and kept > 0
    assert step_seconds("smollm2-135m", 1536) == (pytest.approx(kept), MEASURED)
    expect(page.locator("#before-now")).to_contain_text(f"now (step {last})")
    fits(page, "#step-table")  # 32 rows; only those in view are rendered
    page.get_by_text("Before-vs-now history").click()
    fits(page, "#probe-table")
    page.get_by_text("The learning signal in numbers").click()
    expect(page.locator("#learning-signal")).to_contain_text("tied groups")
    shot(page, "06-training-stopped", at="#train-progress")

    # a second Start with the same name: refused, the charts stay
    page.locator("#start-btn").click()
    expect(refusal).to_contain_text("Fix **Save as**".replace("**", ""))
    expect(page.locator("#adapter-name")).to_contain_text("adapter 'browser-run' already exists")
    in_view(page, "adapter-name", "start-refusals")  # the name's message and the box: on screen
    expect(page.locator("#reward-plot img").first).to_be_visible()

    # the step browser names a bad step under its field
    page.get_by_text("Browse every step of a run").click()
    page.locator("#browse-run input").first.fill("browser-run")
    page.locator("#browse-step input").first.fill("-1")
    page.locator("#browse-btn").click()
    expect(page.get_by_text("step must be 1..10000 (got -1)")).to_be_visible()

    # the new adapter is listed and preselected in Evaluate without a reload
    page.get_by_role("tab", name="Evaluate").click()
    expect(page.locator("#eval-models")).to_contain_text("browser-run")
    page.locator("#eval-n input").fill("0")
    page.locator("#evaluate-btn").click()
    expect(page.get_by_text("must be 1..1000 (got 0)")).to_be_visible()
    page.locator("#eval-n input").fill("4")
    page.locator("#evaluate-btn").click()
    # an estimate before the first batch ends, from the measured pace
    expect(page.locator("#eval-status")).to_contain_text("left (this machine's measured pace)")
    expect(page.locator("#eval-status")).to_contain_text("4 per model")
    expect(page.locator("#win-rates")).to_contain_text(" of 4; 95 % interval ")
    readable(page)
    expect(page.locator("#eval-status")).to_contain_text("collapsed (one word repeated): hacked")
    fits(page, "#table1")
    fits(page, "#diversity")
    shot(page, "07-evaluated")

    # playground: switch to the new adapter without reloading the page
    page.get_by_role("tab", name="Playground").click()
    page.locator("#adapter-choice input").first.click()
    page.get_by_role("option", name="browser-run").click()
    page.locator("#generate-btn").click()
    expect(page.locator("#generate-status")).to_contain_text("completions from browser-run")
    expect(page.locator("#completions-table")).to_contain_text("browser-run")


def test_what_changed_at_1024x768(page):
    """Click an answer: the token view opens with it; where an adapter acts; two runs side
    by side (the shipped four-letter vs hacked: same reward, 5x the learning rate)."""
    from playwright.sync_api import expect

    expect.set_options(timeout=120_000)
    page.get_by_role("tab", name="Playground").click()
    page.locator("#adapter-choice input").first.click()
    page.get_by_role("option", name="four-letter").click()
    page.locator("#num-samples input").fill("2")
    page.locator("#generate-btn").click()
    expect(page.locator("#generate-status")).to_contain_text("2 completions from four-letter")
    row = page.locator("#completions-table .virtual-row").first  # Gradio's body rows
    row.locator(":scope > *").nth(2).click()  # the first answer's text
    expect(page.locator("#tc-view")).to_contain_text("more likely", timeout=60_000)
    expect(page.locator("#tc-completion textarea")).not_to_have_value("")
    assert page.locator("#tc-view .tc-tok").count() > 3
    fits(page, "#tc-table", rows=8)
    shot(page, "08-token-change", at="#tc-view")

    page.get_by_text("Where the adapter acts").click()
    page.locator("#map-adapter input").first.fill("hacked")
    page.locator("#map-btn").click()
    expect(page.locator("#map-line")).to_contain_text("Largest updates in")
    expect(page.locator("#map-plot img").first).to_be_visible()
    shot(page, "09-adapter-map", at="#map-line")

    page.get_by_text("Runs side by side").click()
    expect(page.locator("#overlay-runs")).to_contain_text("hacked")
    page.locator("#overlay-btn").click()
    expect(page.locator("#overlay-settings")).to_contain_text("learning_rate")
    expect(page.locator("#overlay-plot img").first).to_be_visible()
    fits(page, "#overlay-settings")
    shot(page, "10-overlay", at="#overlay-plot")
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the page scrolls sideways by {wide} px"

    # the Train form as a command line, following the form; the loss type among its fields
    page.get_by_role("tab", name="Train").click()
    page.locator("#preset input").first.fill("classroom-four-letter-dr-grpo")
    page.keyboard.press("Enter")
    command = page.locator("#cli-command")
    expect(command).to_contain_text("python -m grpo_demo train")
    expect(command).to_contain_text("--preset classroom-four-letter-dr-grpo")
    expect(page.locator("#loss input").first).to_have_value("dr_grpo")
    page.locator("#lr input").fill("0.002")
    page.locator("#lr input").press("Tab")
    expect(command).to_contain_text("--learning-rate 0.002")
    shot(page, "11-command", at="#loss")
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the page scrolls sideways by {wide} px"
