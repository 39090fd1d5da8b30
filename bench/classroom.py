"""Does a classroom preset change the writing visibly, and fast? Held-out curves over seeds.

    python -m bench.classroom [--preset classroom-four-letter] [--seeds 1 2 3] [--steps 15]
                              [--set learning_rate=3e-3 ...] [--label NAME] [--write]

For each seed the preset trains on the bundled base; after every optimizer step the adapter
being trained answers the held-out prompts (prompts never trained on, one sample each, a fixed
sampling seed, ``--tokens`` new tokens) and the answers are scored with the preset's measure
(the report's four-letter reward, or real words for a long-answer task). The same prompts and
seed answered by the base give the baseline. Checked per seed, against the issue's targets:
gain >= +0.5 by step 6 and >= +1.0 by step 15 (four-letter; long answers: x1.25 and x1.5 the
base's words), without collapse: held-out distinct-2 >= 0.8 x the base's and no word repeated
more than 3 times in a row in any answer. Each run is the Train tab's: its before-vs-now
prompts answered at every step; the report also shows what the room sees, per seed: the
headline at every step and the before-vs-now answers of steps 1-6 (none may be empty or one
token; the headline must move by step 3-4). ``--write`` appends the run to
``results/classroom.md`` (each seed's curve, the checks, the CPU and the seconds per step).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import ROOT, as_the_train_tab, cpu_line, parse_set
from grpo_demo.adapters import ResidentModel
from grpo_demo.data import eval_prompts
from grpo_demo.generation import new_texts
from grpo_demo.lora_slots import base_only
from grpo_demo.measures import headline_measures
from grpo_demo.metrics import MAX_RUN, diversity
from grpo_demo.models import native_bf16
from grpo_demo.presets import PRESETS, from_preset
from grpo_demo.rewards import REWARDS
from grpo_demo.tasks import TASKS

DISTINCT_SHARE = 0.8  # held-out distinct-2 at least this share of the base's
EVAL_SEED = 7


@dataclass
class Target:
    """What a task's change is measured by on held-out prompts, and the targets for it."""

    name: str
    reward: str  # a registered reward name
    targets: dict[int, float]  # step -> the gain it must reach
    relative: bool = False  # gain as a ratio to the base (long answers) instead of a difference

    def gain(self, base: float, now: float) -> float:
        return now / base if self.relative else now - base


FOUR_LETTER = Target("four-letter reward", "four_letter", {6: 0.5, 15: 1.0})
LONG = Target("real words", "word_count_real", {6: 1.25, 15: 1.5}, relative=True)


def measure_of(task: str) -> Target:
    return LONG if task.startswith("long") else FOUR_LETTER


@dataclass
class Point:
    step: int
    value: float
    distinct_2: float
    max_run: int
    seconds: float  # training seconds up to this step (evaluation excluded)
    sample: str = ""


@dataclass
class SeedRun:
    seed: int
    points: list[Point] = field(default_factory=list)
    history: list = field(default_factory=list)  # the run's StepEvents (probes, answers)


def held_out(resident, prompts: list[str], tokens: int, measure: Target, base: bool) -> Point:
    """The held-out prompts answered once each (fixed seed) and scored."""
    from contextlib import nullcontext

    import torch

    model = resident.model
    was_training = model.training
    model.eval()
    try:
        off = base_only(model) if base else nullcontext()
        # bf16 where the chip has it (as the rollouts): the same for the base and every step
        fast = torch.autocast("cpu", dtype=torch.bfloat16) if native_bf16() else nullcontext()
        with off, fast:
            texts = new_texts(model, resident.tokenizer, prompts, EVAL_SEED, tokens)
    finally:
        model.train(was_training)
    scores = REWARDS[measure.reward](texts)
    div = diversity(texts)
    return Point(0, statistics.fmean(scores), div["distinct_2"], div["max_run"], 0.0, texts[0])


