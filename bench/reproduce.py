"""Reproduce the lab report on the bundled model: config sweep, Table 1, samples, quality bars.

Stages (run from the repository root; each reads and writes under ``results/``, so they can run
apart and be re-run one at a time):

    python -m bench.reproduce sweep --steps 8        # default, config_1..4: reward curves
    python -m grpo_demo evaluate ... --out results/eval/<name>   # N = 1000 per model (README)
    python -m bench.reproduce record <label> --task four-letter --status experiment --change ...
    python -m bench.reproduce report                 # Table 1, bars, samples -> results/tables.md

``record`` turns an attempt's evaluation (``results/eval/<label>-<tokens>/``) into one row of
``bench/attempts.csv``: what changed from the shipped recipe, its status, and every number the
report prints for it (``median``/``mean``/``std`` are the task's bar metric; ``gain`` is the
gain rule's change vs base: an absolute gain or a ratio; ``over3`` counts completions with a
run of one word over three; ``drops`` the apostrophe hack; ``words`` real words per completion,
punctuation stripped, as in the GPU screen). The raw completions can then go.
``report`` judges the shipped adapters on their kept evaluations and re-judges every recorded
attempt from its row, with the same bars (``grpo_demo.quality``).

The sweep shortens the report's runs (equal step counts, completions capped at
``--max-completion-length`` tokens) to fit a 2-core CPU; everything else is the preset as the
report wrote it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import ROOT
from grpo_demo.adapters import ResidentModel
from grpo_demo.evaluation import histogram, summarize
from grpo_demo.metrics import diversity, looks_collapsed
from grpo_demo.presets import from_preset, preset_field
from grpo_demo.quality import (
    BARS,
    Bars,
    Scores,
    apostrophe_drops,
    count_drops,
    judge,
    numbers,
    scores,
    verdicts,
)
from grpo_demo.training import TrainingRun

if TYPE_CHECKING:
    import pandas as pd

RESULTS = ROOT / "results"
ATTEMPTS = ROOT / "bench" / "attempts.csv"
SWEEP_PRESETS = ("default", "config_1", "config_2", "config_3", "config_4")
STATUSES = ("shipped", "superseded", "experiment")
ATTEMPT_FIELDS = [
    "label",
    "task",
    "tokens",
    "status",
    "change",
    "n",
    "median",
    "mean",
    "std",
    "gain",
    "distinct_1",
    "distinct_2",
    "mean_distinct",
    "max_run",
    "over3",
    "drops",
    "words",
    "collapsed",
]


def sweep(steps: int, max_len: int, model: str | None, results: Path) -> None:
    """Each report config for ``steps`` steps on the four-letter task; one curve each."""
    out = results / "sweep"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        resident = ResidentModel.load(model, Path(tmp))
        for name in SWEEP_PRESETS:
            length = min(preset_field(name, "max_completion_length"), max_len)
            cfg = from_preset(name, max_steps=steps, max_completion_length=length)
            started = time.perf_counter()
            run = TrainingRun(resident, cfg, f"sweep-{name}".replace("_", "-"), preset=name).start()
            end = run.join()
            if end is None or end.error:
                raise SystemExit(f"{name} failed: {end.error if end else 'no result'}")
            last = [c.completion for c in run.history[-1].completions]
            div = diversity(last)
            record = {
                "preset": name,
                "config": cfg.resolved(),
                "steps": end.steps,
                "seconds": round(time.perf_counter() - started, 1),
                "rewards": [e.reward for e in run.history],
                "kl": [e.metrics.get("kl", 0.0) for e in run.history],
                "last_diversity": div,
                "last_collapsed": looks_collapsed(div),
                "last_completions": last,
            }
            (out / f"{name}.json").write_text(json.dumps(record, indent=2))
            print(
                f"{name}: {record['seconds']} s, reward {record['rewards'][0]:.3f} -> "
                f"{record['rewards'][-1]:.3f}, collapsed={record['last_collapsed']}",
                flush=True,
            )
    plot_sweep(out)


def plot_sweep(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name in SWEEP_PRESETS:
        path = out / f"{name}.json"
        if path.exists():
            r = json.loads(path.read_text())
            label = f"{name} ({r['config']['max_completion_length']} tok)"
            ax.plot(range(1, len(r["rewards"]) + 1), r["rewards"], marker="o", label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("mean four_letter reward (batch)")
    ax.set_title("Report configs, shortened, on smollm2-135m + LoRA")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "reward_curves.png", dpi=100)


def load_eval(results: Path, name: str, adapter: str) -> pd.DataFrame:
    """One evaluation's completions, named ``adapter`` whatever name it was evaluated under."""
    import pandas as pd

    path = results / "eval" / name / "completions.csv"
    return pd.read_csv(path, keep_default_na=False).assign(adapter=adapter)


