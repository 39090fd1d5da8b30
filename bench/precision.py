"""Does bf16 change what a run learns? The same preset and seed, fp32 vs bf16 autocast.

    python -m bench.precision [--steps 10] [--n 128] [--lever bf16-weights]
        [--seeds 1 2 3]

Trains the classroom-four-letter preset twice from the same seed: once in fp32 throughout,
once with this machine's defaults (bf16 autocast for the step and the rollouts where the chip
computes bf16 natively; master weights fp32 either way). ``--lever bf16-weights``: instead,
the defaults without and with the bf16 copies of the frozen weights. Prints
each run's batch reward per step and the held-out four-letter reward of the base and both
adapters (N completions each, 48 tokens, the same seeds), so the two can be compared against
the run-to-run noise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from grpo_demo.adapters import ResidentModel
from grpo_demo.evaluation import evaluate
from grpo_demo.models import native_bf16
from grpo_demo.presets import from_preset
from grpo_demo.training import TrainingRun

LEVERS = {  # --lever -> arms: label -> RunConfig overrides
    "precision": {"fp32": dict(bf16=False, bf16_rollouts=False), "bf16 (default here)": {}},
    "bf16-weights": {
        "autocast re-casts the fp32 weights": dict(bf16_weights=False),
        "bf16 copies (default)": {},
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--n", type=int, default=128, help="held-out completions per model")
    parser.add_argument("--lever", choices=list(LEVERS), default="precision")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="training seeds (default: the preset's)"
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    resident = ResidentModel.load(None, Path(tempfile.mkdtemp(prefix="bench-precision-")))
    seeds = args.seeds or [from_preset("classroom-four-letter").seed]
    arms = {
        (f"{label}, seed {s}" if args.seeds else label): dict(overrides, seed=s)
        for s in seeds
        for label, overrides in LEVERS[args.lever].items()
    }
    curves, seconds, names = {}, {}, {}
    for label, overrides in arms.items():
        cfg = from_preset("classroom-four-letter", max_steps=args.steps, **overrides)
        name = f"precision-{len(names)}"
        start = time.perf_counter()
        run = TrainingRun(resident, cfg, name, preset="classroom-four-letter").start()
        end = run.join()
        if end is None or end.error:
            raise SystemExit(f"{label} failed: {end}")
        seconds[label] = (time.perf_counter() - start) / args.steps
        curves[label] = [e.reward for e in run.history]
        names[label] = name
    result = evaluate(resident, ["base", *names.values()], args.n, max_new_tokens=48)
    means = result.summary.set_index(["adapter", "reward"])["mean"]
    base = means[("base", "four_letter")]
    print(f"native bf16 here: {native_bf16()}; {args.steps} steps each; N = {args.n}")
    print(
        "| run | s/step | batch reward, step 1 → last | mean of last 3 | held-out four_letter "
        "| gain |"
    )
    print("|---|---|---|---|---|---|")
    for label, name in names.items():
        curve = curves[label]
        held = means[(name, "four_letter")]
        print(
            f"| {label} | {seconds[label]:.1f} | {curve[0]:.3f} → {curve[-1]:.3f} | "
            f"{statistics.mean(curve[-3:]):.3f} | {held:.3f} | {held - base:+.3f} |"
        )
    print(f"| base | | | | {base:.3f} | |")
    if args.seeds:  # each arm's mean gain over the seeds, and its spread
        for label in LEVERS[args.lever]:
            gains = [means[(names[f"{label}, seed {s}"], "four_letter")] - base for s in seeds]
            spread = f"{min(gains):+.3f} .. {max(gains):+.3f}"
            print(f"{label}: mean gain {statistics.mean(gains):+.3f} over seeds {seeds} ({spread})")
    for label, curve in curves.items():
        print(label, " ".join(f"{r:.2f}" for r in curve))


if __name__ == "__main__":
    main()
