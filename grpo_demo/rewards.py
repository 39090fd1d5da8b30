"""Reward functions: pure, TRL-style ``(completions, **kwargs) -> list[float]``.

``four_letter`` and ``word_count`` are the lab report's functions, kept quirk for quirk
(split on a single space, so a leading space or a double space is an empty "word" worth -4).
The other entries are the variants a teacher reaches for next: they split on whitespace,
strip punctuation, and charge for repetition so the report's "last last last ..." hack
stops paying. Every function here is picklable and all but ``n_letter`` are registered in
``REWARDS``; ``n_letter`` is the general form behind the four-letter ones and the reward
builder's ``n_letter[n=…]`` term.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

RewardFunc = Callable[..., list[float]]

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
"""A real word: letters/digits, allowing inner apostrophes and hyphens ("don't", "well-known")."""


def report_phrases(text: str) -> list[str]:
    """The report's tokenisation: ``text.split(" ")`` (empty phrases included)."""
    return text.split(" ")


def real_words(text: str) -> list[str]:
    """Whitespace-separated words with surrounding punctuation stripped.

    >>> real_words(' Hello,  world!\\n"Fine" -- ok.')
    ['Hello', 'world', 'Fine', 'ok']
    """
    return _WORD.findall(text)


def whitespace_words(text: str) -> list[str]:
    """Chunks between any whitespace that hold a letter or digit, as they are (punctuation kept).

    >>> whitespace_words("one  two\\n\\n -- three.")
    ['one', 'two', 'three.']
    """
    return [w for w in text.split() if any(ch.isalnum() for ch in w)]


def distinct_ratio(words: list[str]) -> float:
    """Distinct words / words (case-insensitive); 0.0 for no words.

    >>> distinct_ratio(["last", "Last", "last", "day"])
    0.5
    """
    return len({w.lower() for w in words}) / len(words) if words else 0.0


def n_letter(completions: list[str], n: int = 4, **kwargs) -> list[float]:
    """The report's reward for any word length: -sum(|n - len(phrase)|) / #phrases.

    >>> n_letter(["the cat sat", "a four"], n=3)
    [0.0, -1.5]
    """
    return [
        -sum(abs(n - len(p)) for p in phrases) / len(phrases)
        for phrases in map(report_phrases, completions)
    ]


def four_letter(completions: list[str], **kwargs) -> list[float]:
    """The report's reward: -sum(|4 - len(phrase)|) / #phrases over ``split(" ")``.

    >>> four_letter(["last last last", " I am here", ""])
    [0.0, -2.25, -4.0]
    """
    return n_letter(completions, n=4)


def word_count(completions: list[str], **kwargs) -> list[float]:
    """The report's alternative reward: ``len(text.split(" "))``.

    >>> word_count(["one two  three", ""])
    [4.0, 1.0]
    """
    return [float(len(report_phrases(c))) for c in completions]


def four_letter_words(completions: list[str], **kwargs) -> list[float]:
    """Four-letter reward on real words (punctuation stripped); no words -> -4.0.

    >>> four_letter_words([" Tall trees, big sky.", "!!!"])
    [-0.75, -4.0]
    """
    return [
        -sum(abs(4 - len(w)) for w in words) / len(words) if words else -4.0
        for words in map(real_words, completions)
    ]


def distinct_words(completions: list[str], **kwargs) -> list[float]:
    """Share of distinct words, in [0, 1]: 1.0 = no word repeated.

    >>> distinct_words(["last last last last", "a new day"])
    [0.25, 1.0]
    """
    return [distinct_ratio(real_words(c)) for c in completions]


def no_repeats(completions: list[str], **kwargs) -> list[float]:
    """Minus one for every word that repeats the word before it ("girl girl girl" costs 2).

    >>> no_repeats(["we we we go", "a new day"])
    [-2.0, 0.0]
    """
    return [
        0.0 - sum(a.lower() == b.lower() for a, b in itertools.pairwise(real_words(c)))
        for c in completions
    ]