def read_attempts(path: Path = ATTEMPTS) -> list[dict[str, str]]:
    """The attempts table as it is on disk, one dict of strings per row, in file order."""
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def attempt_scores(row: dict[str, str]) -> Scores:
    """What the bars need from a recorded attempt."""
    return Scores(
        mean=float(row["mean"]),
        distinct_2=float(row["distinct_2"]),
        max_run=int(row["max_run"]),
        over3=int(row["over3"]),
    )


def record(
    label: str, task: str, status: str, change: str, results: Path, attempts: Path
) -> dict[str, object]:
    """Measure ``results/eval/<label>-<tokens>`` against its base; add or replace its row."""
    import pandas as pd

    bars = BARS[task]
    base = load_eval(results, f"base-{bars.tokens}", "base")
    tuned = load_eval(results, f"{label}-{bars.tokens}", label)
    result = summarize(pd.concat([base, tuned], ignore_index=True))
    row = {"label": label, "task": task, "tokens": bars.tokens, "status": status}
    row |= {"change": change, **numbers(result, label, bars)}
    rows = read_attempts(attempts) if attempts.exists() else []
    at = next((i for i, r in enumerate(rows) if r["label"] == label), len(rows))
    rows[at : at + 1] = [row]
    with attempts.open("w", newline="") as f:
        writer = csv.DictWriter(f, ATTEMPT_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return row


def attempts_section(bars: Bars, base: Scores, rows: list[dict[str, str]]) -> list[str]:
    """The recorded attempts as a table, then each one judged by the bars against this base."""
    metric = bars.metric
    head = ["attempt", "status", "change from the shipped recipe"]
    head += [f"{metric} median", f"{metric} mean", f"{metric} std", "gain"]
    head += ["distinct_1", "distinct_2", "mean_distinct", "max_run", "runs > 3"]
    head += ["drop apostrophes", "words", "collapsed"]
    body = [
        [r["label"], r["status"], r["change"]]
        + [f"{float(r[k]):.3f}" for k in ("median", "mean", "std")]
        + [bars.gain.show(float(r["gain"]))]
        + [f"{float(r[k]):.3f}" for k in ("distinct_1", "distinct_2", "mean_distinct")]
        + [r[k] for k in ("max_run", "over3", "drops", "words", "collapsed")]
        for r in rows
    ]
    lines = [md_table(head, body), ""]
    for r in rows:
        checks = verdicts(bars, base, attempt_scores(r))
        lines.append(
            f"- {r['label']}: "
            + "; ".join(f"{'pass' if ok else 'FAIL'} {text}" for ok, text in checks)
        )
    return lines


def report(samples: int, results: Path, out: Path, attempts: Path) -> int:
    """Base + shipped adapter per task: tables, bars, histograms and samples; the recorded
    attempts beside them. 1 if a shipped adapter misses a bar."""
    import pandas as pd

    recorded = read_attempts(attempts)
    lines, failed = ["# Generated by `python -m bench.reproduce report`", ""], 0
    for task, bars in BARS.items():
        adapter, tokens, metric = bars.adapter, bars.tokens, bars.metric
        base = load_eval(results, f"base-{tokens}", "base")
        tuned = load_eval(results, f"{adapter}-{tokens}", adapter)  # as shipped
        rows = [r for r in recorded if r["task"] == task and r["label"] != adapter]
        result = summarize(pd.concat([base, tuned], ignore_index=True))
        panels = tuple(dict.fromkeys(("four_letter", metric)))  # the report's reward, the bar's
        histogram(result, panels).savefig(
            out.parent / f"histograms-{task}.png", dpi=100, bbox_inches="tight"
        )
        lines += [f"## {task}: base vs `{adapter}`, {tokens} new tokens, N = {len(base)}", ""]
        lines += [markdown(result.table1(("four_letter", "word_count", "word_count_real")))]
        lines += ["", markdown(result.diversity_table()), ""]
        if metric == "four_letter":  # the hack this reward invites
            drops = count_drops(result) | {r["label"]: int(r["drops"]) for r in rows}
            lines += [apostrophe_drops(drops), ""]
        for ok, text in judge(result, task):
            failed += not ok
            lines.append(f"- {'PASS' if ok else 'FAIL'}: {text}")
        if rows:
            where = attempts.resolve()
            where = where.relative_to(ROOT) if where.is_relative_to(ROOT) else where
            lines += ["", f"### Earlier attempts (`{where}`), judged against this base", ""]
            lines += attempts_section(bars, scores(result, "base", bars), rows)
        lines += ["", f"### Samples ({adapter}): same prompt, same seed", ""]
        for i in range(samples):
            row = i * (len(base) // samples)
            lines.append(f"**{base.prompt[row]}**")
            for label, df in (("base", base), (adapter, tuned)):
                text = " ".join(df.text[row].split())
                lines.append(f"- *{label}* ({df[metric][row]:.2f}): {text}")
            lines.append("")
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failed else 0


def md_table(head: list[str], rows: list[list[str]]) -> str:
    """A GitHub table from already formatted cells."""
    return "\n".join("| " + " | ".join(r) + " |" for r in [head, ["---"] * len(head), *rows])


def markdown(df: pd.DataFrame) -> str:
    """A DataFrame as a GitHub table (pandas' own needs the optional ``tabulate``)."""
    head = [df.index.name or "", *map(str, df.columns)]
    rows = [
        [str(i), *(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r)]
        for i, r in zip(df.index, df.itertuples(index=False), strict=True)
    ]
    return md_table(head, rows)


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=RESULTS, help="results root (eval/, sweep/)")
    p.add_argument("--attempts", type=Path, default=ATTEMPTS, help="the attempts table (CSV)")
    sub = p.add_subparsers(dest="stage", required=True)
    s = sub.add_parser("sweep", help="the report's configs, shortened: reward curves")
    s.add_argument("--steps", type=int, default=8)
    s.add_argument("--max-completion-length", type=int, default=64)
    s.add_argument("--model")
    c = sub.add_parser("record", help="an attempt's evaluation -> one row of the attempts table")
    c.add_argument("label", help="the adapter; its evaluation is results/eval/<label>-<tokens>")
    c.add_argument("--task", choices=BARS, required=True)
    c.add_argument("--status", choices=STATUSES, required=True)
    c.add_argument("--change", required=True, help="one line: what differs from the shipped")
    r = sub.add_parser("report", help="tables, bars, histograms and samples")
    r.add_argument("--samples", type=int, default=6)
    r.add_argument("--out", type=Path, help="default: <results>/tables.md")
    args = p.parse_args()
    if args.stage == "sweep":
        sweep(args.steps, args.max_completion_length, args.model, args.results)
        return 0
    if args.stage == "record":
        row = record(args.label, args.task, args.status, args.change, args.results, args.attempts)
        print(", ".join(f"{k} {v}" for k, v in row.items()))
        return 0
    return report(args.samples, args.results, args.out or args.results / "tables.md", args.attempts)


if __name__ == "__main__":
    sys.exit(main())
