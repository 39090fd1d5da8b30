"""What the bench tools share: the repository root, a per-step timer, the machine's CPU line,
writing a table between two markers of BENCHMARKS.md, the step sizes and the project's run
at each, plain TRL's run, the FLOP floor (this machine's matmul peak and a step size's FLOPs
at it); ``bench.common.page``: a Gradio page at the protocol level.

Every tool imports these from ``bench.common`` (and from no other tool), so the tools stay
independent.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from grpo_demo.config import RunConfig
from grpo_demo.data import train_prompts
from grpo_demo.models import load_base, native_bf16, resolve_spec
from grpo_demo.presets import from_preset
from grpo_demo.rewards import four_letter
from grpo_demo.training import DEFAULT_PROBES, TrainingRun

ROOT = Path(__file__).resolve().parents[2]


def step_timer():
    """A Trainer callback that records each optimizer step's seconds in ``.times`` (and calls
    ``.after_step()`` after each, for whatever else a bench keeps per step)."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []
            self.after_step = lambda: None

        def on_step_begin(self, args, state, control, **kwargs):
            self._start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(time.perf_counter() - self._start)
            self.after_step()

    return StepTimer()


def cpu_line() -> str:
    """CPU model, the flags that decide bf16 speed, cores and torch's threads."""
    import torch

    model, flags = platform.processor() or "?", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("?", "", "x86_64"):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    have = ", ".join(f for f in wanted if f in flags) or "none of avx2/avx512/amx"
    return (
        f"{model}; {os.cpu_count()} cores; flags: {have}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )


def write_between(start: str, end: str, table: str, out: Path = ROOT / "BENCHMARKS.md") -> None:
    """Put ``table`` (which carries its own markers) in place of the one between ``start``
    and ``end``; a table seen for the first time goes before the file's first section."""
    text = out.read_text()
    if start in text:
        text = text[: text.index(start)] + table + text[text.index(end) + len(end) :]
    else:
        text = text.replace("\n## ", f"\n{table}\n\n## ", 1)
    out.write_text(text)


SIZES = {  # name -> (prompts a step, completions per prompt, new tokens)
    "pair": (1, 8, 32),  # one group of 8 completions x 32 tokens (the comparison)
    "classroom": (4, 8, 32),  # the classroom-four-letter preset's own sizes
}


def project_config(size: tuple[int, int, int], steps: int, **overrides) -> RunConfig:
    """The project's run at a step size, comparable with the plain-TRL arms: the four-letter
    reward, lr 1e-3 and beta 0 (TRL's default: no reference forward; the classroom preset's
    0.01 adds one), LoRA r16 on all linear layers."""
    prompts, group, tokens = size
    return from_preset(
        "classroom-four-letter",
        task="four-letter",
        learning_rate=1e-3,
        beta=0.0,
        max_steps=steps,
        num_generations=group,
        per_device_train_batch_size=prompts * group,
        max_completion_length=tokens,
        **overrides,
    )


def run_to_end(run: TrainingRun, what: str) -> None:
    """Start ``run`` and wait for its end; a failed run raises, naming ``what``."""
    end = run.start().join()
    if end is None or end.error:
        raise RuntimeError(f"{what} failed: {getattr(end, 'error', end)}")


def project_steps(
    resident, size: tuple[int, int, int], steps: int, **overrides
) -> tuple[list[float], list[tuple[float, float]]]:
    """The project's run at ``size`` (``project_config``, ``overrides`` on top): each step's
    seconds and its (rollouts, update) seconds, the first step left out (warm-up)."""
    timer = step_timer()
    cfg = project_config(size, steps, **overrides)
    run = TrainingRun(resident, cfg, f"bench-{time.time_ns()}", callbacks=[timer])
    phases: list[tuple[float, float]] = []
    timer.after_step = lambda: phases.append(
        (run.phases.seconds.get("rollouts", 0.0), run.phases.seconds.get("update", 0.0))
    )
    run_to_end(run, "bench run")
    return timer.times[1:], phases[1:]


def as_the_train_tab(resident, config: RunConfig, name: str, callbacks: list) -> TrainingRun:
    """A run as the Train tab starts it: the default before-vs-now prompts at every step."""
    return TrainingRun(
        resident, config, name, callbacks=callbacks, probes=list(DEFAULT_PROBES), probe_every=1
    )


def plain_trl(size: tuple[int, int, int], steps: int, bf16: bool, **overrides) -> list[float]:
    """TRL's GRPOTrainer with its defaults but for the sizes (and use_cpu, without which
    GRPOConfig refuses to start on a CPU), on a fresh copy of the bundled base."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import GRPOConfig, GRPOTrainer

    prompts, group, tokens = size
    model, tok = load_base(resolve_spec("smollm2-135m"))
    timer = step_timer()
    args = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="bench-trl-"),
        max_steps=steps,
        num_generations=group,
        per_device_train_batch_size=prompts * group,
        max_completion_length=tokens,
        learning_rate=1e-3,
        bf16=bf16,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
        seed=42,
        **overrides,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[four_letter],
        args=args,
        train_dataset=Dataset.from_dict({"prompt": train_prompts()}),
        processing_class=tok,
        peft_config=LoraConfig(r=16, lora_alpha=32, target_modules="all-linear"),
        callbacks=[timer],
    )
    trainer.train()
    return timer.times[1:]


def parse_set(items: list[str]) -> dict:
    """``--set key=value`` pairs, each value an int or a float where it reads as one."""
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = type_of(value)
    return out


def type_of(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


PEAK_SHAPE = (2048, 576, 1536)  # (tokens, hidden, MLP width) of the bundled SmolLM2-135M


DECODE_ROWS = 32  # one decode step of a classroom step's 32 sequences: 32 rows, not 2048


def matmul_peak(dtype: str, repeats: int = 15, inner: int = 10, rows: int | None = None) -> float:
    """GFLOP/s of the MLP-shaped matmul in ``dtype`` ("bfloat16" or "float32"): the best of
    ``repeats`` timings of ``inner`` matmuls each, after a warm-up (a peak: on a shared
    2-core machine the median of one call moved from 540 to 2050 GFLOP/s between runs).
    ``rows``: fewer token rows (a decode step's shape, which no CPU runs at its peak)."""
    import torch

    m, k, n = PEAK_SHAPE
    m = rows or m
    kind = getattr(torch, dtype)
    a, b = torch.randn(m, k, dtype=kind), torch.randn(k, n, dtype=kind)
    for _ in range(3):
        a @ b
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            a @ b
        rates.append(2 * m * k * n * inner / (time.perf_counter() - start) / 1e9)
    return max(rates)


@dataclass(frozen=True)
class Floor:
    """One step size's FLOPs and the seconds they take at this machine's peak."""

    prompts: int
    group: int
    tokens: int
    prompt_tokens: float  # mean prompt length in tokens
    params: int
    peak_gflops: float
    peak_dtype: str

    @property
    def step_tokens(self) -> float:
        return self.prompts * self.group * (self.prompt_tokens + self.tokens)

    @property
    def rollout_flops(self) -> float:
        return 2 * self.params * self.step_tokens

    @property
    def update_flops(self) -> float:
        return 4 * self.params * self.step_tokens

    def seconds(self, flops: float) -> float:
        return flops / (self.peak_gflops * 1e9)

    @property
    def rollouts_s(self) -> float:
        return self.seconds(self.rollout_flops)

    @property
    def update_s(self) -> float:
        return self.seconds(self.update_flops)

    @property
    def step_s(self) -> float:
        return self.rollouts_s + self.update_s


def peaks() -> dict[str, float]:
    """The two peaks, and the same matmul at a decode step's 32 rows (``decode <dtype>``).
    bf16 only where the chip has it (NaN elsewhere: emulated, one peak took ~6 minutes)."""
    dtypes = ("bfloat16", "float32") if native_bf16() else ("float32",)
    out = {d: matmul_peak(d) for d in dtypes}
    out |= {f"decode {d}": matmul_peak(d, rows=DECODE_ROWS, inner=100) for d in dtypes}
    return {"bfloat16": float("nan"), "decode bfloat16": float("nan"), **out}


def floor_of(resident, size: tuple[int, int, int], peak: dict[str, float], bf16: bool) -> Floor:
    """The floor of a step of ``size`` (prompts, group, tokens) on the resident base."""
    prompts, group, tokens = size
    tok = resident.tokenizer
    lengths = [len(ids) for ids in tok(train_prompts(), add_special_tokens=False)["input_ids"]]
    params = sum(p.numel() for n, p in resident.model.named_parameters() if "lora_" not in n)
    dtype = "bfloat16" if bf16 and peak["bfloat16"] > peak["float32"] else "float32"
    return Floor(prompts, group, tokens, statistics.fmean(lengths), params, peak[dtype], dtype)


def peak_line(peak: dict[str, float]) -> str:
    m, k, n = PEAK_SHAPE
    if peak["bfloat16"] != peak["bfloat16"]:  # NaN: not native, not measured
        return (
            f"matmul peak ({m}×{k} @ {k}×{n}): fp32 {peak['float32']:.0f} GFLOP/s (bf16 not "
            f"native; at a decode step's {DECODE_ROWS} rows: fp32 {peak['decode float32']:.0f})"
        )
    return (
        f"matmul peak ({m}×{k} @ {k}×{n}): bf16 {peak['bfloat16']:.0f} GFLOP/s, fp32 "
        f"{peak['float32']:.0f} GFLOP/s (at a decode step's {DECODE_ROWS} rows: bf16 "
        f"{peak['decode bfloat16']:.0f}, fp32 {peak['decode float32']:.0f})"
    )
