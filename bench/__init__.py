"""Benchmarks and the lab report's reproduction, run from the repository root as modules.

    python -m bench.speed      # speed suite: GRPO step vs plain TRL, load, app, requests
                               #   -> BENCHMARKS.md (the one benchmark report)
    python -m bench.reproduce  # config sweep, record an attempt, report: Table 1, quality
                               #   bars, samples -> results/tables.md (+ bench/attempts.csv)
    python -m bench.recipes    # train / screen / table: many recipes side by side on a GPU
    python -m bench.interleaved  # GRPO step, plain TRL vs the project, arms interleaved in
                                 #   one process (A, B, A, B), CPU flags -> BENCHMARKS.md
    python -m bench.precision  # fp32 vs bf16 on the same preset and seed: what a run learns

``bench/attempts.csv`` is the lab notebook: one row per adapter attempt (what changed from the
shipped recipe, its status, its numbers), so the raw evaluations of superseded attempts need not
be kept. The quality bars themselves live in ``grpo_demo.quality``.
"""
