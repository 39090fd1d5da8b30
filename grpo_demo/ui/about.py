"""About tab: GRPO in a few lines, the reward formulas and what the report found."""

from __future__ import annotations

import gradio as gr

ABOUT = """
### GRPO in five lines
1. Take a prompt and sample a **group** of completions from the model (num_generations).
2. Score each completion with the reward function(s).
3. **Advantage** = (reward − group mean) / group std: better than its siblings → pushed up.
4. Update the policy with a clipped ratio (epsilon), optionally held near the base
   by a KL term (beta).
5. No value network (critic), unlike PPO: cheaper. Here only a small **LoRA** adapter is trained.

### The rewards
* `four_letter` (the report): −Σ|4 − len(p)| / #p over `text.split(" ")`. Quirks kept: a leading or
  double space is an empty phrase worth −4; newlines stay inside phrases.
* `word_count` (the report's alternative): `len(text.split(" "))`.
* `word_count_real`: words split on any whitespace, so runs of spaces (which `word_count` pays
  for) earn nothing.
* `four_letter_words`, `distinct_words`, `four_letter_diverse`, `word_count_diverse`: the same
  ideas on real words, with repetition charged so the "last last last" hack stops paying.
* `no_repeats`, `no_long_runs`: charge a word that repeats its neighbour (every stutter, or only
  runs past two). `varied_words`: a long-answer count where each word pair earns once, so
  looping a phrase does not pay.

### What the report found (GPT-2, full fine-tuning)
* Normalising by the number of words mattered: without it the model learned to answer shorter.
* **config_3** (256 tokens, ε 0.7, lr 1e-4, β 0.1, accumulation 2, 16 generations) was best.
* **config_4** (lr 1e-3, ε 1, β 0.2, accumulation 4) sat at reward 0 — the maximum — because the
  model wrote "… exam last last last last …": **reward hacking**.
* Word-count task: 1000 samples each — tuned median 40 / mean 38.96 / std 5.75 vs GPT-2's
  38 / 36.57 / 6.33. It named LoRA as the next step: that is what this app trains.
"""


def build() -> None:
    gr.Markdown(ABOUT)
