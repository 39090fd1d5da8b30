"""What a shared batch costs and what it changes, on the bundled model (in-process).

    python -m bench.batching [--rows 1 4 8 16 32 64] [--tokens 32] [--rounds 3] [--cost-only]
                             [--write]

1. **Cost**: one batched ``generate`` of N rows (the report's prompt with a row number, the
   four-letter adapter, N new tokens each), batch sizes interleaved round by round (A, B, A,
   B): seconds a batch, seconds a row, and the fit ``seconds a decode step = a + b * rows``
   that the app's wait estimate starts from. This is what ``row_batches.MAX_ROWS`` is chosen
   by.
2. **Independence**: each of 32 requests (different prompts, seeds, temperatures, lengths)
   sampled alone and inside one batch of all 32: the share whose text is the same, in fp32
   (how the app samples) and under bf16 autocast (where a chip computes bf16 natively).
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext

from bench.common import cpu_line, publish
from grpo_demo.adapters import ResidentModel
from grpo_demo.data import eval_prompts
from grpo_demo.row_batches import Row, row_seed

PROMPT = "Tomorrow I'm gonna learn for exam"


def cost(resident: ResidentModel, sizes: list[int], tokens: int, rounds: int) -> list[str]:
    seconds: dict[int, list[float]] = {n: [] for n in sizes}
    run = resident.batcher._run  # the batch function itself: no queue in the way
    for _ in range(rounds):
        for n in sizes:
            rows = [Row(f"{PROMPT} {i}", "four-letter", tokens, 1.0, 1.0, i) for i in range(n)]
            start = time.perf_counter()
            resident.compute.call(run, rows)
            seconds[n].append(time.perf_counter() - start)
    lines = [
        f"| rows | seconds a batch (min / median / max, {rounds} rounds) | seconds a row |",
        "|---|---|---|",
    ]
    per_step = []
    for n in sizes:
        med = statistics.median(seconds[n])
        per_step.append((n, med / tokens))
        lines.append(
            f"| {n} | {min(seconds[n]):.2f} / {med:.2f} / {max(seconds[n]):.2f} | {med / n:.3f} |"
        )
    mx = statistics.mean(n for n, _ in per_step)
    my = statistics.mean(s for _, s in per_step)
    slope = sum((n - mx) * (s - my) for n, s in per_step) / sum((n - mx) ** 2 for n, _ in per_step)
    lines.append(
        f"\nFit: a decode step = {my - slope * mx:.4f} s + {slope:.5f} s x rows ({tokens} tokens)."
    )
    return lines


def independence(resident: ResidentModel, count: int = 32) -> list[str]:
    import torch

    prompts = eval_prompts()[:count]
    rows = [
        Row(p, "four-letter", 16 + (i % 3) * 16, (0.7, 1.0, 1.3)[i % 3], 1.0, row_seed(i, 0))
        for i, p in enumerate(prompts)
    ]
    run = resident.batcher._run
    lines = ["| arithmetic | same text alone and in a batch of 32 |", "|---|---|"]
    for label, context in (
        ("fp32 (the app)", nullcontext),
        ("bf16 autocast", lambda: torch.autocast("cpu", dtype=torch.bfloat16)),
    ):

        def sample(batch: list[Row], context=context) -> list[str]:
            with context():
                return run(batch)

        together = resident.compute.call(sample, rows)
        alone = [resident.compute.call(sample, [r])[0] for r in rows]
        same = sum(a == b for a, b in zip(alone, together, strict=True))
        lines.append(f"| {label} | {same} of {len(rows)} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 4, 8, 16, 32, 64])
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="append to BENCHMARKS.md")
    parser.add_argument("--cost-only", action="store_true", help="skip the independence check")
    args = parser.parse_args(argv)
    resident = ResidentModel.load()
    lines = [
        f"### Shared batches, {time.strftime('%Y-%m-%d')} (python -m bench.batching)",
        "",
        f"CPU: {cpu_line()}",
        "",
        *cost(resident, args.rows, args.tokens, args.rounds),
        "",
        *([] if args.cost_only else independence(resident)),
    ]
    text = "\n".join(lines) + "\n"
    publish(text, args.write)


if __name__ == "__main__":
    main()
