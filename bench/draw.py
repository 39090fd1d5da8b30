"""What a token's draw costs: torch.multinomial against the project's fast draw, interleaved.

    python -m bench.draw [--rounds 40] [--write]

HF ``generate`` draws every sampled token with ``torch.multinomial(probs, 1)``; inside
``grpo_demo.sampling.fast_sampling`` the same exponential race runs on exponentials made from
float64 uniforms. Both arms draw from the same softmax rows, at the shapes the app samples:
a classroom rollout's 32 rows and an Evaluate batch's 50, over the bundled model's 49 152
tokens; arms interleaved (A, B, A, B) in one process, on torch's threads. ``--write`` puts
the table into BENCHMARKS.md between its ``draw`` markers.
"""

from __future__ import annotations

import argparse
import time

from bench.common import cpu_line, timing_table, write_between
from grpo_demo.sampling import exponential_race

VOCAB = 49_152
ROWS = (32, 50)  # a classroom step's completions; an Evaluate batch
START, END = "<!-- draw: start -->", "<!-- draw: end -->"


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    gen = torch.Generator().manual_seed(0)
    arms = {}
    for rows in ROWS:
        probs = torch.softmax(torch.randn(rows, VOCAB, generator=gen) * 3, -1)
        arms[f"torch.multinomial, {rows} × {VOCAB}"] = lambda p=probs: torch.multinomial(p, 1)
        arms[f"fast draw, {rows} × {VOCAB}"] = lambda p=probs: exponential_race(p)
    times: dict[str, list[float]] = {name: [] for name in arms}
    for arm in arms.values():
        arm()  # warm-up
    for _ in range(args.rounds):
        for name, arm in arms.items():
            start = time.perf_counter()
            arm()
            times[name].append((time.perf_counter() - start) * 1e3)
    title = f"{cpu_line()}; {args.rounds} rounds, interleaved; one draw per row"
    table = timing_table(title, times, "ms")
    print(table)
    if args.write:
        write_between(START, END, f"{START}\n{table}\n{END}")


if __name__ == "__main__":
    main()
