"""Reproduce the lab report on the bundled model: config sweep, Table 1, samples, quality bars.

Stages (each writes under ``results/``, so they can run apart and be re-run one at a time):

    python bench/reproduce.py sweep --steps 8        # default, config_1..4: reward curves
    python -m grpo_demo evaluate ... --out results/eval/<name>   # N = 1000 per model (README)
    python bench/reproduce.py report                 # Table 1, bars, samples -> results/*.md

The sweep shortens the report's runs (equal step counts, completions capped at
``--max-completion-length`` tokens) to fit a 2-core CPU; everything else is the preset as the
report wrote it. The quality bars are issue #4's and are checked here, not in timed tests.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "results"
SWEEP_PRESETS = ("default", "config_1", "config_2", "config_3", "config_4")
TASK_EVALS = {  # task -> (adapter, tokens, the reward the bar is about)
    "four-letter": ("four-letter", 48, "four_letter"),
    "long-answer": ("long-answer", 128, "word_count_real"),
}
EXTRA_EVALS = {  # task -> earlier adapters kept for comparison (eval folder: <label>-<tokens>)
    "four-letter": (
        "four-letter-b02",  # shipped 2026-11-25: 4 prompts x 8 completions, gain +0.9997
        "four-letter-s07e",  # shipped recipe at beta 0.03 (GPU-trained): gain +1.20
        "four-letter-v1",  # shipped first: 2 runs > 3
        "four-letter-v2",  # + no_repeats: see RESULTS.md
        "four-letter-v3",  # + no_long_runs: one run of 4
        "four-letter-b01",  # v3 + beta 0.01: 3 runs of 4
        "four-letter-v4",  # v3 + beta 0.04: gain +0.70
        "four-letter-b015",  # beta 0.015: gain +0.94
        "four-letter-b02s50",  # beta 0.02, 50 steps: +0.92
        "four-letter-b02s1",  # beta 0.02, seed 1
        "four-letter-b02lr15",  # beta 0.02, lr 1.5e-3
        "four-letter-b0125",  # beta 0.0125
        "four-letter-b01s7",  # beta 0.01, seed 7
    ),
    "long-answer": ("long-answer-v1",),  # word_count_diverse: collapsed
}
# Contractions without their apostrophe are four letters by the report's split(" "): a hack.
APOSTROPHE_DROPS = frozenset({"dont", "cant", "wont", "im"})


def sweep(steps: int, max_len: int, model: str | None) -> None:
    """Each report config for ``steps`` steps on the four-letter task; one curve each."""
    from grpo_demo.adapters import ResidentModel
    from grpo_demo.config import from_preset, preset_field
    from grpo_demo.evaluation import diversity, looks_collapsed
    from grpo_demo.training import TrainingRun

    out = RESULTS / "sweep"
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


def load_eval(name: str):
    import pandas as pd

    return pd.read_csv(RESULTS / "eval" / name / "completions.csv", keep_default_na=False)


def report(samples: int) -> int:
    """Merge base + adapter evaluations per task, check the bars, write tables and samples."""
    import pandas as pd

    from grpo_demo.evaluation import histogram, summarize

    lines, failed = ["# Generated by `python bench/reproduce.py report`", ""], 0
    for task, (adapter, tokens, metric) in TASK_EVALS.items():
        base = load_eval(f"base-{tokens}").assign(adapter="base")
        tuned = load_eval(f"{adapter}-{tokens}").assign(adapter=adapter)  # as shipped
        extra = [
            load_eval(f"{label}-{tokens}").assign(adapter=label)
            for label in EXTRA_EVALS[task]
            if (RESULTS / "eval" / f"{label}-{tokens}").is_dir()
        ]
        result = summarize(pd.concat([base, tuned, *extra], ignore_index=True))
        histogram(result, ("four_letter", metric)).savefig(
            RESULTS / f"histograms-{task}.png", dpi=100, bbox_inches="tight"
        )
        lines += [f"## {task}: base vs `{adapter}`, {tokens} new tokens, N = {len(base)}", ""]
        lines += [markdown(result.table1(("four_letter", "word_count", "word_count_real")))]
        lines += ["", markdown(result.diversity_table()), ""]
        if task == "four-letter":
            lines += [apostrophe_drops(result.completions), ""]
        for ok, text in bars(task, result, metric, adapter):
            failed += not ok
            lines.append(f"- {'PASS' if ok else 'FAIL'}: {text}")
        for label in EXTRA_EVALS[task]:
            if label in result.diversity:
                checks = bars(task, result, metric, label)
                lines.append(
                    f"- {label}: "
                    + "; ".join(f"{'pass' if ok else 'FAIL'} {text}" for ok, text in checks)
                )
        lines += ["", f"### Samples ({adapter}): same prompt, same seed", ""]
        for i in range(samples):
            row = i * (len(base) // samples)
            lines.append(f"**{base.prompt[row]}**")
            for label, df in (("base", base), (adapter, tuned)):
                text = " ".join(df.text[row].split())
                lines.append(f"- *{label}* ({df[metric][row]:.2f}): {text}")
            lines.append("")
    (RESULTS / "tables.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failed else 0


def drops_apostrophe(text: str) -> bool:
    """Writes "dont", "cant", "wont" or "im" as a word (punctuation stripped, any case)."""
    from grpo_demo.rewards import real_words

    return bool(APOSTROPHE_DROPS & set(real_words(text.lower())))


def loops(text: str) -> bool:
    """Repeats one word more than three times in a row: what the no-collapse bar counts."""
    from grpo_demo.evaluation import longest_run
    from grpo_demo.rewards import real_words

    return longest_run(real_words(text.lower())) > 3


def apostrophe_drops(completions) -> str:
    """How many completions per model write "dont", "cant", "wont" or "im" as a word."""
    hits = completions.text.map(drops_apostrophe)
    counts = hits.groupby(completions.adapter, sort=False).sum()
    return (
        "Completions dropping an apostrophe ("
        + ", ".join(f'"{w}"' for w in sorted(APOSTROPHE_DROPS))
        + " as a word): "
        + ", ".join(f"{a} {n}" for a, n in counts.items())
        + "."
    )


def markdown(df) -> str:
    """A DataFrame as a GitHub table (pandas' own needs the optional ``tabulate``)."""
    head = [df.index.name or "", *map(str, df.columns)]
    rows = [
        [str(i), *(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r)]
        for i, r in zip(df.index, df.itertuples(index=False), strict=True)
    ]
    return "\n".join("| " + " | ".join(r) + " |" for r in [head, ["---"] * len(head), *rows])


def bars(task: str, result, metric: str, adapter: str) -> list[tuple[bool, str]]:
    """Issue #4's quality bars for one task: the reward gain and 'no collapse'."""
    s = result.summary.set_index(["adapter", "reward"])["mean"]
    div = result.diversity
    base_mean, tuned_mean = s[("base", metric)], s[(adapter, metric)]
    if task == "four-letter":
        gain = (
            tuned_mean >= base_mean + 1.0,
            f"mean {metric} {tuned_mean:.3f} >= base {base_mean:.3f} + 1.0 "
            f"(gain {tuned_mean - base_mean:+.4f})",
        )
    else:
        gain = (
            tuned_mean >= 1.35 * base_mean,
            f"mean {metric} {tuned_mean:.2f} >= 1.35 x base "
            f"{base_mean:.2f} ({tuned_mean / base_mean:.2f}x)",
        )
    d2, base_d2 = div[adapter]["distinct_2"], div["base"]["distinct_2"]
    texts = result.completions.set_index("adapter")["text"]
    over = {a: sum(map(loops, texts[a])) for a in ("base", adapter)}
    return [
        gain,
        (d2 >= 0.6 * base_d2, f"distinct-2 {d2:.3f} >= 0.6 x base {base_d2:.3f}"),
        (
            div[adapter]["max_run"] <= 3,
            f"longest run of one word {div[adapter]['max_run']} <= 3 (completions with a run "
            f"over 3: {over[adapter]}; base: {over['base']}, longest {div['base']['max_run']})",
        ),
    ]


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="stage", required=True)
    s = sub.add_parser("sweep")
    s.add_argument("--steps", type=int, default=8)
    s.add_argument("--max-completion-length", type=int, default=64)
    s.add_argument("--model")
    r = sub.add_parser("report")
    r.add_argument("--samples", type=int, default=6)
    args = p.parse_args()
    if args.stage == "sweep":
        sweep(args.steps, args.max_completion_length, args.model)
        return 0
    return report(args.samples)


if __name__ == "__main__":
    sys.exit(main())
