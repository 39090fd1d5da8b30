"""Tasks, as data: reward names (from ``rewards.REWARDS``) and GRPOConfig's ``reward_weights``,
which TRL sums into the one number a group's advantages are computed from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    """What a run optimises: TRL reward functions by registry name, and their weights."""

    label: str
    reward_funcs: tuple[str, ...]
    reward_weights: tuple[float, ...] | None = None
    description: str = ""

    @property
    def weights(self) -> dict[str, float]:
        """Each reward's weight (TRL's default of 1.0 where none is given)."""
        weights = self.reward_weights or (1.0,) * len(self.reward_funcs)
        return dict(zip(self.reward_funcs, weights, strict=True))

    def score(self, rewards: dict[str, float]) -> float:
        """The weighted sum TRL computes advantages from, for one completion's scores.

        >>> TASKS["four-letter-diverse"].score({"four_letter": -1.0, "distinct_words": 0.5})
        1.0
        """
        return sum(w * rewards[name] for name, w in self.weights.items())

    def formula(self, labels: dict[str, str] | None = None) -> str:
        """How the terms combine, e.g. ``1×four_letter + 4×distinct_words``."""
        labels = labels or {}
        return " + ".join(f"{w:g}×{labels.get(n, n)}" for n, w in self.weights.items())


TASKS: dict[str, Task] = {
    "four-letter": Task(
        "Four-letter words (report)",
        ("four_letter",),
        description="The report's reward: -mean |4 - len(phrase)| over text.split(' ').",
    ),
    "four-letter-diverse": Task(
        "Four-letter words, no repetition",
        ("four_letter", "distinct_words"),
        (1.0, 4.0),
        "The report's reward, plus 4 x the distinct-word share: repeating one word "
        "('last last last') no longer pays.",
    ),
    "four-letter-strict": Task(
        "Four-letter words, no repetition, no runs",
        ("four_letter", "distinct_words", "no_long_runs"),
        (1.0, 4.0, 2.0),
        "As four-letter-diverse, and every word that extends a run of one word past two costs "
        "2 ('girl girl girl girl' costs 4).",
    ),
    "long-answer": Task(
        "Long answers (report)",
        ("word_count",),
        description="The report's alternative reward: len(text.split(' ')).",
    ),
    "long-answer-diverse": Task(
        "Long answers, no repetition",
        ("word_count_diverse",),
        description="Words split on any whitespace (so runs of spaces earn nothing), scaled "
        "down once fewer than half of them are distinct.",
    ),
    "long-answer-varied": Task(
        "Long answers, every word pair once",
        ("varied_words",),
        description="Words split on any whitespace; a word earns only when it forms a word "
        "pair not used before in the answer, a stutter ('help help') costs one, and the total "
        "shrinks once fewer than 60% of the words are distinct.",
    ),
}
