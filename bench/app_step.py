"""The step a class waits for, phase by phase, beside the bench step and plain TRL.

    python -m bench.app_step [--rounds 3] [--steps 3] [--preset classroom-four-letter]
        [--set beta=0 ...] [--write]

Arms, interleaved (A, B, C, A, B, ...; each arm a short run whose first step is dropped, as
is its last, whose probes run after the run's end):

- **in the app**: the preset as shipped, as the Train tab runs it (the default before-vs-now
  prompts answered at every step), on the app's resident model (the shipped adapters loaded);
- **bench step**: the project's run at 4 × 8 × 32, beta 0, no probes (``bench.interleaved``'s);
- **plain TRL** at the bench step's sizes and at the preset's own (its tokens and beta), fp32,
  and bf16 where the CPU has it natively (TRL's default; emulated bf16 is ~5× slower).

The in-app step is split into its phases: **rollouts** (TRL's generate, the rewards and, when
beta > 0, the reference forward, timed on its own), **between** (requests let in), **update**
(the policy forward, timed on its own, its backward and the optimizer) and **after** (from the
step's end to the next step's start: TRL's log, the probes, the step's event). ``--set``
changes the preset for the in-app arm (a lever measured in the app's own path). ``--write``
puts the table into BENCHMARKS.md between its ``app-step`` markers.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

from bench.common import (
    ROOT,
    SIZES,
    as_the_train_tab,
    cpu_line,
    floor_of,
    parse_set,
    peak_line,
    peaks,
    plain_trl,
    project_steps,
    run_to_end,
    write_between,
)
from grpo_demo.adapters import ResidentModel
from grpo_demo.models import native_bf16
from grpo_demo.presets import from_preset
from grpo_demo.training import DEFAULT_PROBES, PROBE_SAMPLES

START, END = "<!-- app-step: start -->", "<!-- app-step: end -->"
PHASES = ("rollouts", "reference forward", "between", "update", "policy forward", "after")


@contextmanager
def timed_forwards(into: dict[str, float], phase_of):
    """TRL's log-prob forwards timed by the phase they run in (bench-only instrumentation):
    in the rollouts it is the reference forward, in the update the policy's forward."""
    from trl import GRPOTrainer

    inner = GRPOTrainer._get_per_token_logps_and_entropies

    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(self, *args, **kwargs)
        finally:
            name = {"rollouts": "reference forward", "update": "policy forward"}.get(phase_of())
            if name:
                into[name] += time.perf_counter() - start

    GRPOTrainer._get_per_token_logps_and_entropies = timed
    try:
        yield
    finally:
        GRPOTrainer._get_per_token_logps_and_entropies = inner


