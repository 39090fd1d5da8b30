"""GRPO step time, arms interleaved in one process: plain TRL against the project's path.

    python -m bench.interleaved [--rounds 2] [--steps 3] [--sizes pair classroom] [--no-bf16]
        [--write]

Each arm is a short run of ``--steps`` optimizer steps whose first step is dropped (warm-up);
the arms take turns (A, B, C, A, B, C, ...) for ``--rounds`` rounds, so the machine's drift
hits every arm alike. Every arm samples the same prompts with the report's ``four_letter``
reward and LoRA r16 on all linear layers of the bundled base. Printed: median and spread per
arm, each arm's ratio to the faster of the two plain-TRL arms (TRL's default ``bf16=True`` and
``bf16=False``), each arm's ratio to the step's FLOP floor at this machine's measured matmul
peak (``bench.common``'s, which ``python -m bench.floor`` prints), the project arms' rollout
and update phases against their own floors, the CPU model and its bf16/AMX flags, and torch's
thread count. ``--write`` puts the table
into BENCHMARKS.md between its ``interleaved`` markers (``--no-bf16``: ``interleaved-fp32``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from bench.common import (
    ROOT,
    SIZES,
    cpu_line,
    floor_of,
    peak_line,
    peaks,
    plain_trl,
    project_config,
    run_to_end,
    step_timer,
    timing_table,
    write_between,
)
from grpo_demo import compute
from grpo_demo.adapters import ResidentModel
from grpo_demo.data import train_prompts
from grpo_demo.evaluation import evaluate
from grpo_demo.generation import SamplingParams, generate
from grpo_demo.models import load_base, native_bf16, resolve_spec
from grpo_demo.training import TrainingRun

START, END = "<!-- interleaved: start -->", "<!-- interleaved: end -->"
START_FP32, END_FP32 = "<!-- interleaved-fp32: start -->", "<!-- interleaved-fp32: end -->"


PHASES: dict[str, list[tuple[float, float]]] = {}
"""Per project arm: (rollouts s, update s) of each timed step (``run.phase_seconds``)."""


def project(resident, size: tuple[int, int, int], steps: int, **overrides) -> list[float]:
    """The project's own path (what the app and the CLI run) on the same sizes and reward;
    each timed step's two phases are kept in ``PHASES`` under the overrides' key."""
    cfg = project_config(size, steps, **overrides)
    timer = step_timer()
    run = TrainingRun(resident, cfg, f"bench-{time.time_ns()}", callbacks=[timer])
    seen: list[tuple[float, float]] = []
    timer.after_step = lambda: seen.append(
        (run.phase_seconds.get("rollouts", 0.0), run.phase_seconds.get("update", 0.0))
    )
    run_to_end(run, "bench run")
    PHASES.setdefault(phase_key(size, overrides), []).extend(seen[1:])
    return timer.times[1:]


def phase_key(size: tuple[int, int, int], overrides: dict) -> str:
    return f"{size} {sorted(overrides.items())}"


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
    todo = {
        # on the process's compute thread, like the project's runs: a second thread doing
        # tensor work slows both down (grpo_demo/compute.py says why)
        "plain TRL, bf16=True (TRL's default)": lambda: on_compute(plain_trl, size, steps, True),
        "plain TRL, bf16=False": lambda: on_compute(plain_trl, size, steps, False),
        **{
            name: (lambda ov=ov: project(resident, size, steps, **ov))
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
        for r in range(rounds):
            for name, arm in todo.items():
                times[name] += arm()
                print(
                    f"[{size_name} round {r + 1}] {name}: {times[name][-steps + 1 :]}", flush=True
                )
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
            if name in PROJECT_ARMS:
                split = PHASES.get(phase_key(size, PROJECT_ARMS[name]), [])
                if split:
                    roll = statistics.median(p[0] for p in split)
                    upd = statistics.median(p[1] for p in split)
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


def thread_effect(rounds: int = 2, steps: int = 3) -> str:
    """The project's step with and without a living thread that has run tensor work itself,
    interleaved (A, B, A, B): what a Gradio worker thread serving a request does to a run."""
    import threading

    resident = ResidentModel.load(None, Path(tempfile.mkdtemp(prefix="bench-ckpt-")))
    size, fp32 = SIZES["pair"], {"bf16": False, "bf16_rollouts": False}

    def with_request_thread() -> list[float]:
        served, done = threading.Event(), threading.Event()

        def request() -> None:  # serves one request, then stays alive like a worker thread
            generate(resident, "Fill that sentence", "base", SamplingParams(8, 32))
            served.set()
            done.wait()

        worker = threading.Thread(target=request)
        worker.start()
        served.wait()
        try:
            return project(resident, size, steps, **fp32)
        finally:
            done.set()
            worker.join()  # a thread that ends takes its OpenMP pool with it

    todo = {
        "no other thread has run tensor work": lambda: project(resident, size, steps, **fp32),
        "a living thread served a request first": with_request_thread,
    }
    times: dict[str, list[float]] = {name: [] for name in todo}
    for _ in range(rounds):
        for name, arm in todo.items():
            times[name] += arm()
    title = f"{cpu_line()}; 8 × 32, fp32; {rounds} rounds × {steps - 1} timed steps per arm"
    return timing_table(title, times, "s/step")


def eval_batches(rounds: int = 3, n: int = 48, batches: tuple[int, ...] = (16, 50)) -> str:
    """The app's evaluation batch (16 rows: its progress bar moves) against the CLI's 50,
    interleaved: N completions of the base, 48 new tokens, seconds per whole evaluation."""
    resident = ResidentModel.load(None, Path(tempfile.mkdtemp(prefix="bench-ckpt-")))
    evaluate(resident, ["base"], 8)  # warm-up
    times: dict[str, list[float]] = {f"batch {b}": [] for b in batches}
    for _ in range(rounds):
        for b in batches:
            start = time.perf_counter()
            evaluate(resident, ["base"], n, batch_size=b)
            times[f"batch {b}"].append(time.perf_counter() - start)
    title = f"{cpu_line()}; evaluation of {n} base completions × 48 tokens; {rounds} rounds"
    return timing_table(title, times, "s")


def resident_dtype(rounds: int = 3, rows: int = 32, tokens: int = 32) -> str:
    """The lever the profile points at: rollouts from fp32 weights under bf16 autocast (what
    the project does where bf16 is native: every linear's weight is cast again in every
    decode step), from fp32 weights without autocast, and from the same base held in bf16,
    interleaved: seconds for ``rows`` x ``tokens`` sampled tokens."""
    import torch

    spec = resolve_spec("smollm2-135m")
    fp32, tok = load_base(spec)
    bf16 = load_base(spec)[0].to(torch.bfloat16)
    batch = tok(train_prompts()[:rows], return_tensors="pt", padding=True)

    def sample(model, autocast: bool) -> float:
        fast = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else nullcontext()
        with torch.inference_mode(), fast:
            torch.manual_seed(0)
            start = time.perf_counter()
            model.generate(
                **batch,
                do_sample=True,
                max_new_tokens=tokens,
                min_new_tokens=tokens,
                pad_token_id=tok.pad_token_id,
            )
            return time.perf_counter() - start

    todo = {
        "fp32 weights, bf16 autocast (the project where bf16 is native)": lambda: sample(
            fp32, True
        ),
        "fp32 weights, no autocast": lambda: sample(fp32, False),
        "bf16 weights": lambda: sample(bf16, False),
    }
    for arm in todo.values():
        on_compute(arm)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in todo}
    for _ in range(rounds):
        for name, arm in todo.items():
            times[name].append(on_compute(arm))
    title = f"{cpu_line()}; {rows} × {tokens} sampled tokens, bundled base; {rounds} rounds"
    return timing_table(title, times, "s")


def resident_training(rounds: int = 2, steps: int = 3, size_name: str = "classroom") -> str:
    """The same lever on whole steps: the project's run (its defaults here) on the resident
    base in fp32 (today) and on the same base held in bf16 (LoRA and optimizer stay fp32),
    interleaved, each step's two phases beside it."""
    import torch

    spec = resolve_spec("smollm2-135m")
    residents = {}
    for label, dtype in (("fp32 base (today)", None), ("bf16 base", torch.bfloat16)):
        model, tok = on_compute(load_base, spec)
        if dtype is not None:
            model = on_compute(model.to, dtype)
        folder = Path(tempfile.mkdtemp(prefix="bench-ckpt-"))
        residents[label] = ResidentModel(spec, model, tok, folder)
    size = SIZES[size_name]
    times: dict[str, list[float]] = {label: [] for label in residents}
    phases: dict[str, list[tuple[float, float]]] = {label: [] for label in residents}
    for _ in range(rounds):
        for label, resident in residents.items():
            PHASES.clear()
            times[label] += project(resident, size, steps)
            phases[label] += next(iter(PHASES.values()), [])
    lines = [
        f"{cpu_line()}; {size[0]} × {size[1]} × {size[2]}, the project's defaults here; "
        f"{rounds} rounds × {steps - 1} timed steps per arm",
        "",
        "| base weights | median s/step | min | max | rollouts s | update s |",
        "|---|---|---|---|---|---|",
    ]
    for label, values in times.items():
        roll = statistics.median(p[0] for p in phases[label])
        upd = statistics.median(p[1] for p in phases[label])
        lines.append(
            f"| {label} | {statistics.median(values):.2f} | {min(values):.2f} | "
            f"{max(values):.2f} | {roll:.2f} | {upd:.2f} |"
        )
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
    parser.add_argument(
        "--threads", action="store_true", help="only: a step with and without a request thread"
    )
    parser.add_argument(
        "--eval-batches", action="store_true", help="only: evaluation batch 16 against 50"
    )
    parser.add_argument(
        "--resident-dtype",
        action="store_true",
        help="only: rollouts from fp32 weights under autocast against bf16 weights",
    )
    parser.add_argument(
        "--resident-training",
        action="store_true",
        help="only: whole project steps on an fp32 resident base against a bf16 one",
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.resident_training:
        print(resident_training(args.rounds, args.steps))
        return
    if args.resident_dtype:
        print(resident_dtype(max(args.rounds, 3)))
        return
    if args.eval_batches:
        print(eval_batches(max(args.rounds, 3)))
        return
    if args.threads:
        print(thread_effect(args.rounds, args.steps))
        return
    table = run(args.sizes, args.rounds, args.steps, args.no_bf16)
    print(table)
    if args.write:
        write_between(*((START_FP32, END_FP32) if args.no_bf16 else (START, END)), table)


if __name__ == "__main__":
    main()
