"""Will this reward teach anything? Score the base model's groups before training, and read
the signal TRL logs during it.

GRPO learns only from differences inside a group: a completion's advantage is its reward minus
its group's mean, over the group's spread. A group whose completions all score the same gives
every one an advantage of 0 and teaches nothing; a reward on which every group ties cannot move
the model at all. The formula is TRL's own (``GRPOTrainer``, ``scale_rewards="group"``); a test
checks it against the advantages TRL logged in a real step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .adapters import BASE, ResidentModel
from .generation import SamplingParams, sample
from .reward_spec import reward_func
from .tasks import Task

ADVANTAGE_EPS = 1e-4  # TRL adds this to the group's std before dividing


def group_advantages(totals: list[float], group: int) -> list[float]:
    """(reward - group mean) / (group std + 1e-4), std with Bessel's correction (TRL's nanstd).

    >>> group_advantages([1.0, 3.0, 2.0, 2.0], 2)
    [-0.707, 0.707, 0.0, 0.0]
    """
    out = []
    for start in range(0, len(totals), group):
        g = totals[start : start + group]
        mean = sum(g) / len(g)
        std = math.sqrt(sum((x - mean) ** 2 for x in g) / (len(g) - 1)) if len(g) > 1 else 0.0
        out += [round((x - mean) / (std + ADVANTAGE_EPS), 3) for x in g]
    return out


def tied(values: list[float]) -> bool:
    """All rewards of a group equal (TRL's ``isclose(std, 0)``): zero advantage for each."""
    return all(math.isclose(v, values[0], rel_tol=1e-5, abs_tol=1e-8) for v in values)


@dataclass
class Group:
    """One prompt's group of completions, each term's score, the total and the advantages."""

    prompt: str
    completions: list[str]
    terms: dict[str, list[float]]  # label -> one score per completion
    totals: list[float]
    advantages: list[float]

    @property
    def tied(self) -> bool:
        return tied(self.totals)


def score_groups(
    task: Task, prompts: list[str], completions: list[list[str]], ids: list[list[list[int]]]
) -> list[Group]:
    """Score each prompt's completions with the task's terms, as TRL would in a step."""
    groups = []
    for prompt, texts, token_ids in zip(prompts, completions, ids, strict=True):
        terms = {
            label: [float(x) for x in reward_func(label)(texts, completion_ids=token_ids)]
            for label in task.reward_funcs
        }
        totals = [task.score({k: v[i] for k, v in terms.items()}) for i in range(len(texts))]
        groups.append(Group(prompt, texts, terms, totals, group_advantages(totals, len(texts))))
    return groups


def verdict(groups: list[Group]) -> str:
    """One line: can this reward move the model, judged on the base model's own groups?"""
    ties = sum(g.tied for g in groups)
    spread = [max(g.totals) - min(g.totals) for g in groups]
    if ties == len(groups):
        return (
            f"❌ Every group ties ({ties} of {len(groups)}): all advantages are 0, so this reward "
            "cannot move the model. Pick terms that differ between the base model's answers."
        )
    if ties:
        return (
            f"⚠️ {ties} of {len(groups)} groups tie and teach nothing; the others spread by up "
            f"to {max(spread):.2f}: the reward can move the model, more slowly."
        )
    return (
        f"✅ No group ties; rewards spread by {min(spread):.2f} to {max(spread):.2f} inside a "
        "group: this reward can move the model."
    )


SIGNAL_NOTES = {
    "frac_tied_groups": "share of questions whose answers all scored the same: they teach "
    "nothing (near 1: the run has stopped learning). TRL logs it as frac_reward_zero_std",
    "reward_std": "how much the answers to one question differ in reward: what learning is made of",
    "clip_ratio": "share of words whose change was capped because one update would have moved "
    "it too far (TRL's clip, epsilon); 0 when each batch is used for one update",
    "kl": "how far the adapter has drifted from the base (only with beta > 0)",
    "loss": "GRPO's loss sits near 0 by design: advantages average to 0 in every group, so it "
    "says little; watch the reward and the lines above",
}
"""What each learning-signal number means, in one line (the Train tab shows them live)."""


SIGNAL_LABELS = {
    "frac_tied_groups": "tied groups",
    "reward_std": "reward spread",
    "clip_ratio": "clip ratio",
    "kl": "KL",
    "loss": "loss",
}


def signal_lines(metrics: dict[str, float], beta: float | None) -> list[tuple[str, str, str]]:
    """(label, value, meaning) for each signal TRL logged this step; KL only with beta > 0."""
    rows = []
    for key, note in SIGNAL_NOTES.items():
        if key == "kl" and not beta:
            rows.append(("KL", "not computed", "beta = 0: no reference model, no KL penalty"))
        elif key in metrics:
            rows.append((SIGNAL_LABELS[key], f"{metrics[key]:.3f}", note))
    return rows


def score_base(
    resident: ResidentModel,
    task: Task,
    prompts: list[str],
    num_generations: int = 8,
    max_new_tokens: int = 32,
    seed: int = 0,
) -> list[Group]:
    """Sample one group per prompt from the base model (temperature 1, as TRL samples) and
    score it: what the first step of a run would see."""
    params = SamplingParams(num_generations, max_new_tokens, 1.0, 1.0, seed)
    done = sample(resident, prompts, [BASE], params)
    texts = [c.text for c in done]
    ids = resident.tokenizer(texts, add_special_tokens=False)["input_ids"]
    k = num_generations

    def groups(xs: list) -> list[list]:
        return [xs[i : i + k] for i in range(0, len(xs), k)]

    return score_groups(task, [g[0].prompt for g in groups(done)], groups(texts), groups(ids))
