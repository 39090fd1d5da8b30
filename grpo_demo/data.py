"""The shipped prompt set: sentence starters the model continues, split into train and eval.

The split is fixed (every fifth line is held out for evaluation) so an evaluation never
scores prompts a run trained on, and the split never changes between machines.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

EVAL_EVERY = 5


@cache
def all_prompts() -> tuple[str, ...]:
    text = files("grpo_demo").joinpath("data/prompts.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def train_prompts() -> list[str]:
    """Four in five prompts: what GRPO samples from."""
    return [p for i, p in enumerate(all_prompts()) if i % EVAL_EVERY != EVAL_EVERY - 1]


def eval_prompts() -> list[str]:
    """One in five prompts, never trained on."""
    return [p for i, p in enumerate(all_prompts()) if i % EVAL_EVERY == EVAL_EVERY - 1]


EXAMPLES = [
    "Tomorrow I'm gonna learn for exam",
    "Fill that sentence",
    "Once upon a time a little fox",
    "The best thing about rainy days is",
    "Dear grandma, last week",
]
"""Playground examples: the report's two prompts first."""
