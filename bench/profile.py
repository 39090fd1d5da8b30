"""Where a project step's time goes, phase by phase, against each phase's FLOP floor.

    python -m bench.profile [--sizes classroom] [--steps 3] [--write]
    python -m bench.profile --preset classroom-four-letter [--steps 3] [--write]

One project run (the app's path, its defaults here; ``--preset``: that preset as the Train tab
runs it, its probes riding in every step's rollouts) of ``--steps`` steps under
``torch.profiler`` (CPU), the first step left out (warm-up). Each phase of a step (rollouts,
update) is marked with a ``record_function`` as the run enters it; the optimizer step is
torch's own mark. Every ATen op's *self* time is added to the phase it ran in and to its op
family (linear, attention, log-softmax/logits, casts/copies, sampling, other ops); what a
phase's wall time has beyond its ops is Python and the libraries' bookkeeping (the profiler
adds some of its own). ``--write`` puts the table into BENCHMARKS.md between its ``profile``
markers (``--preset``: its ``profile-app`` markers).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.common import (
    SIZES,
    as_the_train_tab,
    cpu_line,
    floor_of,
    peak_line,
    peaks,
    project_config,
    run_to_end,
    write_between,
)
from grpo_demo.adapters import ResidentModel
from grpo_demo.models import native_bf16
from grpo_demo.presets import from_preset
from grpo_demo.training import DEFAULT_PROBES, PROBE_SAMPLES, TrainingRun

START, END = "<!-- profile: start -->", "<!-- profile: end -->"
APP_START, APP_END = "<!-- profile-app: start -->", "<!-- profile-app: end -->"  # --preset
FAMILIES = {
    "linear": ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_addmm_activation"),
    "attention": ("scaled_dot_product", "aten::_softmax", "aten::softmax", "flash_attention"),
    "log-softmax / logits": ("log_softmax", "logsumexp", "aten::gather", "cross_entropy", "nll"),
    "casts / copies": ("aten::copy_", "aten::_to_copy", "aten::clone", "aten::to", "contiguous"),
    "sampling": ("multinomial", "exponential_", "aten::topk", "aten::sort", "aten::argmax"),
}
FULL_VOCAB = "full-vocabulary tensors"
"""Any other op on a tensor whose last dimension is the vocabulary (log-softmax, entropy,
temperature, sampling's probabilities): TRL's logits work, whatever ATen calls it."""
PHASE_MARKS = ("phase:rollouts", "phase:update", "Optimizer.step")


def family(name: str, shapes=(), vocab: int = 0) -> str:
    for fam, keys in FAMILIES.items():
        if any(k in name for k in keys):
            return fam
    if vocab and any(s and s[-1] == vocab for s in shapes if isinstance(s, list | tuple)):
        return FULL_VOCAB
    return "other ops"


def profiled_run(resident, cfg, steps: int, train_tab: bool):
    """A project run with the profiler on from the second step to the last (``train_tab``:
    started as the Train tab starts it, with its probes)."""
    from torch.profiler import ProfilerActivity, profile, record_function
    from transformers import TrainerCallback

    prof = profile(activities=[ProfilerActivity.CPU], record_shapes=True)
    open_marks: list = []
    walls: list[float] = []

    class Window(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == 1:
                prof.start()
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= 2:
                walls.append(time.perf_counter() - self.start)
            if state.global_step == steps:
                prof.stop()

    name = f"bench-profile-{time.time_ns()}"
    if train_tab:
        run = as_the_train_tab(resident, cfg, name, [Window()])
    else:
        run = TrainingRun(resident, cfg, name, callbacks=[Window()])
    enter = run.phases.enter

    def marked(phase: str | None) -> None:  # the trainer calls this as a step moves on
        while open_marks:
            open_marks.pop().__exit__(None, None, None)
        enter(phase)
        if phase in ("rollouts", "update"):
            mark = record_function(f"phase:{phase}")
            mark.__enter__()
            open_marks.append(mark)

    run.phases.enter = marked
    run_to_end(run, "profiled run")
    return prof, walls


def split(prof, vocab: int) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(wall seconds of each marked phase, self seconds per op family in each phase)."""
    events = list(prof.events())
    marks = [e for e in events if e.name.startswith(PHASE_MARKS)]
    walls: dict[str, float] = defaultdict(float)
    spans = []
    for m in marks:
        name = "optimizer" if m.name.startswith("Optimizer.step") else m.name.split(":", 1)[1]
        walls[name] += (m.time_range.end - m.time_range.start) / 1e6
        spans.append((m.time_range.start, m.time_range.end, name))
    per: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for e in events:
        if not e.name.startswith("aten::") and "scaled_dot" not in e.name:
            continue
        t = e.time_range.start
        where = next((n for s, f, n in spans if s <= t <= f), "between the phases")
        per[where][family(e.name, e.input_shapes, vocab)] += e.self_cpu_time_total / 1e6
    return dict(walls), {k: dict(v) for k, v in per.items()}


def table(resident, steps: int, size_name: str | None = None, preset: str | None = None) -> str:
    """One size's profile table (``preset``: that preset as the Train tab runs it)."""
    if preset:
        cfg = from_preset(preset, max_steps=steps)
        group = cfg.num_generations
        size = (cfg.per_device_train_batch_size // group, group, cfg.max_completion_length)
    else:
        size = SIZES[size_name]
        cfg = project_config(size, steps)
    peak = resident.compute.call(peaks)
    floor = floor_of(resident, size, peak, native_bf16())
    prof, step_walls = profiled_run(resident, cfg, steps, train_tab=bool(preset))
    walls, per = split(prof, resident.model.config.vocab_size)
    timed = len(step_walls)
    fams = [*FAMILIES, FULL_VOCAB, "other ops"]
    what = f"{preset} as the Train tab runs it (beta {cfg.beta}, probes riding), " if preset else ""
    lines = [
        f"**{what}{size[0]} × {size[1]} × {size[2]}**, {timed} profiled steps (the first left "
        "out); "
        f"{cpu_line()}; {peak_line(peak)}; seconds per step (self time of the ATen ops in each "
        "family; the rest of a phase is Python and bookkeeping):",
        "",
        f"| phase | wall | floor | × floor | {' | '.join(fams)} | Python, bookkeeping |",
        f"|---|---|---|---|{'---|' * len(fams)}---|",
    ]
    step_total = sum(step_walls) / timed
    # the rollouts phase also runs the reference forward (beta > 0) and, in the app, the probes
    extra = (1 + len(DEFAULT_PROBES) * PROBE_SAMPLES / (size[0] * size[1])) if preset else 1
    rollouts = floor.rollouts_s * extra + (floor.rollouts_s if cfg.beta else 0.0)
    floors = {"rollouts": rollouts, "update": floor.update_s}
    for phase in ("rollouts", "update", "optimizer", "between the phases"):
        ops = per.get(phase, {})
        wall = walls.get(phase, 0.0) / timed
        if phase == "between the phases":  # the step's rest: logging, TRL's bookkeeping
            wall = step_total - sum(walls.values()) / timed
        spent = sum(ops.values()) / timed
        fl = floors.get(phase)
        cells = " | ".join(f"{ops.get(f, 0.0) / timed:.2f}" for f in fams)
        ratio = f"{wall / fl:.1f}×" if fl else "—"
        fl_text = f"{fl:.2f}" if fl else "—"
        lines.append(
            f"| {phase} | {wall:.2f} | {fl_text} | {ratio} | {cells} | {max(wall - spent, 0):.2f} |"
        )
    step_floor = rollouts + floor.update_s
    lines.append(
        f"| **step** | **{step_total:.2f}** | {step_floor:.2f} | "
        f"**{step_total / step_floor:.1f}×** |{' |' * len(fams)} |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["classroom"], choices=list(SIZES))
    parser.add_argument("--steps", type=int, default=3, help="profiled: all but the first")
    parser.add_argument("--preset", help="profile this preset as the Train tab runs it instead")
    parser.add_argument("--write", action="store_true", help="into BENCHMARKS.md's markers")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    resident = ResidentModel.load(None, Path(tempfile.mkdtemp(prefix="bench-profile-")))
    run_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    flags = f" --preset {args.preset}" if args.preset else ""
    start, end = (APP_START, APP_END) if args.preset else (START, END)
    parts = [start, f"Run {run_at}: `python -m bench.profile --steps {args.steps}{flags}`.", ""]
    if args.preset:
        parts += [table(resident, args.steps, preset=args.preset), ""]
    for name in [] if args.preset else args.sizes:
        parts += [table(resident, args.steps, size_name=name), ""]
    parts.append(end)
    text = "\n".join(parts)
    print(text)
    if args.write:
        write_between(start, end, text)


if __name__ == "__main__":
    main()
