"""Rewards built without code: registered terms, their numeric parameters and weights.

A spec is text such as ``1*n_letter[n=3] + 4*distinct_words``: each term is a name from
``TERMS`` with optional ``[name=value, ...]`` parameters (each one a bounded ``Setting``) and a
weight. It is parsed with a regular expression, never evaluated: only registered names and
numbers get through. A term's label (``n_letter[n=3]``) is the name TRL logs it under and the
key it is stored by in ``run.json``, so a spec round-trips through a saved adapter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .rewards import REWARDS, RewardFunc, n_letter, whitespace_words
from .settings import ConfigError, Setting, format_number
from .tasks import TASKS, Task


def length_window(
    completions: list[str], low: int = 16, high: int = 48, completion_ids=None, **kwargs
) -> list[float]:
    """0 inside [low, high] tokens, minus one per 10 tokens outside: the token ids TRL passes,
    or words where there are none (plain text).

    >>> length_window(["a b c"], low=5, high=8), length_window(["x"], 1, 2, [[1, 2, 3, 4]])
    ([-0.2], [-0.2])
    """
    counted = completion_ids if completion_ids is not None else map(whitespace_words, completions)
    return [-(max(0, low - k) + max(0, k - high)) / 10 for k in map(len, counted)]


@dataclass(frozen=True)
class TermInfo:
    """A registered term: its function, its typed parameters, and one line on what it pays."""

    func: RewardFunc
    params: dict[str, Setting] = field(default_factory=dict)
    defaults: dict[str, float] = field(default_factory=dict)

    @property
    def doc(self) -> str:
        return (self.func.__doc__ or "").strip().splitlines()[0]


TERMS: dict[str, TermInfo] = {
    **{name: TermInfo(f) for name, f in REWARDS.items()},
    "n_letter": TermInfo(
        n_letter, {"n": Setting(int, 1, 20, "target word length in letters", name="n")}, {"n": 4}
    ),
    "length_window": TermInfo(
        length_window,
        {
            "low": Setting(int, 1, 4096, "fewest tokens that cost nothing", name="low"),
            "high": Setting(int, 1, 4096, "most tokens that cost nothing", name="high"),
        },
        {"low": 16, "high": 48},
    ),
}
"""Every term a spec may use: the registered rewards plus the parametrised ones above."""


@dataclass(frozen=True)
class Term:
    """One registered term with its parameters: a picklable TRL reward function."""

    name: str
    params: tuple[tuple[str, float], ...] = ()

    @property
    def __name__(self) -> str:  # TRL logs a reward function under its __name__
        return self.label

    @property
    def label(self) -> str:
        if not self.params:
            return self.name
        return f"{self.name}[{','.join(f'{k}={format_number(v)}' for k, v in self.params)}]"

    def __call__(self, completions: list[str], **kwargs) -> list[float]:
        return TERMS[self.name].func(completions, **kwargs, **dict(self.params))


_TERM = re.compile(
    r"^\s*(?:(?P<weight>[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)\s*\*\s*)?"
    r"(?P<name>[a-z_]+)\s*(?:\[(?P<params>[^\]]*)\])?\s*$"
)
_PARAM = re.compile(r"^\s*(?P<key>[a-z_]+)\s*=\s*(?P<value>[-+]?\d+(?:\.\d+)?)\s*$")
_PLUS = re.compile(r"(?<![0-9][eE])\+")  # joins terms; not the sign of an exponent (1e+09)
MAX_TERMS = 8
MAX_WEIGHT = 100


def parse_term(text: str) -> tuple[Term, float]:
    """``4*distinct_words`` or ``n_letter[n=3]`` -> (Term, weight); errors name the part."""
    m = _TERM.match(text)
    if not m:
        raise ConfigError(
            f"reward term {text.strip()!r} is not 'weight*name' or 'weight*name[key=value]'"
        )
    name = m["name"]
    if name not in TERMS:
        raise ConfigError(f"unknown reward term {name!r}; choose from: {', '.join(TERMS)}")
    declared = TERMS[name].params
    given: dict[str, float] = {}
    for part in filter(str.strip, (m["params"] or "").split(",")):
        p = _PARAM.match(part)
        if not p or p["key"] not in declared:
            allowed = ", ".join(declared) or "none"
            raise ConfigError(f"{name}: bad parameter {part.strip()!r} (parameters: {allowed})")
        try:
            given[p["key"]] = declared[p["key"]].parse(p["value"])
        except ConfigError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    params = tuple((k, given.get(k, TERMS[name].defaults[k])) for k in declared)
    if name == "length_window" and dict(params)["low"] > dict(params)["high"]:
        raise ConfigError("length_window: low must not exceed high")
    weight = float(m["weight"]) if m["weight"] else 1.0
    if not -MAX_WEIGHT <= weight <= MAX_WEIGHT:
        raise ConfigError(f"{name}: weight {weight:g} must be within -{MAX_WEIGHT}..{MAX_WEIGHT}")
    return Term(name, params), weight


def parse_spec(text: str) -> list[tuple[Term, float]]:
    """A whole spec, terms joined by ``+``; each term at most once."""
    parts = [p for p in _PLUS.split(text or "") if p.strip()]
    if not parts:
        raise ConfigError("the reward is empty: add at least one term, e.g. 1*four_letter")
    if len(parts) > MAX_TERMS:
        raise ConfigError(f"at most {MAX_TERMS} reward terms (got {len(parts)})")
    terms = [parse_term(p) for p in parts]
    labels = [t.label for t, _ in terms]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"a reward term appears twice: {', '.join(labels)}")
    return terms


def format_spec(terms: list[tuple[Term, float]]) -> str:
    """The canonical text of a spec (what ``run.json`` stores and the builder shows)."""
    return " + ".join(f"{format_number(w)}*{t.label}" for t, w in terms)


def task_from_spec(text: str) -> Task:
    """A task (what TRL gets: reward functions by label, and their weights) from a spec."""
    terms = parse_spec(text)
    return Task(
        "custom: " + format_spec(terms),
        tuple(t.label for t, _ in terms),
        tuple(w for _, w in terms),
        "A reward built from registered terms (no code): " + format_spec(terms),
    )


def task_of(task: str, reward: str | None) -> Task | None:
    """The task a run optimised: its custom spec where it had one, else the named task."""
    return task_from_spec(reward) if reward else TASKS.get(task)


def task_score(task: Task, text: str, rewards: dict[str, float]) -> float:
    """A completion's weighted total under ``task``; terms not in ``rewards`` are computed.

    >>> task_score(task_from_spec("2*n_letter[n=3]"), "the cat", {})
    0.0
    """
    values = {
        label: rewards[label] if label in rewards else reward_func(label)([text])[0]
        for label in task.reward_funcs
    }
    return task.score(values)


def reward_func(label: str) -> RewardFunc:
    """A TRL reward function from a label (a registered name, or a term with parameters):
    always a ``Term`` read from ``TERMS``, the one registry a run's rewards come from.

    >>> reward_func("four_letter").__name__, reward_func("n_letter[n=3]")(["the cat"])
    ('four_letter', [0.0])
    """
    return parse_term(label)[0]