def no_long_runs(completions: list[str], **kwargs) -> list[float]:
    """Minus one for every word that extends a run of one word past two ("go go go go" costs 2).

    A pair ("fine fine", "that that") is ordinary English and stays free; a run of four is the
    collapse the evaluation counts.

    >>> no_long_runs(["girl girl girl girl rock", "so so good", "a new day"])
    [-2.0, 0.0, 0.0]
    """
    return [
        0.0 - sum(max(0, len(list(run)) - 2) for _, run in itertools.groupby(map(str.lower, ws)))
        for ws in map(real_words, completions)
    ]


def four_letter_diverse(completions: list[str], **kwargs) -> list[float]:
    """``four_letter_words`` minus 4 x the share of repeated words: the collapse stops paying.

    >>> four_letter_diverse(["last last last last", "this word also fits"])
    [-3.0, 0.0]
    """
    return [
        r - 4.0 * (1.0 - distinct_ratio(real_words(c)))
        for r, c in zip(four_letter_words(completions), completions, strict=True)
    ]


def word_count_real(completions: list[str], **kwargs) -> list[float]:
    """Words split on any whitespace that hold a letter or digit: runs of spaces earn nothing.

    >>> word_count_real(["one two  three", "a\\n\\n\\nb -- ...", "   "])
    [3.0, 2.0, 0.0]
    """
    return [float(len(whitespace_words(c))) for c in completions]


def word_count_diverse(completions: list[str], **kwargs) -> list[float]:
    """``word_count_real``, scaled down once fewer than half the words are distinct.

    Ordinary prose keeps more than half its words distinct, so it is paid in full; cycling a
    few words ("go go go", "and the and the") is not.

    >>> word_count_diverse(["go go go go", "we went to the park and the zoo"])
    [2.0, 8.0]
    """
    return [
        n * min(1.0, 2.0 * distinct_ratio(real_words(c)))
        for n, c in zip(word_count_real(completions), completions, strict=True)
    ]


def varied_words(completions: list[str], **kwargs) -> list[float]:
    """A word count that loops cannot raise: each word pair counts once, a stutter costs one.

    Words are whitespace chunks holding a letter or digit. A word earns 1 when it forms a pair
    with its predecessor not seen before in the completion, 0 for a repeated pair ("to help to
    help"), -1 when it repeats its predecessor ("help help"); the total shrinks in proportion once
    fewer than 60 % of the words are distinct (the base model's prose sits near 67 % at 128 tokens).

    >>> varied_words(["we went to the park", "help help help help", "to help to help to help"])
    [5.0, -2.0, 1.667]
    """
    out = []
    for text in completions:
        words = whitespace_words(text.lower())
        seen: set[tuple[str | None, str]] = set()
        score = 0
        for pair in zip([None, *words], words, strict=False):
            score += -1 if pair[0] == pair[1] else int(pair not in seen)
            seen.add(pair)
        guard = min(1.0, distinct_ratio(words) / 0.6) if score > 0 else 1.0
        out.append(round(score * guard, 3))
    return out


REWARDS: dict[str, RewardFunc] = {
    f.__name__: f
    for f in (
        four_letter,
        word_count,
        word_count_real,
        four_letter_words,
        distinct_words,
        no_repeats,
        four_letter_diverse,
        word_count_diverse,
        no_long_runs,
        varied_words,
    )
}
"""Every reward by name; TRL takes them as ``reward_funcs`` and logs them under these names."""


def score_all(completions: list[str]) -> list[dict[str, float]]:
    """Every registered reward for every completion, one dict per completion."""
    columns = {name: f(completions) for name, f in REWARDS.items()}
    return [{name: col[i] for name, col in columns.items()} for i in range(len(completions))]


@dataclass(frozen=True)
class WordScore:
    """One phrase of a completion and what it adds to the report's four-letter reward."""

    word: str
    contribution: float  # -|4 - len(word)|: 0 for a four-letter word


def four_letter_breakdown(text: str) -> list[WordScore]:
    """Per-phrase contributions to ``four_letter`` (the mean of them is the reward).

    >>> [(w.word, w.contribution) for w in four_letter_breakdown("a four")]
    [('a', -3.0), ('four', 0.0)]
    """
    return [WordScore(p, float(-abs(4 - len(p)))) for p in report_phrases(text)]
