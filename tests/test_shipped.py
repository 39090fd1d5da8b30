"""The adapters shipped in checkpoints/: valid for the bundled base, and they change what it says.

The quality bars themselves (reward gain, no collapse) live in grpo_demo/quality.py (tested in
test_quality.py) and are checked on N = 1000 by ``python -m bench.reproduce report`` (RESULTS.md);
here a small same-seed sample only has to move in the trained direction.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grpo_demo.generation import SamplingParams, sample
from grpo_demo.store import discover_adapters

pytestmark = pytest.mark.bundled
SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints"
PROMPTS = ["Once upon a time a little fox", "Our teacher told us that"]
EXPECTED = {  # adapter -> (task it was trained for, reward it must raise, tokens to sample)
    "four-letter": ("four-letter-strict", "four_letter", 48),
    "long-answer": ("long-answer-varied", "word_count_real", 128),
    "hacked": ("four-letter", "four_letter", 48),  # classroom-hack: the reward, gamed
}


@pytest.fixture(scope="module")
def shipped(bundled_resident):
    found, problems = discover_adapters(SHIPPED, "smollm2-135m")
    assert not problems
    for name in EXPECTED:
        bundled_resident.add(found[name])
    return found


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_adapter_is_a_standard_peft_folder_for_the_bundled_base(shipped, name):
    info = shipped[name]
    assert info.path == SHIPPED / "smollm2-135m" / name
    record = json.loads((info.path / "run.json").read_text())
    assert record["base"] == "smollm2-135m"
    assert record["config"]["task"] == EXPECTED[name][0]
    assert record["steps"] == len(record["history"]) == record["config"]["max_steps"]  # ran out
    config = json.loads((info.path / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == record["config"]["lora_r"]
    assert not list(info.path.glob("*.bin"))  # safetensors only


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_adapter_moves_generations_the_way_it_was_trained(bundled_resident, shipped, name):
    _, reward, tokens = EXPECTED[name]
    params = SamplingParams(num_samples=8, max_new_tokens=tokens, seed=11)
    done = sample(bundled_resident, PROMPTS, ["base", name], params)
    base, tuned = done[: len(done) // 2], done[len(done) // 2 :]
    assert [c.prompt for c in base] == [c.prompt for c in tuned]
    assert [c.text for c in base] != [c.text for c in tuned]

    def mean(rows):
        return sum(c.rewards[reward] for c in rows) / len(rows)

    assert mean(tuned) > mean(base)


def test_the_hacked_adapter_collapses_on_held_out_prompts_and_four_letter_does_not(
    bundled_resident, shipped
):
    """The collapse detector (the Evaluate tab's flag, the Train tab's banner) tells the
    adapter that games the report's reward from the one trained not to."""
    from grpo_demo.data import eval_prompts
    from grpo_demo.metrics import diversity, looks_collapsed

    params = SamplingParams(num_samples=4, max_new_tokens=48, seed=5)
    done = sample(bundled_resident, eval_prompts()[:4], ["hacked", "four-letter"], params)
    texts = {
        name: [c.text for c in done if c.adapter == name] for name in ("hacked", "four-letter")
    }
    assert looks_collapsed(diversity(texts["hacked"]))
    assert not looks_collapsed(diversity(texts["four-letter"]))
    hacked_reward = sum(c.rewards["four_letter"] for c in done if c.adapter == "hacked") / 16
    assert hacked_reward > -0.5  # while the reward it gamed says "almost perfect"
