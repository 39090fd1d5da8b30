"""Does the ``classroom-hack`` preset hack the reward reliably? One run per seed, then held-out.

    python -m bench.hack [--seeds 1 2 3] [--n 64] [--keep DIR]

Each seed trains the preset on the bundled base (report's four-letter reward alone, lr 5e-3),
records the step at which the live collapse detector first tripped, then samples ``--n``
held-out completions of the new adapter and of the base and applies the same detector.
Printed and written to ``results/hack.md``: one row per seed, with the CPU it ran on.
``--keep DIR`` keeps the adapters (the shipped ``hacked`` adapter is the first seed's).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, cpu_line
from grpo_demo.adapters import ResidentModel
from grpo_demo.evaluation import evaluate
from grpo_demo.presets import from_preset
from grpo_demo.steps import collapse_step
from grpo_demo.training import TrainingRun


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--n", type=int, default=64, help="held-out completions per model")
    parser.add_argument("--keep", type=Path, help="checkpoints folder to keep the adapters in")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    root = args.keep or Path(tempfile.mkdtemp(prefix="hack-"))
    resident = ResidentModel.load(None, root)
    rows = []
    for seed in args.seeds:
        name = f"hack-s{seed}"
        start = time.time()
        run = TrainingRun(resident, from_preset("classroom-hack", seed=seed), name)
        end = run.start().join(timeout=3600)
        if end is None or end.error:
            raise SystemExit(f"seed {seed}: the run failed: {getattr(end, 'error', 'timeout')}")
        wall = time.time() - start
        held = evaluate(resident, ["base", name], args.n, seed=seed).diversity
        h, b, last = held[name], held["base"], run.history[-1]
        rows.append(
            f"| {seed} | {collapse_step(run.history) or 'never'} | {wall:.0f} s | "
            f"{run.history[0].reward:.2f} → {last.reward:.2f} | "
            f"{b['distinct_2']:.2f} → {h['distinct_2']:.2f} | {h['median_run']} | "
            f"{'**yes**' if h['collapsed'] else 'no'} (base: {'yes' if b['collapsed'] else 'no'}) |"
        )
        print(rows[-1], flush=True)
    table = "\n".join(
        [
            "# Reward hacking on purpose: `classroom-hack` over several seeds",
            "",
            f"{cpu_line()}; `python -m bench.hack --seeds {' '.join(map(str, args.seeds))} "
            f"--n {args.n}`; held-out = {args.n} completions of 48 tokens on prompts never "
            "trained on.",
            "",
            "| seed | banner fired at step | wall-clock | batch reward, step 1 → last | held-out "
            "distinct-2, base → adapter | held-out median run | held-out collapsed |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    (ROOT / "results" / "hack.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
