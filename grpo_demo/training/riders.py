"""Rows riding in a step's rollout batch: the before-vs-now probes sampled in the same
``generate`` as the step's rollouts, instead of a ``generate`` of their own after the update.

Why: on a 2-core CPU a probe batch (2 prompts x 5 answers x 48 tokens) took 9.9 s on its own,
a quarter of a classroom step, as a decode step's cost is mostly fixed (Python, weight reads);
ten more rows beside the rollouts' 32 cost far less (BENCHMARKS.md, "The step a class waits
for"). A probe row draws from its own fixed stream (``row_batches.RowDraw``), so a change
between two probes is the training, not the dice; rollout rows draw as HF's sampler does
(``torch.multinomial`` within top-p, on the global stream the run's seed sets). Settings this
draw lacks (top-k, min-p, a repetition penalty) leave rollouts to TRL's ``generate`` (``can_ride``).
"""

from __future__ import annotations

from typing import Any

from ..row_batches import Row, RowDraw, RowLimits, nucleus


def can_ride(generation_config: Any) -> bool:
    """Whether TRL's sampling settings are ones a row draw reproduces (temperature, top-p)."""
    return (
        not getattr(generation_config, "top_k", None)
        and getattr(generation_config, "min_p", None) is None
        and getattr(generation_config, "repetition_penalty", None) in (None, 1.0)
        and bool(getattr(generation_config, "do_sample", True))
    )


def rollouts_with_riders(
    model: Any, tokenizer: Any, prompt_ids: list[list[int]], riders: list[Row], config: Any
) -> tuple[list[list[int]], list[str]]:
    """One ``generate`` for TRL's rollout prompts (token ids) and the rider rows: each
    rollout's completion ids up to and including its first end-of-text token (as TRL keeps
    them), and each rider's text."""
    import torch
    from transformers import LogitsProcessorList, StoppingCriteriaList

    eos = config.eos_token_id
    eos = set(eos if isinstance(eos, list | tuple) else [eos])
    n = len(prompt_ids)
    rows = [Row("", "", config.max_new_tokens) for _ in range(n)] + riders
    ids = [*prompt_ids, *(tokenizer(r.prompt)["input_ids"] for r in riders)]
    length = max(len(i) for i in ids)
    pad = config.pad_token_id
    input_ids = torch.tensor([[pad] * (length - len(i)) + list(i) for i in ids])
    mask = torch.tensor([[0] * (length - len(i)) + [1] * len(i) for i in ids])
    with torch.no_grad():
        out = model.generate(
            input_ids=input_ids.to(model.device),
            attention_mask=mask.to(model.device),
            do_sample=False,  # the processor leaves one finite score per row: greedy takes it
            max_new_tokens=max(r.max_new_tokens for r in rows),
            logits_processor=LogitsProcessorList([RolloutsThenRiders(n, config, riders, model)]),
            stopping_criteria=StoppingCriteriaList([RowLimits(rows, length, model.device)]),
            pad_token_id=pad,
            eos_token_id=list(eos),
        )
    new = out[:, length:].tolist()
    completions = [_through_first(row, eos) for row in new[:n]]
    texts = [
        tokenizer.decode(row[: r.max_new_tokens], skip_special_tokens=True)
        for row, r in zip(new[n:], riders, strict=True)
    ]
    return completions, texts


class RolloutsThenRiders:
    """A logits processor: the first ``n`` rows (TRL's rollouts) drawn by
    ``torch.multinomial`` as HF's sampler draws them, the riders by ``RowDraw``; it leaves
    one finite score per row, so greedy decoding takes that token."""

    def __init__(self, n: int, config: Any, riders: list[Row], model: Any):
        self.n, self.temperature, self.top_p = n, config.temperature, config.top_p or 1.0
        self.riders = RowDraw(riders, model.device)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        logits = scores[: self.n].float() / self.temperature
        if self.top_p < 1:
            logits = nucleus(logits, torch.full((self.n,), self.top_p, device=scores.device))
        out = torch.full_like(scores, float("-inf"))
        out[: self.n].scatter_(1, torch.multinomial(logits.softmax(-1), 1), 0.0)
        out[self.n :] = self.riders(input_ids[self.n :], scores[self.n :])
        return out


def _through_first(ids: list[int], eos: set[int]) -> list[int]:
    """``ids`` up to and including the first end-of-text token.

    >>> _through_first([5, 6, 2, 0, 0], {2}), _through_first([5, 6], {2})
    ([5, 6, 2], [5, 6])
    """
    end = next((i for i, t in enumerate(ids) if t in eos), len(ids) - 1)
    return ids[: end + 1]
