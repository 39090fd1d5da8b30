"""The run report: one self-contained HTML file per saved adapter (``grpo_demo/report.py``).

Built from copies of the shipped adapters (nothing is written into checkpoints/) and read
back with the stdlib's HTML parser: the run's own numbers are in it, nothing in it loads
anything, and text from a run comes out as text. One test opens it in Chromium, offline.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from grpo_demo.metrics import diversity, first_collapse, looks_collapsed
from grpo_demo.report import report_html, write_report
from grpo_demo.store import CHECKPOINTS_ENV, AdapterError, load_steps

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "checkpoints" / "smollm2-135m"
ARTIFACTS = ROOT / "test-artifacts"
HOSTILE = '</td><script>alert(1)</script><img src="https://evil.example/x.png"> & "q"'


class Page(HTMLParser):
    """Text chunks, table rows (cell texts), every tag and every attribute of a page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.rows: list[list[str]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._cell: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        self.texts.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.texts).split())

    def srcs(self, tag: str) -> list[str]:
        return [a.get("src") or "" for t, a in self.tags if t == tag]


@pytest.fixture
def ckpt(tmp_path) -> Path:
    """``<tmp>/ckpt/smollm2-135m`` holding copies of the shipped hacked and four-letter."""
    folder = tmp_path / "ckpt" / "smollm2-135m"
    for name in ("hacked", "four-letter"):
        shutil.copytree(SHIPPED / name, folder / name)
    return folder


def expected_collapse(folder: Path) -> int | None:
    """What metrics.py says, computed here from the saved steps (else run.json's history)."""
    steps = load_steps(folder)
    if steps:
        divs = [diversity([c["completion"] for c in s["completions"]]) for s in steps]
        flags = [(looks_collapsed(d), d["distinct_1"]) for d in divs]
        numbers = [s["step"] for s in steps]
    else:
        history = json.loads((folder / "run.json").read_text())["history"]
        flags = [(bool(h.get("collapsed")), h["distinct_1"]) for h in history]
        numbers = [h["step"] for h in history]
    i = first_collapse(flags)
    return None if i is None else numbers[i]


@pytest.mark.parametrize("name", ["hacked", "four-letter"])
def test_the_report_holds_the_runs_own_numbers(ckpt, tmp_path, name):
    run = json.loads((ckpt / name / "run.json").read_text())
    path = write_report(ckpt, name, tmp_path / f"{name}.html")
    page = Page(path.read_text())
    assert f"{name}: GRPO run report" in page.text
    assert run["base_model"] in page.text and run["created"][:10] in page.text
    assert f"{run['reward_first']:.3f} → {run['reward_last']:.3f}" in page.text
    assert ["steps", f"{run['steps']} of {run['config']['max_steps']}"] in page.rows
    assert ["learning_rate", f"{run['grpo']['learning_rate']:g}"] in page.rows
    assert ["seed", str(run["seed"])] in page.rows
    assert ["s/step", f"{run['seconds_per_step']:g}"] in page.rows
    assert ["device", run["device"]] in page.rows
    for key in [*run["config"], *run["grpo"]]:  # every config field, every resolved GRPO value
        assert any(r and r[0] == key for r in page.rows), key
    assert ["python", run["versions"]["python"]] in page.rows
    for term in run["reward_funcs"]:
        assert term in page.text
    collapsed = expected_collapse(ckpt / name)
    verdict = next(a for t, a in page.tags if a.get("id") == "verdict")
    if collapsed is None:
        assert "Did not collapse" in page.text and "good" in (verdict["class"] or "")
    else:
        assert f"Collapsed at step {collapsed}" in page.text and "bad" in (verdict["class"] or "")


def test_the_verdicts_tell_the_hack_from_the_real_thing(ckpt):
    assert expected_collapse(ckpt / "hacked") is not None
    assert expected_collapse(ckpt / "four-letter") is None
    assert "Collapsed at step" in Page(report_html(ckpt, "hacked")).text
    assert "Did not collapse" in Page(report_html(ckpt, "four-letter")).text


def test_the_report_shows_saved_completions_and_probes(ckpt):
    steps = load_steps(ckpt / "hacked")
    page = Page(report_html(ckpt, "hacked"))
    for step in (steps[0], steps[-1]):
        best = max(step["completions"], key=lambda c: c["advantage"])
        assert best["completion"] in page.texts
        assert f"step {step['step']}: the 4 of {len(step['completions'])}" in page.text
    probes = json.loads((ckpt / "hacked" / "run.json").read_text())["probes"]
    assert probes["base"][0] in page.texts and steps[-1]["probes"][0] in page.texts
    headings = [r for r in page.rows if r and r[0].startswith(("base", "step "))]
    assert headings[0][0] == "base"  # the base model's answer first, then the probed steps