def run_seed(
    resident,
    preset: str,
    seed: int,
    overrides: dict,
    prompts,
    tokens,
    measure,
    every: int,
    stop_above: float | None = None,
):
    """One seed's run with a held-out check every ``every`` steps; ``stop_above``: stop the
    run at the first check whose value reaches it (the preset's schedule is unchanged)."""
    from transformers import TrainerCallback

    result = SeedRun(seed)
    clock = {"train": 0.0, "mark": time.perf_counter()}

    class HeldOut(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            clock["train"] += time.perf_counter() - clock["mark"]
            if state.global_step % every and state.global_step != state.max_steps:
                clock["mark"] = time.perf_counter()
                return
            point = held_out(resident, prompts, tokens, measure, base=False)
            point.step, point.seconds = state.global_step, clock["train"]
            result.points.append(point)
            print(
                f"  seed {seed} step {point.step}: {measure.name} {point.value:+.3f}, distinct-2 "
                f"{point.distinct_2:.2f}, longest run {point.max_run}, {point.seconds:.0f} s "
                f"| {point.sample[:70]!r}",
                flush=True,
            )
            if stop_above is not None and point.value >= stop_above:
                control.should_training_stop = True
            clock["mark"] = time.perf_counter()
            return control

    config = from_preset(preset, seed=seed, **overrides)
    # as the Train tab runs it: the default before-vs-now prompts answered at every step
    run = as_the_train_tab(resident, config, f"classroom-s{seed}", [HeldOut()])
    end = run.start().join(timeout=7200)
    if end is None or end.error:
        raise SystemExit(f"seed {seed}: the run failed: {getattr(end, 'error', 'timeout')}")
    result.history = run.history
    return result


PROBE_STEPS = 6  # the first minutes of a lesson: what the room watches must move by then


def what_the_room_sees(run: SeedRun, preset: str, tokenizer) -> list[str]:
    """The Train tab's view of this run: the headline at every step (the app's own measure
    over each step's answers) and the before-vs-now answers of the first steps, checked:
    no shown answer empty or one token, and each headline number moving its way by step 4."""
    task = TASKS[PRESETS[preset].task]
    measures = headline_measures(task)
    steps = [[c.completion for c in e.completions] for e in run.history]
    out = [f"headline ({m.name}) step by step: {m.trend(steps)}" for m in measures]
    early = [e for e in run.history if e.probes and e.step <= PROBE_STEPS]
    tokens = [len(tokenizer(a).input_ids) for e in early for a in e.probes]
    least = min(tokens, default=0)
    out.append(
        f"{'PASS' if least > 1 else 'MISS'} before-vs-now answers at steps 1-{PROBE_STEPS}: "
        f"never empty or one token (shortest {least} tokens, {len(tokens)} answers)"
    )
    for m in measures if len(steps) >= 4 else []:
        values = [m.compute(texts) for texts in steps]
        change = [v - values[0] for v in values[2:4]]  # steps 3 and 4 against step 1
        moved = max(change) if m is measures[0] else -min(change)  # letters off: falls
        said = f"{100 * moved:+.0f} points" if m.percent else f"{moved:+.2f}"
        out.append(f"{'PASS' if moved > 0 else 'MISS'} {m.name} moves by step 3-4 its way: {said}")
    for e in early:
        shown = " / ".join(repr(a.strip()[:45]) for a in e.probes)
        out.append(f"step {e.step} before-vs-now: {shown}")
    return out


def checks(base: Point, run: SeedRun, measure: Target) -> list[str]:
    """Each target as PASS/MISS with its number, then the no-collapse check over all steps."""
    out = []
    by_step = {p.step: p for p in run.points}
    for step, target in measure.targets.items():
        reached = [p for p in run.points if p.step <= step]
        best = max((measure.gain(base.value, p.value) for p in reached), default=float("nan"))
        if step > max(by_step, default=0):
            out.append(
                f"gain >= {target:g} by step {step} not judged (a shorter run; best {best:+.2f})"
            )
            continue
        first = next((p.step for p in reached if measure.gain(base.value, p.value) >= target), None)
        ok = first is not None
        out.append(
            f"{'PASS' if ok else 'MISS'} gain >= {target:g} by step {step}"
            + (f" (first at step {first})" if ok else f" (best {best:+.2f})")
        )
    last = by_step[max(by_step)] if by_step else None
    collapsed = [
        p.step
        for p in run.points
        if p.distinct_2 < DISTINCT_SHARE * base.distinct_2 or p.max_run > MAX_RUN
    ]
    out.append(
        "PASS no collapse at any step"
        if not collapsed
        else f"MISS collapse-check failed at steps {collapsed}"
    )
    if last:
        out.append(f"last step distinct-2 {last.distinct_2:.2f} (base {base.distinct_2:.2f})")
    return out


def report(args, base: Point, runs: list[SeedRun], measure: Target, tokenizer) -> str:
    steps = sorted({p.step for r in runs for p in r.points})
    gain = "× base" if measure.relative else "gain over base"
    lines = [
        f"## `{args.preset}` {args.label or ''} — {measure.name}, held-out",
        "",
        f"{cpu_line()}; `python -m bench.classroom --preset {args.preset} --seeds "
        f"{' '.join(map(str, args.seeds))} --steps {args.steps} --eval-every {args.eval_every}"
        + "".join(f" --set {s}" for s in args.set)
        + (" --stop-at-effect" if args.stop_at_effect else "")
        + f"`; {len(held_prompts(args))} held-out prompts × 1 sample × {args.tokens} tokens, "
        f"sampling seed {EVAL_SEED}. Base: {measure.name} {base.value:+.3f}, distinct-2 "
        f"{base.distinct_2:.2f}, longest run {base.max_run}.",
        "",
        f"| step | {' | '.join(f'seed {r.seed}: {gain} (distinct-2, run)' for r in runs)} |",
        f"|---|{'---|' * len(runs)}",
    ]
    for step in steps:
        cells = []
        for r in runs:
            p = next((p for p in r.points if p.step == step), None)
            cells.append(
                f"{measure.gain(base.value, p.value):+.2f} ({p.distinct_2:.2f}, {p.max_run})"
                if p
                else "—"
            )
        lines.append(f"| {step} | {' | '.join(cells)} |")
    lines.append("")
    for r in runs:
        per_step = r.points[-1].seconds / r.points[-1].step if r.points else float("nan")
        lines.append(
            f"- seed {r.seed} ({per_step:.1f} s a training step): "
            + "; ".join(checks(base, r, measure))
        )
        lines += [f"  - {line}" for line in what_the_room_sees(r, args.preset, tokenizer)]
    first = min(measure.targets.values())
    effects = [time_to_effect(base, r, measure, first) for r in runs]
    shown = [f"{p.seconds:.0f} s (step {p.step})" if p else "not reached" for p in effects]
    reached = [p.seconds for p in effects if p]
    median = f"median {statistics.median(reached):.0f} s" if len(reached) == len(runs) else ""
    lines += [
        f"- time to effect (Start to a held-out gain of {first:g}, held-out checks excluded): "
        + ", ".join(shown)
        + (f"; {median}" if median else ""),
        "",
    ]
    return "\n".join(lines)


def first_target(base: Point, measure: Target) -> float:
    """The held-out value that meets the earliest target (base + gain, or base x gain)."""
    gain = min(measure.targets.values())
    return base.value * gain if measure.relative else base.value + gain


def time_to_effect(base: Point, run: SeedRun, measure: Target, gain: float) -> Point | None:
    """The first held-out check at or past ``gain`` (its ``seconds``: training time since
    Start, the checks themselves excluded), or ``None``."""
    return next((p for p in run.points if measure.gain(base.value, p.value) >= gain), None)


def held_prompts(args) -> list[str]:
    return eval_prompts()[: args.n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="classroom-four-letter")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--n", type=int, default=64, help="held-out prompts (one answer each)")
    parser.add_argument("--tokens", type=int, default=48, help="new tokens per held-out answer")
    parser.add_argument("--eval-every", type=int, default=3, help="held-out check every K steps")
    parser.add_argument("--set", action="append", default=[], help="a RunConfig field=value")
    parser.add_argument("--label", default="")
    parser.add_argument("--write", action="store_true", help="append to results/classroom.md")
    parser.add_argument(
        "--stop-at-effect",
        action="store_true",
        help="end each run at the first held-out check past the first target (time to effect)",
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    measure = measure_of(PRESETS[args.preset].task)
    overrides = {"max_steps": args.steps, **parse_set(args.set)}
    resident = ResidentModel.load(None, Path(tempfile.mkdtemp(prefix="classroom-")))
    prompts = held_prompts(args)
    base = resident.compute.call(held_out, resident, prompts, args.tokens, measure, True)
    print(f"base: {measure.name} {base.value:+.3f}, distinct-2 {base.distinct_2:.2f}", flush=True)
    runs = []
    for seed in args.seeds:
        runs.append(
            run_seed(
                resident,
                args.preset,
                seed,
                overrides,
                prompts,
                args.tokens,
                measure,
                args.eval_every,
                stop_above=first_target(base, measure) if args.stop_at_effect else None,
            )
        )
        for line in checks(base, runs[-1], measure):
            print(f"  seed {seed}: {line}", flush=True)
    text = report(args, base, runs, measure, resident.tokenizer)
    print(text)
    if args.write:
        out = ROOT / "results" / "classroom.md"
        head = "" if out.exists() else "# Classroom presets: held-out change per step\n\n"
        with out.open("a") as f:
            f.write(head + text + "\n")


if __name__ == "__main__":
    main()
