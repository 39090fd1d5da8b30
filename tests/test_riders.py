"""Probe rows riding in a step's rollout batch (grpo_demo/training/riders.py), on the tiny
GPT-2 (the real GPT-2 tokenizer, random weights)."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from grpo_demo.row_batches import Row, generate_rows, row_seed
from grpo_demo.training.riders import can_ride, rollouts_with_riders


def config(tok, tokens: int = 8, **kw):
    """The fields of TRL's GenerationConfig the rider path reads."""
    values = dict(
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        max_new_tokens=tokens,
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        min_p=None,
        repetition_penalty=1.0,
        do_sample=True,
    )
    return SimpleNamespace(**{**values, **kw})


def test_riders_get_the_answers_a_batch_of_their_own_gives(tiny_resident):
    model, tok = tiny_resident.model, tiny_resident.tokenizer
    riders = [Row(p, "", 8, 1.0, 1.0, row_seed(1234, i)) for i, p in enumerate(["Hi there", "A"])]
    rollouts = [tok(p)["input_ids"] for p in ["Once upon a time", "Tomorrow I"] * 4]
    torch.manual_seed(0)
    ids, texts = rollouts_with_riders(model, tok, rollouts, riders, config(tok))
    # the same streams give the same text beside 8 rollout rows as in a batch of their own
    assert texts == generate_rows(model, tok, riders)
    assert len(ids) == 8 and all(1 <= len(c) <= 8 for c in ids)
    assert all(tok.eos_token_id not in c[:-1] for c in ids)  # cut after the first end of text
    torch.manual_seed(0)  # the run's seed decides the rollouts' streams: reproducible
    assert rollouts_with_riders(model, tok, rollouts, riders, config(tok))[0] == ids
    torch.manual_seed(1)
    assert rollouts_with_riders(model, tok, rollouts, riders, config(tok))[0] != ids


def test_settings_a_row_draw_does_not_implement_leave_the_rollouts_to_trl(tiny_resident):
    tok = tiny_resident.tokenizer
    assert can_ride(config(tok)) and can_ride(config(tok, top_k=None, top_p=0.9))
    assert not can_ride(config(tok, top_k=50))
    assert not can_ride(config(tok, min_p=0.1))
    assert not can_ride(config(tok, repetition_penalty=1.2))