def test_the_report_loads_nothing(ckpt):
    for name in ("hacked", "four-letter"):
        text = report_html(ckpt, name)
        page = Page(text)
        images = page.srcs("img")
        assert len(images) >= 4  # reward, terms, diversity, entropy
        for src in images:
            assert src.startswith("data:image/png;base64,")
            assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
        for tag, attrs in page.tags:
            assert tag not in ("script", "link", "iframe", "object", "embed", "base"), tag
            for key in ("src", "href", "action", "srcset", "poster", "data"):
                value = (attrs.get(key) or "").strip().lower()
                assert not value.startswith(("http:", "https:", "//")), (tag, key, value)
        assert "url(" not in text and "@import" not in text
        csp = next(a["content"] for t, a in page.tags if a.get("http-equiv"))
        assert "default-src 'none'" in csp


def test_text_from_a_run_is_escaped(ckpt):
    folder = ckpt / "hacked"
    steps = load_steps(folder)
    steps[0]["completions"][0] |= {"completion": HOSTILE, "prompt": HOSTILE, "advantage": 99.0}
    steps[-1]["probes"][0] = HOSTILE
    (folder / "steps.jsonl").write_text("".join(json.dumps(s) + "\n" for s in steps))
    run = json.loads((folder / "run.json").read_text())
    run["probes"]["prompts"][0] = HOSTILE
    run["device"] = HOSTILE
    (folder / "run.json").write_text(json.dumps(run))
    text = report_html(ckpt, "hacked")
    page = Page(text)
    assert HOSTILE in page.texts  # shown as the text it is
    assert "<script" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert all(src.startswith("data:") for src in page.srcs("img"))
    assert not any(tag == "script" for tag, _ in page.tags)


def test_unknown_or_empty_adapters_are_named(ckpt):
    with pytest.raises(AdapterError, match=r"unknown adapter 'nope'.*four-letter, hacked"):
        report_html(ckpt, "nope")
    with pytest.raises(AdapterError, match=r"unknown adapter '\.\./hacked'"):
        report_html(ckpt, "../hacked")
    bare = ckpt / "bare"
    shutil.copytree(ckpt / "hacked", bare)
    (bare / "steps.jsonl").unlink()
    run = json.loads((bare / "run.json").read_text())
    (bare / "run.json").write_text(json.dumps({**run, "history": []}))
    with pytest.raises(AdapterError, match=r"bare: no steps\.jsonl and no per-step history"):
        write_report(ckpt, "bare")
    assert not (bare / "report.html").exists()


def test_the_default_file_sits_next_to_run_json(ckpt):
    assert write_report(ckpt, "four-letter") == ckpt / "four-letter" / "report.html"


def cli(*args: str, root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", CHECKPOINTS_ENV: str(root)}
    env.pop("GRPO_DEMO_MODEL", None)
    nice = ["nice", "-n", "19"] if shutil.which("nice") else []
    return subprocess.run(
        [*nice, sys.executable, "-m", "grpo_demo", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_report_verb(ckpt, tmp_path):
    out = tmp_path / "out" / "hacked.html"
    done = cli("report", "hacked", "--out", str(out), root=ckpt.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    assert "Collapsed at step" in Page(out.read_text()).text
    missing = cli("report", "nope", root=ckpt.parent)
    assert missing.returncode == 4 and "unknown adapter 'nope'" in missing.stderr


@pytest.mark.browser
def test_the_report_reads_offline_at_1024x768(ckpt, tmp_path):
    from tests.test_browser import ARGS, CHROMIUM

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run bash scripts/setup.sh --dev")
    from playwright.sync_api import expect, sync_playwright

    path = write_report(ckpt, "hacked", tmp_path / "hacked.html")
    ARTIFACTS.mkdir(exist_ok=True)
    asked: list[str] = []

    def only_files(route) -> None:
        url = route.request.url
        if url.startswith("file:"):
            route.continue_()
        else:
            asked.append(url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
            page.route("**/*", only_files)
            local = ("file:", "data:")
            page.on("request", lambda r: r.url.startswith(local) or asked.append(r.url))
            page.goto(path.as_uri())
            expect(page.locator("h1")).to_be_visible()
            expect(page.locator("h1")).to_contain_text("hacked: GRPO run report")
            assert page.locator("h1").bounding_box()["y"] < 768
            widths = page.evaluate("[...document.images].map(i => i.complete && i.naturalWidth)")
            assert len(widths) >= 4 and all(w > 0 for w in widths), widths
            rights = page.evaluate("[...document.images].map(i => i.getBoundingClientRect().right)")
            assert max(rights) <= 1024
            assert page.evaluate("document.documentElement.scrollWidth - innerWidth") <= 0
            page.screenshot(path=str(ARTIFACTS / "report.png"))
            page.screenshot(path=str(ARTIFACTS / "report-full.png"), full_page=True)
        finally:
            browser.close()
    assert asked == []