def in_app(resident, preset: str, steps: int, sets: dict) -> tuple[list[float], list[dict]]:
    """The preset as the Train tab runs it; each timed step's wall time (its start to the
    next step's start) and its phases."""
    from transformers import TrainerCallback

    config = from_preset(preset, seed=42, **{**sets, "max_steps": steps})
    begins: list[float] = []
    steps_seen: list[dict[str, float]] = []
    forwards: dict[str, float] = defaultdict(float)

    class Marks(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            begins.append(time.perf_counter())
            forwards.clear()

        def on_step_end(self, args, state, control, **kwargs):
            # the phases' last lengths are this step's: the update ends before the optimizer
            phases = {p: run.phases.seconds.get(p, 0.0) for p in ("rollouts", "between", "update")}
            steps_seen.append({**phases, **forwards, "end": time.perf_counter()})

    run = as_the_train_tab(resident, config, f"bench-app-{time.time_ns()}", [Marks()])
    with timed_forwards(forwards, lambda: run.phases.now):
        run_to_end(run, "the in-app run")
    walls, phases = [], []
    for i in range(1, len(begins) - 1):  # the first is warm-up; the last has no next start
        walls.append(begins[i + 1] - begins[i])
        seen = steps_seen[i]
        ended = seen.pop("end")
        phases.append({**seen, "after": begins[i + 1] - ended})
    return walls, phases


def arms(resident, preset: str, steps: int, sets: dict) -> dict:
    """name -> a callable returning (step seconds, phases per step or None)."""
    cfg = from_preset(preset, **sets)
    bench, group = SIZES["classroom"], cfg.num_generations
    own = (cfg.per_device_train_batch_size // group, group, cfg.max_completion_length)
    changed = ", ".join(f"{k} {v}" for k, v in sets.items())
    todo = {
        f"in the app: {preset}{' with ' + changed if changed else ' as shipped'}, "
        f"{own[0]} × {own[1]} × {own[2]}, beta {cfg.beta}, probes every step": lambda: in_app(
            resident, preset, steps, sets
        ),
        "bench step: the project at 4 × 8 × 32, beta 0, no probes": lambda: (
            project_steps(resident, bench, steps)[0],
            None,
        ),
    }
    for bf16 in (False, True) if native_bf16() else (False,):
        kind = "bf16 (TRL's default)" if bf16 else "fp32"
        todo[f"plain TRL, {kind}, 4 × 8 × 32, beta 0"] = lambda bf16=bf16: (
            resident.compute.call(plain_trl, bench, steps, bf16),
            None,
        )
        todo[f"plain TRL, {kind}, the preset's {own[0]} × {own[1]} × {own[2]}, beta {cfg.beta}"] = (
            lambda bf16=bf16: (
                resident.compute.call(plain_trl, own, steps, bf16, beta=cfg.beta),
                None,
            )
        )
    return todo


def table(args, times: dict, phases: dict, peak, floor, app_floor: str) -> str:
    lines = [
        START,
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: `python -m bench.app_step "
        f"--rounds {args.rounds} --steps {args.steps}"
        f"{''.join(' --set ' + s for s in args.set)}`; {cpu_line()}; native bf16: "
        f"{native_bf16()}; {peak_line(peak)}. FLOP floor of the bench step (4 × 8 × 32, "
        f"{floor.peak_dtype} peak): **{floor.step_s:.2f} s**; {app_floor}.",
        "",
        "| arm | median s/step | min | max | × plain TRL at its size |",
        "|---|---|---|---|---|",
    ]
    plain = {n: statistics.median(v) for n, v in times.items() if n.startswith("plain")}
    for name, values in times.items():
        med = statistics.median(values)
        same = [v for n, v in plain.items() if ("4 × 8 × 32" in n) == ("4 × 8 × 32" in name)]
        ratio = f"{med / min(same):.2f}" if same and not name.startswith("plain") else "—"
        lines.append(f"| {name} | {med:.2f} | {min(values):.2f} | {max(values):.2f} | {ratio} |")
    for name, steps in phases.items():
        lines += ["", f"Phases of *{name}* (median s over {len(steps)} steps, min–max):", ""]
        lines += ["| phase | median s | min | max |", "|---|---|---|---|"]
        for phase in PHASES:
            values = [s.get(phase, 0.0) for s in steps]
            lines.append(
                f"| {phase} | {statistics.median(values):.2f} | {min(values):.2f} | "
                f"{max(values):.2f} |"
            )
    return "\n".join([*lines, END])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--preset", default="classroom-four-letter")
    parser.add_argument("--set", nargs="*", default=[], help="key=value for the in-app arm")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    sets = parse_set(args.set)
    resident = ResidentModel.load(None, ROOT / "checkpoints")
    resident.checkpoints = Path(tempfile.mkdtemp(prefix="bench-ckpt-"))  # write elsewhere
    peak = resident.compute.call(peaks)
    floor = floor_of(resident, SIZES["classroom"], peak, native_bf16())
    cfg = from_preset(args.preset, **sets)
    size = (cfg.per_device_train_batch_size // cfg.num_generations, cfg.num_generations)
    own = floor_of(resident, (*size, cfg.max_completion_length), peak, native_bf16())
    reference = own.rollouts_s if cfg.beta else 0.0  # one more forward over the same tokens
    probes = own.rollouts_s * len(DEFAULT_PROBES) * PROBE_SAMPLES / (size[0] * size[1])
    app_floor = (
        f"of the in-app step: rollouts {own.rollouts_s:.2f} + reference forward "
        f"{reference:.2f} + update {own.update_s:.2f} + probes {probes:.2f} = "
        f"**{own.step_s + reference + probes:.2f} s**"
    )
    todo = arms(resident, args.preset, args.steps, sets)
    times: dict[str, list[float]] = {n: [] for n in todo}
    phases: dict[str, list[dict]] = {}
    for r in range(args.rounds):
        for name, arm in todo.items():
            walls, split = arm()
            times[name] += walls
            if split is not None:
                phases.setdefault(name, []).extend(split)
            print(f"[round {r + 1}] {name}: {[round(w, 2) for w in walls]} {split}", flush=True)
    text = table(args, times, phases, peak, floor, app_floor)
    print(text)
    if args.write:
        write_between(START, END, text)


if __name__ == "__main__":
    main()
