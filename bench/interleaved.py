"""GRPO step time, arms interleaved in one process: plain TRL against the project's path.

    python -m bench.interleaved [--rounds 2] [--steps 3] [--sizes pair classroom] [--no-bf16]
        [--write]

Each arm is a short run of ``--steps`` optimizer steps whose first step is dropped (warm-up);
the arms take turns (A, B, C, A, B, C, ...) for ``--rounds`` rounds, so the machine's drift
hits every arm alike. Every arm samples the same prompts with the report's ``four_letter``
reward and LoRA r16 on all linear layers of the bundled base. Printed: median and spread per
arm, each arm's ratio to the faster of the two plain-TRL arms (TRL's default ``bf16=True`` and
``bf16=False``), each arm's ratio to the step's FLOP floor at this machine's measured matmul
peak (``bench.common``'s ``Floor``), the project arms' rollout and update phases against their
own floors, the CPU model and its bf16/AMX flags, and torch's thread count. ``--write`` puts
the table into BENCHMARKS.md between its ``interleaved`` markers (``--no-bf16``:
``interleaved-fp32``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import (
    ROOT,
    SIZES,
    cpu_line,
    floor_of,
    peak_line,
    peaks,
    plain_trl,
    project_steps,
    write_between,
)
from grpo_demo import compute
from grpo_demo.adapters import ResidentModel
from grpo_demo.models import native_bf16

START, END = "<!-- interleaved: start -->", "<!-- interleaved: end -->"
START_FP32, END_FP32 = "<!-- interleaved-fp32: start -->", "<!-- interleaved-fp32: end -->"


def on_compute(fn, *args, **kwargs):
    return compute.shared().call(fn, *args, **kwargs)


PROJECT_ARMS = {  # name -> RunConfig overrides
    "project, its defaults (torch.multinomial's own randoms)": {},
    "project, its defaults before bf16 copies (and torch.multinomial)": {"bf16_weights": False},
    "project, fp32 update, bf16 merged rollouts": {"bf16": False, "bf16_rollouts": True},
    "project, fp32, merged rollouts": {"bf16": False, "bf16_rollouts": False},
    "project, fp32, unmerged rollouts": {
        "bf16": False,
        "bf16_rollouts": False,
        "merged_rollouts": False,
    },
}
FP32_ONLY = ("plain TRL, bf16=False", "project, fp32, merged rollouts")
"""``--no-bf16``: the arms an AVX2-only CPU runs (no native bf16), against the fp32 floor."""


def arms(resident, size, steps: int, fp32_only: bool = False) -> dict[str, Callable]:
    """name -> a callable returning (step seconds, each step's (rollouts, update) or [])."""
    todo = {
        # on the process's compute thread, like the project's runs: a second thread doing
        # tensor work slows both down (grpo_demo/compute.py says why)
        "plain TRL, bf16=True (TRL's default)": lambda: (
            on_compute(plain_trl, size, steps, True),
            [],
        ),
        "plain TRL, bf16=False": lambda: (on_compute(plain_trl, size, steps, False), []),
        **{
            name: (lambda ov=ov: project_steps(resident, size, steps, **ov))
            for name, ov in PROJECT_ARMS.items()
        },
    }
    return {n: f for n, f in todo.items() if n in FP32_ONLY} if fp32_only else todo


def run(sizes: list[str], rounds: int, steps: int, fp32_only: bool = False) -> str:
    # the app's resident model: the shipped adapters are loaded beside the one being trained
    resident = ResidentModel.load(None, ROOT / "checkpoints")
    resident.checkpoints = Path(tempfile.mkdtemp(prefix="bench-ckpt-"))  # write elsewhere
    peak = resident.compute.call(peaks)
    bf16 = native_bf16() and not fp32_only
    flags = " --no-bf16" if fp32_only else ""
    lines = [
        START if not fp32_only else START_FP32,
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: `python -m bench.interleaved "
        f"--rounds {rounds} --steps {steps}{flags}`; {cpu_line()}; native bf16: {native_bf16()}"
        f"{' (forced off)' if fp32_only else ''}; {peak_line(peak)}.",
        "",
    ]
    for size_name in sizes:
        size = SIZES[size_name]
        floor = floor_of(resident, size, peak, bf16)
        todo = arms(resident, size, steps, fp32_only)
        times: dict[str, list[float]] = {name: [] for name in todo}
        split: dict[str, list[tuple[float, float]]] = {name: [] for name in todo}
        for r in range(rounds):
            for name, arm in todo.items():
                walls, phases = arm()
                times[name] += walls
                split[name] += phases
                print(f"[{size_name} round {r + 1}] {name}: {walls}", flush=True)
        best_trl = min(statistics.median(v) for n, v in times.items() if n.startswith("plain"))
        prompts, group, tokens = size
        lines += [
            f"**{prompts} prompt(s) × {group} completions × {tokens} tokens** "
            f"({rounds} rounds × {steps - 1} timed steps per arm). FLOP floor "
            f"({floor.peak_dtype} peak): rollouts {floor.rollouts_s:.2f} s + update "
            f"{floor.update_s:.2f} s = **{floor.step_s:.2f} s**:",
            "",
            "| arm | median s/step | min | max | × best plain TRL | × floor | rollouts s "
            "(× its floor) | update s (× its floor) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, values in times.items():
            med = statistics.median(values)
            phases = "| — | — |"
            if split[name]:
                roll = statistics.median(p[0] for p in split[name])
                upd = statistics.median(p[1] for p in split[name])
                phases = (
                    f"| {roll:.2f} ({roll / floor.rollouts_s:.1f}×) | "
                    f"{upd:.2f} ({upd / floor.update_s:.1f}×) |"
                )
            lines.append(
                f"| {name} | {med:.2f} | {min(values):.2f} | {max(values):.2f} | "
                f"{med / best_trl:.2f} | {med / floor.step_s:.1f} {phases}"
            )
        lines.append("")
    lines.append(END if not fp32_only else END_FP32)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3, help="per arm and round (1 warm-up)")
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--write", action="store_true", help="into BENCHMARKS.md's markers")
    parser.add_argument(
        "--no-bf16",
        action="store_true",
        help="the fp32 arms only, against the fp32 floor: what an AVX2-only CPU (no native "
        "bf16) runs",
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    table = run(args.sizes, args.rounds, args.steps, args.no_bf16)
    print(table)
    if args.write:
        write_between(*((START_FP32, END_FP32) if args.no_bf16 else (START, END)), table)


if __name__ == "__main__":
    main()
