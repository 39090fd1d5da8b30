"""The fast draw: torch.multinomial's distribution and coupling, and HF generate uses it."""

from __future__ import annotations

import threading

import pytest
import torch

from grpo_demo.sampling import exponential_race, fast_sampling


def test_draws_follow_the_weights():
    """200 000 draws from a 6-way distribution with a zero, unnormalised: frequencies within
    4 standard errors of each weight, the zero never drawn."""
    weights = torch.tensor([0.5, 0.0, 0.2, 0.15, 0.1, 0.05])
    n = 200_000
    gen = torch.Generator().manual_seed(0)
    drawn = exponential_race(weights.expand(n, -1) * 3.0, gen).squeeze(1)
    freq = torch.bincount(drawn, minlength=6).double() / n
    se = (weights.double() * (1 - weights.double()) / n).sqrt()
    assert freq[1] == 0
    assert torch.all((freq - weights.double()).abs() <= 4 * se + 1e-12), freq


def test_a_one_hot_row_is_always_its_token_even_at_the_edges():
    probs = torch.zeros(64, 49_152)
    probs[torch.arange(64), torch.arange(64) * 700] = 1.0
    probs[0] = 0.0
    probs[0, -1] = 1e-30  # the last token, alone and tiny
    got = exponential_race(probs, torch.Generator().manual_seed(1)).squeeze(1)
    assert got[0] == 49_151 and torch.equal(got[1:], torch.arange(1, 64) * 700)


def test_matches_torch_multinomial_in_distribution():
    """The same rows through both: the two frequency vectors agree, though the streams differ."""
    gen = torch.Generator().manual_seed(3)
    probs = torch.softmax(torch.randn(1, 50, generator=gen) * 2, -1).expand(100_000, -1)
    ours = torch.bincount(exponential_race(probs, gen).squeeze(1), minlength=50).double()
    theirs = torch.bincount(torch.multinomial(probs, 1, generator=gen).squeeze(1), minlength=50)
    p = probs[0].double()
    se = (p * (1 - p) * 100_000).sqrt() * 2**0.5
    assert torch.all((ours - theirs.double()).abs() <= 4.5 * se + 1), (ours, theirs)


def test_nearly_equal_models_pick_the_same_tokens_as_with_torchs_draw():
    """Coupling: one seed, logits moved by 1e-3, the same token in nearly every row, as
    torch.multinomial's race gives (an inverse-CDF draw, one uniform per row, kept 87 % here:
    the moved mass below a token shifts its choice)."""
    gen = torch.Generator().manual_seed(4)
    logits = torch.randn(1_000, 49_152, generator=gen) * 3
    moved = logits + 1e-3 * torch.randn(logits.shape, generator=gen)
    p, q = torch.softmax(logits, -1), torch.softmax(moved, -1)

    def same(draw) -> float:
        a = draw(p, torch.Generator().manual_seed(5))
        b = draw(q, torch.Generator().manual_seed(5))
        return (a == b).float().mean().item()

    ours, torch_own = (
        same(exponential_race),
        same(lambda x, g: torch.multinomial(x, 1, generator=g)),
    )
    assert ours > 0.99 and torch_own > 0.99, (ours, torch_own)


def test_generate_draws_through_it_inside_the_block_only(tiny_lm):
    """HF generate inside the block gives the tokens a hand-written decode with the race
    gives; outside it, torch.multinomial's own randoms (other texts, the same model)."""
    model, tok = tiny_lm
    ids = tok(["the cat sat"], return_tensors="pt").input_ids
    kwargs = dict(do_sample=True, max_new_tokens=12, top_k=0, top_p=1.0, pad_token_id=0)

    def hf(block: bool) -> list[int]:
        torch.manual_seed(5)
        if block:
            with fast_sampling():
                return model.generate(ids, **kwargs)[0, ids.shape[1] :].tolist()
        return model.generate(ids, **kwargs)[0, ids.shape[1] :].tolist()

    torch.manual_seed(5)
    by_hand, seq = [], ids
    with torch.no_grad():
        for _ in range(12):
            nxt = exponential_race(torch.softmax(model(seq).logits[:, -1].float(), -1))
            by_hand.append(int(nxt))
            seq = torch.cat([seq, nxt], 1)
    assert hf(True) == by_hand
    assert hf(False) != by_hand
    assert getattr(torch.multinomial, "fast_sampling_wrapper", False)  # installed, passing on


def test_other_threads_and_other_shapes_keep_torchs_draw():
    probs = torch.tensor([[0.2, 0.3, 0.5]] * 4)

    def torch_draw() -> list[int]:
        return torch.multinomial(probs, 1, generator=torch.Generator().manual_seed(9)).tolist()

    expected = torch_draw()
    seen = {}
    with fast_sampling():
        worker = threading.Thread(target=lambda: seen.setdefault("other", torch_draw()))
        worker.start()
        worker.join()
        two = torch.multinomial(probs, 2, generator=torch.Generator().manual_seed(9))
        one_d = torch.multinomial(probs[0], 1, generator=torch.Generator().manual_seed(9))
        inside = torch_draw()
    assert seen["other"] == expected and torch_draw() == expected
    assert two.shape == (4, 2) and one_d.shape == (1,)
    assert len(inside) == 4  # drawn by the race (its own stream)


@pytest.fixture(scope="module")
def tiny_lm(tiny_gpt2):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2).eval()
    return model, AutoTokenizer.from_pretrained(tiny_gpt2)
