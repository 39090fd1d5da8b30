"""What the process boundary costs: a Generate here vs through the fork harness, interleaved.

    python -m bench.gpu_worker [--rounds 5] [--rows 8] [--tokens 32] [--write]

On ZeroGPU every GPU call crosses into a worker process: arguments and texts pickled, the
worker forked for its first call and reused after. The fork harness (``fork_worker``) does the
same on this CPU, so its overhead over a call made here is what the boundary itself costs
(not ZeroGPU's scheduling, nor moving the model onto a GPU). Arms on the bundled base with the
shipped ``four-letter`` adapter, the same rows and seed, interleaved (A, B, A, B) in one
process; the first call through the harness (the fork) is timed apart. ``--write`` puts the
table between BENCHMARKS.md's ``gpu-worker`` markers.
"""

from __future__ import annotations

import argparse
import os
import time

from bench.common import ROOT, cpu_line, timing_table, write_between
from grpo_demo import gpu_calls
from grpo_demo.adapters import ResidentModel
from grpo_demo.generation import SamplingParams, generate

PROMPT = "Once upon a time a little fox"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    resident = ResidentModel.load(None, ROOT / "checkpoints")
    params = SamplingParams(args.rows, args.tokens, 1.0, 1.0, 0)

    def sample(where: str) -> float:
        os.environ[gpu_calls.FORK_ENV] = where
        start = time.perf_counter()
        texts = [c.text for c in generate(resident, PROMPT, "four-letter", params)]
        seconds = time.perf_counter() - start
        answers.setdefault(where, texts)
        assert texts == answers[where], "a seeded Generate changed between rounds"
        return seconds

    answers: dict[str, list[str]] = {}
    sample("")  # warm-up here
    first = sample("fork")  # forks the sampling worker
    assert answers["fork"] == answers[""], "the worker sampled other texts than this process"
    arms = {"here (the compute thread)": "", "through the fork harness (worker reused)": "fork"}
    times: dict[str, list[float]] = {name: [] for name in arms}
    for _ in range(args.rounds):
        for name, where in arms.items():
            times[name].append(sample(where))
    gpu_calls.close_workers()
    title = (
        f"{cpu_line()}; bundled base + four-letter, {args.rows} rows x {args.tokens} tokens; "
        f"{args.rounds} rounds, interleaved; the first call through the harness (its fork) "
        f"{first:.2f} s; the same texts both ways"
    )
    start, end = "<!-- gpu-worker: start -->", "<!-- gpu-worker: end -->"
    table = f"{start}\n{timing_table(title, times, 's', digits=3)}\n{end}"
    print(table)
    if args.write:
        write_between(start, end, table)


if __name__ == "__main__":
    main()
