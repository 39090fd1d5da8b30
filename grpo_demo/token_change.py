"""What training changed inside one text: each token's log-probability under two models.

The same prompt + completion is scored by two models (the base and an adapter, or two adapters)
in one forward pass, one batch row per model, so the difference is the models', not the dice. A
token the adapter made likelier has ``delta > 0``. Runs on the compute thread through a GPU
entry point (``LOGPROBS``: ids and adapter folders in, log-probs out).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .adapters import AdapterInfo, ResidentModel
from .generation import GenerationError, check_prompts
from .gpu_calls import on_gpu

MAX_COMPLETION_CHARS = 4000


@dataclass(frozen=True)
class TokenChange:
    """One completion token and its log-probability (natural log) under each model."""

    text: str
    before: float
    after: float

    @property
    def delta(self) -> float:
        return self.after - self.before

    @property
    def p_before(self) -> float:
        return math.exp(self.before)

    @property
    def p_after(self) -> float:
        return math.exp(self.after)


@dataclass(frozen=True)
class TextChange:
    """A completion, token by token, under the ``before`` and ``after`` models."""

    prompt: str
    completion: str
    before: str
    after: str
    tokens: list[TokenChange]
    seconds: float  # the forward pass, on the compute thread

    @property
    def total(self) -> float:
        """log p(completion | prompt) after minus before: how much likelier the whole text."""
        return sum(t.delta for t in self.tokens)

    def biggest(self, k: int) -> list[TokenChange]:
        """The ``k`` tokens whose log-probability moved most, either way."""
        return sorted(self.tokens, key=lambda t: abs(t.delta), reverse=True)[:k]


def token_changes(
    resident: ResidentModel, prompt: str, completion: str, before: str, after: str
) -> TextChange:
    """How ``after`` changed the log-probability of each token of ``completion`` after
    ``prompt``, against ``before``."""
    (prompt,) = check_prompts([prompt])
    if not completion.strip():
        raise GenerationError("the completion to score is empty")
    if len(completion) > MAX_COMPLETION_CHARS:
        raise GenerationError(f"the completion is longer than {MAX_COMPLETION_CHARS} characters")
    if before == after:
        raise GenerationError(f"pick two different models to compare (both are {before!r})")
    for name in (before, after):  # an unknown name is refused with the list
        resident.get(name)
    tok = resident.tokenizer
    head = tok(prompt)["input_ids"]
    tail = tok(completion, add_special_tokens=False)["input_ids"]
    if not head or not tail:
        raise GenerationError("nothing to score: the prompt or the completion has no tokens")

    ids = [head + tail] * 2
    slots = [before, after]
    (lp_before, lp_after), seconds = resident.compute.call(
        LOGPROBS, resident.key, ids, len(head), slots, resident.infos(slots)
    )
    pieces = [tok.decode([t]) for t in tail]
    tokens = [TokenChange(*z) for z in zip(pieces, lp_before, lp_after, strict=True)]
    return TextChange(prompt, completion, before, after, tokens, seconds)


def _logprobs_on_gpu(
    key: int, ids: list[list[int]], start: int, slots: list[str], infos: list[AdapterInfo]
) -> tuple[list[list[float]], float]:
    """The token view's entry point: token ids in (a row per model), log-probs out: log p of
    every token from position ``start`` on, given the ones before it."""
    import torch

    resident = ResidentModel.living(key, infos)
    began = time.perf_counter()
    batch = torch.tensor(ids, device=resident.device)
    with resident.inference(slots) as extra, torch.inference_mode():
        logits = resident.model(input_ids=batch, **extra).logits[:, start - 1 : -1].float()
        logp = torch.log_softmax(logits, dim=-1)
        rows = logp.gather(-1, batch[:, start:, None]).squeeze(-1)
    return rows.tolist(), time.perf_counter() - began


# one forward pass of two rows: the shortest call there is (MIN_SECONDS)
LOGPROBS = on_gpu(_logprobs_on_gpu, lambda *_: 0.0)
