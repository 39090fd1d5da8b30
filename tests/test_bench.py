"""bench/ is a package of tools run as ``python -m bench.<tool>`` from the repository root.

The report runs on the shipped results (no model, a few seconds); the other tools only have to
start. The attempts table's rows for the shipped adapters must equal what their kept
evaluations give today, so the recorded numbers cannot drift from the code that made them.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ATTEMPTS = ROOT / "bench" / "attempts.csv"


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def attempts() -> list[dict[str, str]]:
    with ATTEMPTS.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp("report") / "tables.md"
    done = bench("bench.reproduce", "report", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    return out.read_text(), out.parent


def test_report_lists_every_attempt_and_passes_both_shipped_adapters(report):
    from grpo_demo.quality import BARS

    text, folder = report
    for row in attempts():
        assert f"| {row['label']} | {row['status']} |" in text or row["status"] == "shipped"
        assert row["label"] in text
    sections = {s.split(":", 1)[0]: s for s in text.split("\n## ")[1:]}
    assert set(sections) == set(BARS)
    for task, bars in BARS.items():
        section = sections[task]
        assert section.startswith(f"{task}: base vs `{bars.adapter}`")
        assert section.count("\n- PASS: ") == 3
        assert "\n- FAIL: " not in section
        assert (folder / f"histograms-{task}.png").stat().st_size > 0  # beside --out


def test_attempts_table_is_complete():
    from grpo_demo.quality import BARS

    rows = attempts()
    labels = [r["label"] for r in rows]
    assert len(labels) == len(set(labels))
    assert {r["status"] for r in rows} <= {"shipped", "superseded", "experiment"}
    shipped = {r["task"]: r["label"] for r in rows if r["status"] == "shipped"}
    assert shipped == {task: bars.adapter for task, bars in BARS.items()}
    for r in rows:
        assert r["change"].strip() and "\n" not in r["change"]
        assert int(r["tokens"]) == BARS[r["task"]].tokens


def test_shipped_rows_match_their_kept_evaluations(tmp_path):
    """Re-record each shipped adapter from its evaluation: the committed row must come back."""
    rows = {r["label"]: r for r in attempts()}
    fresh = tmp_path / "attempts.csv"
    for r in rows.values():
        if r["status"] != "shipped":
            continue
        args = ["--attempts", str(fresh), "record", r["label"], "--task", r["task"]]
        done = bench("bench.reproduce", *args, "--status", "shipped", "--change", r["change"])
        assert done.returncode == 0, done.stderr[-2000:]
    with fresh.open(newline="") as f:
        for again in csv.DictReader(f):
            assert again == rows[again["label"]]


TOOLS = (
    "bench.app_step",
    "bench.classroom",
    "bench.hack",
    "bench.interleaved",
    "bench.load",
    "bench.profile",
    "bench.recipes",
    "bench.reproduce",
    "bench.speed",
)


def test_every_tool_is_listed():
    """A tool added to bench/ or removed from it changes the list the next test starts."""
    tools = {f"bench.{p.stem}" for p in (ROOT / "bench").glob("*.py") if p.stem != "__init__"}
    assert tools == set(TOOLS)


@pytest.mark.parametrize("tool", TOOLS)
def test_tools_start(tool):
    done = bench(tool, "--help")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout


def test_no_tool_edits_sys_path():
    offenders = [p.name for p in (ROOT / "bench").rglob("*.py") if "sys.path" in p.read_text()]
    assert offenders == []


def test_the_floor_of_a_classroom_step_is_its_flops_at_the_peak():
    """The issue's own numbers: 135M parameters, 32 sequences of 8 prompt + 32 new tokens,
    a 350 GFLOP/s bf16 peak: 344 G + 689 G FLOPs, 0.98 s + 1.97 s = 2.95 s."""
    from bench.common import Floor

    f = Floor(4, 8, 32, 8.0, 134_515_008, 350.0, "bfloat16")
    assert round(f.rollout_flops / 1e9) == 344 and round(f.update_flops / 1e9) == 689
    assert (round(f.rollouts_s, 2), round(f.update_s, 2), round(f.step_s, 2)) == (0.98, 1.97, 2.95)


def test_a_table_replaces_its_own_markers_only(tmp_path):
    from bench.common import write_between

    doc = tmp_path / "B.md"
    doc.write_text("# B\n\nintro\n\n## one\n<!-- a -->old<!-- /a -->\n\n## two\n")
    write_between("<!-- a -->", "<!-- /a -->", "<!-- a -->new<!-- /a -->", doc)
    write_between("<!-- b -->", "<!-- /b -->", "<!-- b -->first<!-- /b -->", doc)
    assert doc.read_text() == (
        "# B\n\nintro\n\n<!-- b -->first<!-- /b -->\n\n## one\n<!-- a -->new<!-- /a -->\n\n## two\n"
    )
