"""What TRL's loss settings mean, in plain words: one line per choice, for a teacher.

Three GRPOConfig fields choose how GRPO turns rewards into an update: ``loss_type``,
``scale_rewards`` and ``importance_sampling_level``. The explained values are the choices
``RunConfig`` offers: a value without an explanation cannot be chosen. Pure data. This demo uses
each batch of answers for one update (TRL's ``num_iterations=1``), so the new/old ratio is 1
during a step (close to 1 with vLLM rollouts) and the clip hardly acts; what the choices change
here is how much each token and each answer weighs in the update.
"""

from __future__ import annotations

PAPERS = {
    "GRPO": "https://huggingface.co/papers/2402.03300",
    "Dr. GRPO": "https://huggingface.co/papers/2503.20783",
    "DAPO": "https://huggingface.co/papers/2503.14476",
    "MiniMax-M1": "https://huggingface.co/papers/2506.13585",
    "ScaleRL": "https://huggingface.co/papers/2510.13786",
    "SAPO": "https://huggingface.co/papers/2511.20347",
    "LUSPO": "https://huggingface.co/papers/2602.05261",
    "VESPO": "https://huggingface.co/papers/2602.10693",
    "GSPO": "https://huggingface.co/papers/2507.18071",
    "PPO Lite": "https://huggingface.co/papers/2508.08221",
}
"""The papers the explanations name (the links TRL's own documentation gives)."""

LOSS_TYPES: dict[str, str] = {
    "grpo": "the original GRPO (DeepSeekMath paper): each answer's token losses are averaged "
    "over that answer's own length, then over the answers, so a token of a long answer weighs "
    "less; this length bias favours short answers when they score well and long ones when "
    "they score badly",
    "dr_grpo": "Dr. GRPO ('GRPO done right'): the token losses are summed and divided by one "
    "fixed number, answers x max_completion_length, so an answer's length no longer changes "
    "what a token weighs (no length bias); answers shorter than max_completion_length push "
    "less than under grpo",
    "dapo": "TRL's default, from the DAPO paper: the token losses are summed and divided by "
    "the number of real tokens in the whole step (all accumulated batches), so every token "
    "weighs the same, whichever answer it is in (no length bias)",
    "bnpo": "as dapo, but divided by the tokens of the current micro-batch only, so the result "
    "can shift a little with per_device_train_batch_size (a TRL variant with no paper of its "
    "own; with one answer per batch it is grpo)",
    "cispo": "from the MiniMax-M1 paper: instead of clipping the update, it caps the "
    "importance weight (the new/old probability ratio, at most epsilon_high) and keeps every "
    "token's gradient; tokens are counted as in dapo. Set epsilon_high (the ScaleRL paper "
    "uses 5): left unset it equals epsilon (0.2), and the cap of 0.2 on a ratio of 1 "
    "shrinks every update five-fold",
    "sapo": "Soft Adaptive Policy Optimization (SAPO paper): a smooth, temperature-controlled "
    "gate replaces the hard clip, fading out the push on tokens whose probability ratio has "
    "drifted far from 1 instead of cutting it off; averaged per answer, as in grpo",
    "luspo": "Length-Unbiased Sequence Policy Optimization (LUSPO paper): a sequence-level "
    "loss (GSPO's) that scales each answer's loss by its length, so long and short answers "
    "weigh fairly; meant for importance_sampling_level = sequence",
    "vespo": "Variational Sequence-Level Soft Policy Optimization (VESPO paper): a smooth, "
    "lopsided (Gamma-shaped) weight on each answer's overall probability ratio replaces hard "
    "clipping; keep importance_sampling_level = token (it forms the answer's ratio itself)",
}
"""TRL's ``loss_type`` values: how one step's token losses are added up into one number."""

SCALE_REWARDS: dict[str, str] = {
    "group": "TRL's default, the original GRPO: each reward minus its group's mean, divided "
    "by the group's standard deviation, so every prompt's answers get advantages of the same "
    "spread, however close their rewards were",
    "batch": "minus the group's mean, divided by the standard deviation of the whole batch "
    "(the PPO Lite paper): a prompt whose answers barely differ gets small advantages instead "
    "of blown-up ones",
    "none": "only minus the group's mean, no division (the Dr. GRPO paper): dividing by a "
    "group's small spread over-weights prompts that are too easy or too hard (difficulty bias)",
}
"""TRL's ``scale_rewards`` values: how a group's rewards become advantages."""

IMPORTANCE_SAMPLING_LEVELS: dict[str, str] = {
    "token": "TRL's default, as in PPO and GRPO: one new/old probability ratio per token, "
    "clipped token by token",
    "sequence": "one ratio per answer, from the mean of its tokens' log-ratios, clipped as a "
    "whole (the GSPO paper): it matches a reward given to the whole answer and often trains "
    "more steadily; GSPO pairs it with loss_type grpo",
}
"""TRL's ``importance_sampling_level`` values: what the new/old probability ratio is taken over."""

GLOSSARY: dict[str, dict[str, str]] = {
    "loss_type": LOSS_TYPES,
    "scale_rewards": SCALE_REWARDS,
    "importance_sampling_level": IMPORTANCE_SAMPLING_LEVELS,
}
"""Each explained GRPOConfig field -> its values -> one line of explanation."""

HEADINGS = {
    "loss_type": "how a step's token losses add up to one number",
    "scale_rewards": "how a group's rewards become advantages",
    "importance_sampling_level": "what the new/old probability ratio is taken over",
}

CITED = {
    "loss_type": {
        "grpo": "GRPO",
        "dr_grpo": "Dr. GRPO",
        "dapo": "DAPO",
        "cispo": "MiniMax-M1",
        "sapo": "SAPO",
        "luspo": "LUSPO",
        "vespo": "VESPO",
    },
    "scale_rewards": {"group": "GRPO", "batch": "PPO Lite", "none": "Dr. GRPO"},
    "importance_sampling_level": {"sequence": "GSPO"},
}
"""The paper (a key of ``PAPERS``) each explained value comes from, where it has one."""


def glossary_markdown() -> str:
    """The glossary as Markdown: per field a heading line, then one bullet per value, each with
    a link to its paper; a blank line between fields."""
    blocks = []
    for field, values in GLOSSARY.items():
        lines = [f"**`{field}`**: {HEADINGS[field]}"]
        for value, text in values.items():
            paper = CITED[field].get(value)
            link = f" ([{paper} paper]({PAPERS[paper]}))" if paper else ""
            lines.append(f"* `{value}`: {text[0].upper()}{text[1:]}.{link}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
