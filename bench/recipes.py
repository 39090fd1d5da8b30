"""Train many four-letter recipes side by side, then screen them all on the held-out prompts.

Made for a GPU machine, where one 40-step run takes about two minutes and a dozen share the
card (on this project's 2-core CPU a single run of the shipped recipe takes hours):

    python -m bench.recipes train bench/four_letter_recipes.txt --checkpoints /tmp/ck
    python -m bench.recipes screen --checkpoints /tmp/ck --out results/gpu-screen
    python -m bench.recipes table results/gpu-screen/summary.json

``train`` starts one ``python -m grpo_demo train`` per recipe line (``label --flag value ...``,
on top of the shipped four-letter command) and waits; a run past ``--deadline`` seconds gets
Ctrl-C and still saves its adapter. ``screen`` samples N completions per model (base and every
adapter, same seeds, large batches) and writes ``summary.json`` (what the issue's bars look at,
per model: ``table`` prints it) and the raw ``completions.csv.gz`` (to read; only the summary is
kept in ``results/``). The numbers screen recipes; the shipped adapter is then re-evaluated with
``grpo_demo evaluate`` like every other model in RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT
from grpo_demo.adapters import ResidentModel
from grpo_demo.evaluation import evaluate
from grpo_demo.metrics import loops
from grpo_demo.quality import drops_apostrophe, judge, mean_words

SHIPPED_RECIPE = (
    "--preset classroom-four-letter --task four-letter-strict --max-completion-length 48 "
    "--beta 0.02 --max-steps 40 --no-bf16 --quiet"
)


def read_recipes(path: Path) -> list[tuple[str, list[str]]]:
    """``label flags...`` per line; blank lines and ``#`` comments skipped."""
    out = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            label, *flags = shlex.split(line)
            out.append((label, flags))
    return out


def train(recipes: Path, checkpoints: Path, logs: Path, deadline: float) -> int:
    """All recipes at once (one process each); Ctrl-C to the ones still running at the deadline."""
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    procs = {}
    for label, flags in read_recipes(recipes):
        cmd = [sys.executable, "-m", "grpo_demo", "--checkpoints", str(checkpoints), "train"]
        cmd += [*shlex.split(SHIPPED_RECIPE), "--name", f"four-letter-{label}", *flags]
        with (logs / f"{label}.log").open("w") as log:  # the child keeps its own handle
            procs[label] = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
    started = time.monotonic()
    while any(p.poll() is None for p in procs.values()):
        if time.monotonic() - started > deadline:
            for p in procs.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGINT)  # stops after the step in flight, then saves
            deadline = float("inf")
        time.sleep(2)
    failed = [label for label, p in procs.items() if p.returncode not in (0, 130)]
    print(
        f"trained {len(procs) - len(failed)} of {len(procs)} in {time.monotonic() - started:.0f} s"
    )
    for label in failed:
        print(f"failed: {label} (log: {logs / (label + '.log')})", file=sys.stderr)
    return 1 if failed else 0


def summary_rows(result) -> dict[str, dict]:
    """Per model: what the issue's bars look at (``grpo_demo.quality``, as ``bench.reproduce``
    checks them), the gain over base, length and the apostrophe hack."""
    means = result.summary.set_index(["adapter", "reward"])["mean"]
    rows = {}
    for name, group in result.completions.groupby("adapter", sort=False):
        name, texts, div = str(name), group.text.tolist(), result.diversity[str(name)]
        rows[name] = {
            "four_letter": round(means[(name, "four_letter")], 4),
            "distinct_2": div["distinct_2"],
            "over3": sum(map(loops, texts)),
            "max_run": div["max_run"],
            "words": mean_words(texts),
            "drops": sum(map(drops_apostrophe, texts)),
            # the no-collapse bars; the gain bar is the "gain" column
            "clean": all(ok for ok, _ in judge(result, "four-letter", name)[1:]),
        }
    for row in rows.values():
        row["gain"] = round(row["four_letter"] - rows["base"]["four_letter"], 4)
    return rows


def screen(checkpoints: Path, out: Path, n: int, batch_size: int) -> None:
    """Base + every adapter under ``checkpoints``: N same-seed samples each, one summary."""
    resident = ResidentModel.load(None, checkpoints)
    names = [a for a in resident.names() if a != "base"]
    result = evaluate(resident, ["base", *names], n, max_new_tokens=48, batch_size=batch_size)
    rows = summary_rows(result)
    for name, row in rows.items():
        run = resident.adapters[name].run if name in resident.adapters else {}
        if run:
            row |= {"steps": run["steps"], "s_per_step": run["seconds_per_step"]}
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(rows, indent=1))
    result.completions.to_csv(out / "completions.csv.gz", index=False)
    print(table(rows))


def table(rows: dict[str, dict]) -> str:
    """The summary as a markdown table, best gain first."""
    cols = ["model", "gain", "four_letter mean", "distinct-2", "runs > 3", "words"]
    cols += ["drop apostrophes", "steps", "s/step"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, r in sorted(rows.items(), key=lambda kv: -kv[1]["gain"]):
        lines.append(
            f"| {name} | {r['gain']:+.3f} | {r['four_letter']:.3f} | {r['distinct_2']:.3f} | "
            f"{r['over3']} | {r['words']} | {r['drops']} | {r.get('steps', '')} | "
            f"{r.get('s_per_step', '')} |"
        )
    return "\n".join(lines)


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="stage", required=True)
    t = sub.add_parser("train")
    t.add_argument("recipes", type=Path)
    t.add_argument("--checkpoints", type=Path, required=True)
    t.add_argument("--logs", type=Path, default=Path("recipe-logs"))
    t.add_argument("--deadline", type=float, default=float("inf"), help="seconds")
    s = sub.add_parser("screen")
    s.add_argument("--checkpoints", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("-n", type=int, default=1000)
    s.add_argument("--batch-size", type=int, default=500)
    m = sub.add_parser("table")
    m.add_argument("summary", type=Path)
    args = p.parse_args()
    if args.stage == "train":
        return train(args.recipes, args.checkpoints, args.logs, args.deadline)
    if args.stage == "screen":
        screen(args.checkpoints, args.out, args.n, args.batch_size)
        return 0
    print(table(json.loads(args.summary.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
