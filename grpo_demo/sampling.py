"""A token's draw on a CPU: torch's own algorithm, with cheaper random numbers.

HF ``generate`` samples each token with ``torch.multinomial(probs, 1)``. For one draw torch
runs an exponential race: an exponential ``E_i`` per vocabulary entry, the token the largest
``p_i / E_i``. On a CPU its ``exponential_`` was most of the draw's cost, and the draw (32
rows × 49 152 tokens at every decode step of a classroom rollout) a fifth of a rollout.
:func:`exponential_race` runs the same race with ``E_i = -log U_i`` from float64 uniforms
(``uniform_`` + ``log_`` cost a third of ``exponential_``): the same distribution, and the
same coupling — two nearly equal models given one seed still pick the same tokens where they
agree. Only the random stream differs from torch's, so a
seed gives other texts than before (``tests/test_sampling.py``).

Inside :func:`fast_sampling`, ``torch.multinomial`` draws that way for calls from the thread
inside the block (a thread-local flag read by a pass-through wrapper installed once), so HF's
own decoding loop runs unchanged and nothing else in the process sees a difference.
``generation.new_texts`` (Playground, Evaluate, probes) always draws this way; a run's
rollouts only with ``RunConfig.fast_sampling`` (off: see its help).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_inside = threading.local()
_install_guard = threading.Lock()  # two first uses install one wrapper


def exponential_race(probs: Any, generator: Any = None) -> Any:
    """One index per row of ``probs`` (float32 rows of non-negative weights, not all zero), drawn
    with probability proportional to its weight; shape ``(rows, 1)`` like multinomial's.

    >>> import torch
    >>> exponential_race(torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])).tolist()
    [[1], [2]]
    """
    import torch

    e = torch.empty(probs.shape, dtype=torch.float64, device=probs.device)
    e = e.uniform_(generator=generator).log_().neg_().to(probs.dtype)
    return torch.div(probs, e, out=e).argmax(-1, keepdim=True)


def _install() -> None:
    """Wrap ``torch.multinomial`` once: inside a block, one draw per row of 2-D float32 CPU
    probabilities goes to :func:`exponential_race`; anything else, and any call outside a
    block, to torch's own."""
    import torch

    with _install_guard:
        original = torch.multinomial
        if getattr(original, "fast_sampling_wrapper", False):
            return

        def multinomial(probs, num_samples, replacement=False, *, generator=None, out=None):
            if (
                getattr(_inside, "depth", 0)
                and num_samples == 1
                and probs.dim() == 2
                and probs.device.type == "cpu"
                and probs.dtype == torch.float32
                and out is None
            ):
                return exponential_race(probs, generator)
            return original(probs, num_samples, replacement, generator=generator, out=out)

        multinomial.fast_sampling_wrapper = True
        torch.multinomial = multinomial


@contextmanager
def fast_sampling() -> Iterator[None]:
    """Single draws from ``torch.multinomial`` by :func:`exponential_race` on this thread
    while the block runs (blocks nest)."""
    _install()
    _inside.depth = getattr(_inside, "depth", 0) + 1
    try:
        yield
    finally:
        _inside.depth -= 1
