"""Batched sampling on the resident model, scored with every registered reward.

Each call seeds its own RNG stream inside ``torch.random.fork_rng``: the same seed gives the
same samples, base and adapters see the same stream (a fair "compare"), and a request served
between training steps leaves the trainer's RNG exactly where it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from .adapters import BASE, ResidentModel
from .rewards import real_words, score_all
from .sampling import fast_sampling
from .settings import ConfigError, check_fields, setting

MAX_PROMPT_CHARS = 2000


class GenerationError(ValueError):
    """A generation request a user can fix (bad prompt, range, adapter)."""


@dataclass
class Completion:
    """One sampled continuation and every reward's score for it."""

    prompt: str
    text: str
    adapter: str = BASE
    seed: int = 0
    rewards: dict[str, float] = field(default_factory=dict)

    @property
    def word_count(self) -> int:
        return len(real_words(self.text))

    def to_dict(self) -> dict:
        return {**asdict(self), "word_count": self.word_count}


@dataclass(frozen=True)
class SamplingParams:
    """One generation request's sampling settings (checked on creation)."""

    num_samples: int = setting(
        int, 4, 1, 64, "completions per prompt", app_maximum=16
    )  # the app shows each completion: 16 fit a screen
    max_new_tokens: int = setting(
        int, 48, 1, 512, "new tokens per completion", app_maximum=256
    )  # one request holds the shared model for everyone
    temperature: float = setting(
        float,
        1.0,
        0,
        5,
        "sampling temperature (0: greedy, the likeliest token)",
        app_maximum=2.0,
        step=0.05,
    )
    top_p: float = setting(
        float,
        1.0,
        0,
        1,
        "nucleus sampling: keep this much probability mass",
        open_min=True,
        step=0.05,
    )
    seed: int = setting(int, 0, 0, 2**32 - 1, "the same seed gives the same completions")

    def __post_init__(self) -> None:
        try:
            check_fields(self)
        except ConfigError as exc:
            raise GenerationError(str(exc)) from None


def check_prompts(prompts: list[str]) -> list[str]:
    """Strip trailing whitespace (a trailing space derails BPE models); refuse empty, huge or
    control-character prompts (``\x00`` is no sentence to continue)."""
    cleaned = [p.rstrip() for p in prompts]
    if not cleaned or any(not p.strip() for p in cleaned):
        raise GenerationError("prompt is empty: type the start of a sentence")
    if any(len(p) > MAX_PROMPT_CHARS for p in cleaned):
        raise GenerationError(f"prompt is longer than {MAX_PROMPT_CHARS} characters")
    for p in cleaned:
        if bad := [c for c in p if not c.isprintable() and c not in "\n\t"]:
            raise GenerationError(
                f"prompt holds {len(bad)} control character(s) such as {bad[0]!r}: type text"
            )
    return cleaned


def new_texts(model, tok, prompts: list[str], seed: int, max_new_tokens: int, **kwargs):
    """``model.generate`` on a padded batch under a fixed seed (the global RNG is left as it
    was), each token drawn by ``sampling.fast_sampling``; only the new text of each row, decoded.
    ``kwargs`` go to ``generate``."""
    import torch

    batch = tok(prompts, return_tensors="pt", padding=True).to(model.device)
    with torch.random.fork_rng(), torch.inference_mode(), fast_sampling():
        torch.manual_seed(seed)
        out = model.generate(
            **batch, **kwargs, max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id
        )
    return tok.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)


def sample(
    resident: ResidentModel,
    prompts: list[str],
    adapters: list[str],
    params: SamplingParams,
    batch_size: int = 32,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[Completion]:
    """``num_samples`` completions of every prompt from every adapter, same RNG stream each.

    Rows are ordered adapter-major, then prompt, then sample.
    """

    prompts = check_prompts(prompts)
    for adapter in set(adapters):
        resident.get(adapter)  # unknown names fail before any work starts
    rows = [p for p in prompts for _ in range(params.num_samples)]
    tok = resident.tokenizer
    texts: list[str] = []
    starts = range(0, len(rows), batch_size)
    total, done = len(adapters) * len(starts), 0

    # temperature 0 is greedy decoding: every sample of a prompt is the same text
    sampling = (
        {"do_sample": True, "temperature": params.temperature, "top_p": params.top_p}
        if params.temperature > 0
        else {"do_sample": False}
    )

    def one_chunk(chunk: list[str], adapter: str, seed: int) -> list[str]:
        # one compute job per chunk: a training phase may run between chunks, never inside one
        with resident.inference([adapter] * len(chunk)) as extra:
            return new_texts(
                resident.model, tok, chunk, seed, params.max_new_tokens, **sampling, **extra
            )

    for adapter in adapters:
        for i, start in enumerate(starts):
            chunk = rows[start : start + batch_size]
            # on the one compute thread (see compute.py); queued behind a training phase
            texts.extend(resident.compute.call(one_chunk, chunk, adapter, params.seed + i))
            done += 1
            if on_batch:
                on_batch(done, total)
    scores = score_all(texts)
    labels = [(a, p) for a in adapters for p in rows]
    return [
        Completion(p, t, a, params.seed, s)
        for (a, p), t, s in zip(labels, texts, scores, strict=True)
    ]


def generate(
    resident: ResidentModel, prompt: str, adapter: str, params: SamplingParams
) -> list[Completion]:
    """``num_samples`` completions of one prompt with one adapter (or the base)."""
    return sample(resident, [prompt], [adapter], params)


def compare(
    resident: ResidentModel,
    prompt: str,
    params: SamplingParams,
    adapters: list[str] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> dict[str, list[Completion]]:
    """The same prompt and seed through the base and each adapter, grouped by adapter."""
    adapters = adapters or resident.names()
    out: dict[str, list[Completion]] = {a: [] for a in adapters}
    for c in sample(resident, [prompt], adapters, params, on_batch=on_batch):
        out[c.adapter].append(c)
    return out
