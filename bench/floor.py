"""The hardware floor of a GRPO step: this machine's matmul peak and each step size's FLOPs.

    python -m bench.floor [--no-bf16]

The peak is the median GFLOP/s of the model's own MLP shape (2048 x 576 @ 576 x 1536, i.e.
2048 tokens through an up-projection) at torch's thread count, in bf16 and fp32. A step's
FLOPs: the rollouts are one forward per token of every sequence (prefill + decode, 2 x
parameters per token; attention over ~40 positions is under 1 % of it and left out); the
update is one forward and one backward over the same tokens (the base is frozen: the backward
computes input gradients only, another 2 x parameters per token; the LoRA's weight gradients
are under 1 %). The floor is those FLOPs at the peak of the dtype the chip computes fastest
(bf16 where it is native, else fp32; ``--no-bf16`` forces fp32, as on an AVX2-only CPU).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import cpu_line
from grpo_demo.adapters import ResidentModel
from grpo_demo.data import train_prompts
from grpo_demo.models import native_bf16

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
    """The two peaks, and the same matmul at a decode step's 32 rows (``decode <dtype>``)."""
    out = {d: matmul_peak(d) for d in ("bfloat16", "float32")}
    out |= {f"decode {d}": matmul_peak(d, rows=DECODE_ROWS, inner=100) for d in tuple(out)}
    return out


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
    return (
        f"matmul peak ({m}×{k} @ {k}×{n}): bf16 {peak['bfloat16']:.0f} GFLOP/s, fp32 "
        f"{peak['float32']:.0f} GFLOP/s (at a decode step's {DECODE_ROWS} rows: bf16 "
        f"{peak['decode bfloat16']:.0f}, fp32 {peak['decode float32']:.0f})"
    )


def floor_table(floors: list[Floor]) -> str:
    lines = [
        "| step size | FLOPs: rollouts / update | floor: rollouts / update / step |",
        "|---|---|---|",
    ]
    for f in floors:
        lines.append(
            f"| {f.prompts} × {f.group} × {f.tokens} (+{f.prompt_tokens:.0f} prompt tokens) | "
            f"{f.rollout_flops / 1e9:.0f} G / {f.update_flops / 1e9:.0f} G | "
            f"{f.rollouts_s:.2f} s / {f.update_s:.2f} s / **{f.step_s:.2f} s** "
            f"({f.peak_dtype} peak) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-bf16", action="store_true", help="the fp32 floor (AVX2-only)")
    args = parser.parse_args()
    resident = ResidentModel.load(None, Path(tempfile.mkdtemp(prefix="bench-floor-")))
    peak = resident.compute.call(peaks)
    bf16 = native_bf16() and not args.no_bf16
    sizes = [(1, 8, 32), (4, 8, 32), (4, 8, 48)]
    print(f"{cpu_line()}; native bf16: {native_bf16()}; {peak_line(peak)}")
    print(floor_table([floor_of(resident, s, peak, bf16) for s in sizes]))


if __name__ == "__main__":
    main()
