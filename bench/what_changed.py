"""Is the token view cheap? Scoring one answer under two models vs sampling it, interleaved.

    python -m bench.what_changed [--rounds 5] [--tokens 48]

The token view scores a finished answer with the base and an adapter in one forward pass
(two batch rows); sampling the same answer length with the adapter is what a user already
waits for. Both on the bundled base with the shipped ``four-letter`` adapter, on the compute
thread, arms interleaved in one process (A, B, A, B); prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import time

from bench.common import ROOT, cpu_line, timing_table
from grpo_demo.adapters import ResidentModel
from grpo_demo.generation import SamplingParams, generate
from grpo_demo.token_change import token_changes

PROMPT = "Once upon a time a little fox"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=48)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    resident = ResidentModel.load(None, ROOT / "checkpoints")
    params = SamplingParams(1, args.tokens, 1.0, 1.0, 0)
    answer = generate(resident, PROMPT, "four-letter", params)[0].text
    n = len(resident.tokenizer(answer, add_special_tokens=False)["input_ids"])

    def score() -> float:
        return token_changes(resident, PROMPT, answer, "base", "four-letter").seconds

    def sample() -> float:
        start = time.perf_counter()
        generate(resident, PROMPT, "four-letter", params)
        return time.perf_counter() - start

    arms = {f"token view: {n} tokens under two models": score, "sampling that answer": sample}
    for arm in arms.values():
        arm()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in arms}
    for _ in range(args.rounds):
        for name, arm in arms.items():
            times[name].append(arm())
    title = f"{cpu_line()}; bundled base + four-letter; {args.rounds} rounds, interleaved"
    print(timing_table(title, times, "s", digits=3))


if __name__ == "__main__":
    main()
