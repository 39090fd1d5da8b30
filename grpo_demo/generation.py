"""Sampling requests on the resident model, scored with every registered reward.

A request becomes rows for the resident model's batcher (``row_batches``), which merges the
requests of every page into shared batches. Each row draws from its own stream, seeded by the
request's seed and the row's place: the same seed gives the same samples whoever shares the
batch, base and adapters see the same streams (a fair "compare"), and the global RNG (a
training run's) is never touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from .adapters import BASE, ResidentModel
from .rewards import real_words, score_all
from .row_batches import MAX_ROWS, Row, Ticket, generate_rows, row_seed
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

    # the app shows each completion: 16 fit a screen
    num_samples: int = setting(int, 4, 1, 64, "completions per prompt", app_maximum=16)
    # one request holds the shared model for everyone
    max_new_tokens: int = setting(int, 48, 1, 512, "new tokens per completion", app_maximum=256)
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


def new_texts(
    model, tok, prompts: list[str], seed: int, max_new_tokens: int, temperature: float = 1.0
) -> list[str]:
    """Each prompt's new text from ``model`` as it is (any context the caller holds), row
    ``i`` on the stream ``row_seed(seed, i)``: for models outside the resident one."""
    rows = [
        Row(p, BASE, max_new_tokens, temperature, 1.0, row_seed(seed, i))
        for i, p in enumerate(prompts)
    ]
    return generate_rows(model, tok, rows)


def rows_of(prompts: list[str], adapters: list[str], params: SamplingParams) -> list[Row]:
    """``num_samples`` rows of every prompt for every adapter, adapter-major, then prompt,
    then sample; row ``i`` of each adapter has the same stream (a fair compare)."""
    per_adapter = [p for p in prompts for _ in range(params.num_samples)]
    length, temperature, top_p = params.max_new_tokens, params.temperature, params.top_p
    return [
        Row(p, adapter, length, temperature, top_p, row_seed(params.seed, i))
        for adapter in adapters
        for i, p in enumerate(per_adapter)
    ]


@dataclass
class Pending:
    """A sample request in the batcher's line: ``ticket`` says where it stands."""

    ticket: Ticket
    seed: int

    def completions(self, timeout: float | None = None) -> list[Completion]:
        return completions(self.ticket.rows, self.ticket.result(timeout), self.seed)


def completions(rows: list[Row], texts: list[str], seed: int) -> list[Completion]:
    """The rows' texts, each scored by every reward."""
    return [
        Completion(r.prompt, t, r.adapter, seed, s)
        for r, t, s in zip(rows, texts, score_all(texts), strict=True)
    ]


def submit(
    resident: ResidentModel,
    prompts: list[str],
    adapters: list[str],
    params: SamplingParams,
    owner: str | None = None,
) -> Pending:
    """Queue a request and return at once; it shares a batch with whatever waits beside it.
    ``owner``: the page, for one request per page (``Busy`` otherwise, or past the cap).
    A typed request: its prompts and adapters were checked where it was asked (a form)."""
    rows = rows_of(prompts, adapters, params)
    return Pending(resident.batcher.submit(rows, owner), params.seed)


def sample(
    resident: ResidentModel,
    prompts: list[str],
    adapters: list[str],
    params: SamplingParams,
    batch_size: int = MAX_ROWS,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[Completion]:
    """``num_samples`` completions of every prompt from every adapter, same streams each,
    in requests of at most ``batch_size`` rows (each one queued after the last is answered:
    a long evaluation takes turns with other pages). Rows as in :func:`rows_of`; the
    prompts and adapters were checked where they were asked (a form, the CLI)."""
    rows = rows_of(prompts, adapters, params)
    chunks = [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]
    texts: list[str] = []
    for done, chunk in enumerate(chunks, 1):
        texts.extend(resident.batcher.submit(chunk).result())
        if on_batch:
            on_batch(done, len(chunks))
    return completions(rows, texts, params.seed)


def generate(
    resident: ResidentModel, prompt: str, adapter: str, params: SamplingParams
) -> list[Completion]:
    """``num_samples`` completions of one prompt with one adapter (or the base)."""
    return sample(resident, [prompt], [adapter], params)
