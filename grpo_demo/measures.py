"""One plain number per task that a class reads from the back of the room.

A reward such as −1.83 means little to a 15-year-old; "4-letter words: 18 % → 41 %" does. Each
task gets the plain measure its reward is about: the share of words with the rewarded length
for the letter-count rewards, the mean number of words for the long-answer ones, the task's own
mean reward otherwise. Pure functions on strings (no model), shared by the Train tab's
before-vs-now view and the benchmarks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .reward_spec import task_score
from .rewards import n_letter, real_words
from .tasks import Task

LETTER_TERMS = {"four_letter": 4, "four_letter_words": 4, "four_letter_diverse": 4}
WORD_TERMS = ("word_count", "word_count_real", "word_count_diverse", "varied_words")
_N_LETTER = re.compile(r"^n_letter\[n=(\d+(?:\.0)?)\]$")


@dataclass(frozen=True)
class Measure:
    """A plain measure: its name, how it is computed over answers, and how it is written."""

    name: str
    compute: Callable[[list[str]], float]
    percent: bool = False

    def show(self, value: float) -> str:
        return f"{value:.0%}" if self.percent else f"{value:.1f}"

    def of(self, texts: list[str]) -> str:
        return self.show(self.compute(texts)) if texts else "—"

    def trend(self, steps: list[list[str]], last: int = 15) -> str:
        """The measure at each step (each step's answers), in one short line: one step's
        answers are noisy, the direction over steps is not (the latest ``last`` steps).

        >>> Measure("words", mean_words).trend([["a b"], ["a b c d"], ["a b c"]])
        '2.0 4.0 3.0'
        """
        values = [self.compute(texts) for texts in steps]
        shown = [f"{100 * v:.0f}" if self.percent else f"{v:.1f}" for v in values]
        more = "… " if len(shown) > last else ""
        return more + " ".join(shown[-last:]) + (" %" if self.percent else "")


def letter_share(texts: list[str], n: int) -> float:
    """Share of all real words (punctuation stripped) that have exactly ``n`` letters.

    >>> letter_share(["Fine, we went home.", "a cat"], 4)
    0.5
    """
    words = [w for t in texts for w in real_words(t)]
    return sum(len(w) == n for w in words) / len(words) if words else 0.0


def letters_off(texts: list[str], n: int) -> float:
    """Letters a word is away from ``n``, on average: the report's reward with its sign
    turned, in words a class reads (0: every piece between two spaces has ``n`` characters).

    >>> letters_off(["last home", "a cat"], 4)
    1.0
    """
    return -sum(n_letter(texts, n)) / len(texts) if texts else 0.0


def mean_words(texts: list[str]) -> float:
    """Mean number of real words per answer.

    >>> mean_words(["one two three", "four"])
    2.0
    """
    return sum(len(real_words(t)) for t in texts) / len(texts) if texts else 0.0


def letters_rewarded(task: Task) -> int | None:
    """The word length a task's reward pays for, if it is a letter-count reward.

    >>> from grpo_demo.reward_spec import task_from_spec
    >>> letters_rewarded(task_from_spec("1*n_letter[n=3] + 4*distinct_words"))
    3
    """
    for name in task.reward_funcs:
        if name in LETTER_TERMS:
            return LETTER_TERMS[name]
        if m := _N_LETTER.match(name):
            return int(float(m[1]))
    return None


def reward_measure(task: Task | None) -> Measure | None:
    """The report's own number beside the share, for a letter-count task: it moves with what
    the reward pays (a 9-letter word cut to 5 letters scores, and is no 4-letter word yet).

    >>> reward_measure(None).name
    'letters from 4 a word'
    """
    n = 4 if task is None else letters_rewarded(task)
    if n is None:
        return None
    return Measure(f"letters from {n} a word", lambda ts: letters_off(ts, n))


def measure_of(task: Task | None) -> Measure:
    """The plain measure for a task (the report's four-letter words when none is known).

    >>> from grpo_demo.tasks import TASKS
    >>> measure_of(TASKS["long-answer-varied"]).name
    'words per answer'
    """
    n = 4 if task is None else letters_rewarded(task)
    if n is not None:
        return Measure(f"{n}-letter words", lambda ts: letter_share(ts, n), percent=True)
    if any(name in WORD_TERMS for name in task.reward_funcs):
        return Measure("words per answer", mean_words)

    def mean_reward(texts: list[str]) -> float:
        return sum(task_score(task, t, {}) for t in texts) / len(texts)

    return Measure("task reward", mean_reward)


def headline_measures(task: Task | None) -> list[Measure]:
    """What the Train tab's headline shows for a task: its plain measure, and for a letter
    task the report's own number beside it (``bench.classroom`` reports the same two).

    >>> [m.name for m in headline_measures(None)]
    ['4-letter words', 'letters from 4 a word']
    """
    return [m for m in (measure_of(task), reward_measure(task)) if m is not None]
