"""Before-vs-now probes: a few fixed prompts answered by the base and, every K steps, by the
adapter being trained, so a class sees the same questions answered as the run goes on."""

from __future__ import annotations

import statistics

from ..adapters import ResidentModel
from ..config import ConfigError, RunConfig
from ..generation import check_prompts
from ..lora_slots import BASE, TRAINING_SLOT
from ..reward_spec import task_score
from ..row_batches import Row, row_seed
from ..settings import Setting
from ..tasks import Task

DEFAULT_PROBES = ["Tomorrow I'm gonna learn for exam", "Once upon a time a little fox"]
"""The before-vs-now prompts a Train tab starts with (the report's first; editable)."""
PROBE_SEED = 1234
PROBE_SAMPLES = 5
"""Answers per probe prompt each time it is asked; the one shown is the middle one by task
reward. With one answer a teacher's run showed a lone "." at steps 2-4 and 7-8 while the
step's 32 answers were whole sentences. A probe reuses its random stream at every step (so a
change is the training, not the dice), and while the model changes little the same stream
keeps drawing the same answer: on a 2-core AMD run every probe of steps 2-5 began "tomorrow
so I'll really have no choice". A rare draw ("." then the end of text) stays on screen as
long. One draw shows the dice, the middle of five the model."""
PROBE_EVERY = Setting(int, 1, 1000, "re-sample the probe prompts every K steps", name="probe_every")
MAX_PROBES = 5


def check_probes(prompts: list[str]) -> list[str]:
    """At most five non-empty probe prompts (each checked like a Playground prompt)."""
    prompts = [p for p in prompts if p.strip()]
    if len(prompts) > MAX_PROBES:
        raise ConfigError(f"at most {MAX_PROBES} probe prompts (got {len(prompts)})")
    return check_prompts(prompts) if prompts else []


def probe(
    resident: ResidentModel, prompts: list[str], cfg: RunConfig, base: bool = False
) -> tuple[list[str], list[float]]:
    """The probe prompts answered by the adapter being trained (or the base) in a batch of
    their own: one batch of the resident model's batcher, run at once on the compute thread
    (sample requests of other pages waiting then ride in it instead of running as batches
    of their own). Where a step's rollouts can carry them, they ride there (``riders.py``)."""
    slot = BASE if base else TRAINING_SLOT
    texts = resident.batcher.submit(probe_rows(prompts, cfg, slot)).result()
    return typical(texts, len(prompts), cfg)


def probe_rows(prompts: list[str], cfg: RunConfig, slot: str) -> list[Row]:
    """``PROBE_SAMPLES`` rows per probe prompt, on the same streams every time: a change
    between two probes is the training, not the dice."""
    tokens, k = cfg.resolved()["max_completion_length"], PROBE_SAMPLES
    return [
        Row(p, slot, tokens, 1.0, 1.0, row_seed(PROBE_SEED, i * k + j))
        for i, p in enumerate(prompts)
        for j in range(k)
    ]


def typical(texts: list[str], prompts: int, cfg: RunConfig) -> tuple[list[str], list[float]]:
    """Per prompt, the middle of its ``PROBE_SAMPLES`` answers by task reward, and their mean."""
    k = PROBE_SAMPLES
    picked = [middle(texts[i * k : (i + 1) * k], cfg.task_spec) for i in range(prompts)]
    return [text for text, _ in picked], [mean for _, mean in picked]


def middle(answers: list[str], task: Task) -> tuple[str, float]:
    """The answer in the middle by task reward (the lower middle of an even number), and the
    answers' mean task reward: one lone "." among five whole sentences is not shown.

    >>> from grpo_demo.tasks import TASKS
    >>> middle([".", "I like to go home", "Tall tree", "Time to rest", "no"], TASKS["four-letter"])
    ('I like to go home', -1.4133)
    """
    scores = [task_score(task, t, {}) for t in answers]
    at = sorted(range(len(answers)), key=scores.__getitem__)[(len(answers) - 1) // 2]
    return answers[at], round(statistics.fmean(scores), 4)
