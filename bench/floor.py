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
import tempfile
from pathlib import Path

from bench.common import Floor, cpu_line, floor_of, peak_line, peaks
from grpo_demo.adapters import ResidentModel
from grpo_demo.models import native_bf16


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
