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
        out += [round((x - mean) / (std + 1e-4), 3) for x in g]
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


SIGNALS = {
    ("frac_tied_groups", "tied groups"): "share of questions whose answers all scored the "
    "same: they teach nothing (near 1: the run has stopped learning). TRL logs it as "
    "frac_reward_zero_std",
    ("reward_std", "reward spread"): "how much the answers to one question differ in reward: "
    "what learning is made of",
    ("clip_ratio", "clip ratio"): "share of words whose change was capped because one update would "
    "have moved it too far (TRL's clip, epsilon); 0 when each batch is used for one update",
    ("kl", "KL"): "how far the adapter has drifted from the base (only with beta > 0)",
    ("loss", "loss"): "GRPO's loss sits near 0 by design: advantages average to 0 in every group, "
    "so it says little; watch the reward and the lines above",
}
"""What each learning signal (logged key, label) means, in one line (the Train tab, live)."""


def signal_lines(metrics: dict[str, float], beta: float | None) -> list[tuple[str, str, str]]:
    """(label, value, meaning) for each signal TRL logged this step; KL only with beta > 0."""
    rows = []
    for (key, label), note in SIGNALS.items():
        if key == "kl" and not beta:
            rows.append((label, "not computed", "beta = 0: no reference model, no KL penalty"))
        elif key in metrics:
            rows.append((label, f"{metrics[key]:.3f}", note))
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
    score it with the task's terms as TRL would: what the first step of a run would see."""
    params = SamplingParams(num_generations, max_new_tokens, 1.0, 1.0, seed)
    done = sample(resident, prompts, [BASE], params)
    ids = resident.tokenizer([c.text for c in done], add_special_tokens=False)["input_ids"]
    groups = []
    for start in range(0, len(done), num_generations):
        texts = [c.text for c in done[start : start + num_generations]]
        token_ids = ids[start : start + num_generations]
        terms = {
            label: [float(x) for x in reward_func(label)(texts, completion_ids=token_ids)]
            for label in task.reward_funcs
        }
        totals = [task.score({k: v[i] for k, v in terms.items()}) for i in range(len(texts))]
        advantages = group_advantages(totals, len(texts))
        groups.append(Group(done[start].prompt, texts, terms, totals, advantages))
    return groups
