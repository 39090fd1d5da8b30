"""Benchmarks and the lab report's reproduction, run from the repository root as modules.

    python -m bench.app_step     # the Train tab's step phase by phase, each lever undone,
                                 #   the bench step and plain TRL, interleaved -> BENCHMARKS.md
    python -m bench.interleaved  # GRPO step, plain TRL vs the project vs the FLOP floor, arms
                                 #   interleaved in one process (A, B, A, B) -> BENCHMARKS.md
    python -m bench.profile      # a step's phases by op family against their floors
    python -m bench.load         # thirty pages against ``python app.py`` -> BENCHMARKS.md
    python -m bench.speed        # single measurements: model load, requests, app start
    python -m bench.classroom    # a preset's held-out curve over seeds -> results/classroom.md
    python -m bench.hack         # classroom-hack over seeds -> results/hack.md
    python -m bench.reproduce    # config sweep, record an attempt, report: Table 1, quality
                                 #   bars, samples -> results/tables.md (+ bench/attempts.csv)
    python -m bench.recipes      # train / screen / table: many recipes side by side on a GPU

One-off experiments were removed once their answer was recorded: BENCHMARKS.md keeps their
numbers and names the commit that still has each tool.
``bench/attempts.csv`` is the lab notebook: one row per adapter attempt (what changed from the
shipped recipe, its status, its numbers), so the raw evaluations of superseded attempts need not
be kept. The quality bars themselves live in ``grpo_demo.quality``.
"""
