"""Sample requests of many pages merged into one batched ``generate``, each row on its own terms.

A row (prompt, adapter, temperature, top-p, length, seed) draws its tokens from its own random
stream (a ``torch.Generator`` seeded by the row) and stops at its own length, so what it gets never
depends on who shares its batch. Only the arithmetic is shared: padding and batch shape change the
logits by rounding (in fp32 by ~1e-6), which flips a draw only where two tokens tie to that
precision (README says how often). The draw is torch's exponential race (``torch.multinomial``'s
algorithm: per row the token with the largest ``p_i / E_i``, ``E_i = -log U_i`` from float64
uniforms of the row's generator), in a logits processor that leaves one finite score per row, so
HF's greedy loop takes exactly that token.

``RowBatcher`` queues requests (``Ticket``) before the compute thread: a job runs the waiting ones,
in order up to a row and token bound, as one batch (between two phases of a run: one batch, not
one job each) in the context of the request that leads it (ZeroGPU charges that page's visitor),
and queues itself again while requests remain.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from .compute import ComputeThread
from .lora_slots import BASE

MAX_ROWS = 32
"""Rows in one batch: on 2 cores 32 rows cost 2.9x one row (8.8 vs 3.1 s at 32 tokens,
BENCHMARKS.md), a bounded share of a step between two training phases."""
MAX_TOKENS = 32 * 64
"""Rows x longest length in one batch (a longer first request still runs, alone)."""
MAX_WAITING_ROWS = 200
"""Class-wide: past this many rows waiting, a new request is refused at once with the wait."""
GATHER_SECONDS = 0.3  # how long a request finding the model idle waits for others
SEED_STRIDE = 1 << 20
"""Row seeds: ``seed * SEED_STRIDE + index`` (a request holds far fewer rows than this)."""


@dataclass(frozen=True)
class Row:
    """One completion to sample (``adapter`` is a slot name; ``BASE``: adapters off)."""

    prompt: str
    adapter: str = BASE
    max_new_tokens: int = 48
    temperature: float = 1.0  # 0: greedy
    top_p: float = 1.0
    seed: int = 0  # the row's own random stream


def row_seed(seed: int, index: int) -> int:
    """The stream of the ``index``-th row of a request seeded ``seed``.

    >>> row_seed(0, 3), row_seed(1, 0)
    (3, 1048576)
    """
    return seed * SEED_STRIDE + index


class RowDraw:
    """A logits processor: each row's next token by its own temperature, top-p and stream;
    the returned scores are ``-inf`` but for that token (``0``), so greedy decoding takes it."""

    def __init__(self, rows: list[Row], device: Any):
        import torch

        self.sampled = [i for i, r in enumerate(rows) if r.temperature > 0]
        self.temperature = torch.tensor([rows[i].temperature for i in self.sampled])
        self.top_p = torch.tensor([rows[i].top_p for i in self.sampled])
        self.streams = [
            torch.Generator(device=device).manual_seed(rows[i].seed) for i in self.sampled
        ]

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        choice = scores.argmax(-1)  # greedy rows keep the likeliest token
        if self.sampled:
            rows = torch.tensor(self.sampled, device=scores.device)
            logits = scores[rows].float() / self.temperature.to(scores.device)[:, None]
            if bool((self.top_p < 1).any()):
                logits = nucleus(logits, self.top_p.to(scores.device))
            probs = logits.softmax(-1)
            e = torch.empty(probs.shape, dtype=torch.float64, device=probs.device)
            for row, stream in zip(e, self.streams, strict=True):
                row.uniform_(generator=stream)
            e = e.log_().neg_().to(probs.dtype)
            choice[rows] = torch.div(probs, e, out=e).argmax(-1)
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, choice[:, None], 0.0)


def nucleus(logits: Any, top_p: Any) -> Any:
    """Per row, ``-inf`` for the least likely tokens outside the top ``top_p`` of the mass
    (HF's ``TopPLogitsWarper`` rule, one threshold per row; the likeliest token always stays).
    """
    import torch

    ordered, order = torch.sort(logits, descending=False)
    cumulative = ordered.softmax(-1).cumsum(-1)
    drop = cumulative <= (1 - top_p)[:, None]
    drop[:, -1] = False
    return logits.masked_fill(drop.scatter(1, order, drop), float("-inf"))


class RowLimits:
    """A stopping criterion: each row is done at its own number of new tokens."""

    def __init__(self, rows: list[Row], prompt_length: int, device: Any):
        import torch

        self.ends = torch.tensor([prompt_length + r.max_new_tokens for r in rows], device=device)

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        return input_ids.shape[1] >= self.ends


def generate_rows(model: Any, tokenizer: Any, rows: list[Row], **kwargs: Any) -> list[str]:
    """Every row's new text from one padded ``generate`` (``kwargs``: e.g. PEFT's per-row
    ``adapter_names``). The global RNG is not touched."""
    import torch
    from transformers import LogitsProcessorList, StoppingCriteriaList

    batch = tokenizer([r.prompt for r in rows], return_tensors="pt", padding=True).to(model.device)
    length = batch["input_ids"].shape[1]
    with torch.inference_mode():
        out = model.generate(
            **batch,
            **kwargs,
            do_sample=False,
            max_new_tokens=max(r.max_new_tokens for r in rows),
            logits_processor=LogitsProcessorList([RowDraw(rows, model.device)]),
            stopping_criteria=StoppingCriteriaList([RowLimits(rows, length, model.device)]),
            pad_token_id=tokenizer.pad_token_id,
        )
    return [
        tokenizer.decode(out[i, length : length + r.max_new_tokens], skip_special_tokens=True)
        for i, r in enumerate(rows)
    ]


class Busy(RuntimeError):
    """A sample request refused at once: this page has one waiting, or the class is at the cap."""


@dataclass(eq=False)
class Ticket:
    """One request's rows: waiting, then running, then done (``future`` holds the texts)."""

    rows: list[Row]
    owner: str | None = None
    future: Future = field(default_factory=Future)
    submitted: float = field(default_factory=time.perf_counter)
    started: float | None = None  # when its batch began
    batch_requests: int = 0  # how many requests its batch held (itself included)
    context: contextvars.Context = field(default_factory=contextvars.copy_context)  # its page's

    def result(self, timeout: float | None = None) -> list[str]:
        return self.future.result(timeout)


def _size(tickets: list[Ticket]) -> tuple[int, int]:
    """(rows, longest length) of a batch of these requests."""
    rows = [r for t in tickets for r in t.rows]
    return len(rows), max(r.max_new_tokens for r in rows)


@dataclass
class BatchPace:
    """Seconds per decode step of a batch as a line in its rows, from the batches measured
    (least squares over the recent ones; a start value until two sizes are seen)."""

    fixed: float = 0.11  # seconds a decode step costs at any size (2-core AVX2 CPU, fp32;
    per_row: float = 0.0055  # BENCHMARKS.md)
    seen: deque = field(default_factory=lambda: deque(maxlen=32))

    def record(self, rows: int, steps: int, seconds: float) -> None:
        self.seen.append((rows, seconds / max(steps, 1)))
        n = len(self.seen)
        mx = sum(r for r, _ in self.seen) / n
        my = sum(s for _, s in self.seen) / n
        sxx = sum((r - mx) ** 2 for r, _ in self.seen)
        if sxx:  # two sizes seen (with one, the slope stays and the line moves through it)
            sxy = sum((r - mx) * (s - my) for r, s in self.seen)
            self.per_row = max(sxy / sxx, 0.0)
        self.fixed = max(my - self.per_row * mx, 1e-4)

    def seconds(self, rows: int, steps: int) -> float:
        return steps * (self.fixed + self.per_row * rows)


class RowBatcher:
    """Requests queued in front of the compute thread and run there (``run``) as shared batches,
    taken in order while within ``max_rows`` and ``max_tokens`` (rows x the longest length)."""

    def __init__(
        self,
        compute: ComputeThread,
        run: Callable[[list[Row]], list[str]],
        *,
        max_rows: int = MAX_ROWS,
        max_tokens: int = MAX_TOKENS,
        max_waiting_rows: int = MAX_WAITING_ROWS,
    ):
        self.compute, self._run = compute, run
        self.max_rows, self.max_tokens = max_rows, max_tokens
        self.max_waiting_rows = max_waiting_rows
        self.pace = BatchPace()
        self._waiting: list[Ticket] = []
        self._running: list[Ticket] = []
        self._scheduled = False  # a drain job is queued on the compute thread
        self._guard = threading.Lock()  # the queue itself; the model is the compute thread's

    # -- asking ---------------------------------------------------------------------------------
    def submit(self, rows: list[Row], owner: str | None = None) -> Ticket:
        """Queue ``rows`` as one request. From the compute thread itself (a training run's
        probes) the request runs at once, with the requests waiting then riding along."""
        if not rows:
            raise ValueError("a request needs at least one row")
        ticket = Ticket(list(rows), owner)
        with self._guard:
            inline = self.compute.is_current
            if not inline:
                self._admit(ticket)
            self._waiting.append(ticket)
            if not inline and not self._scheduled:
                self._scheduled = True
                self.compute.submit(self._drain)
        if inline:
            self._run_batch(first=ticket)
        return ticket

    def _admit(self, ticket: Ticket) -> None:
        """Refuse a page's request at once (under the guard): its second one, or past the cap.
        Requests of no page (an evaluation's next chunk, the CLI) queue one at a time anyway."""
        if ticket.owner is None:
            return
        for t in (*self._running, *self._waiting):
            if t.owner == ticket.owner:
                raise Busy(
                    "this page already has a request waiting "
                    f"(place {self._place(t) or 'now running'}): its answer comes first"
                )
        waiting = sum(len(t.rows) for t in self._waiting)
        if waiting + len(ticket.rows) > self.max_waiting_rows:
            raise Busy(
                f"busy: {len(self._waiting)} requests are waiting for the model - about "
                f"{self._ahead(self._waiting):.0f} s; try again"
            )

    def cancel(self, ticket: Ticket) -> bool:
        """Drop a request that has not started (a page closed while it waited)."""
        with self._guard:
            if ticket in self._waiting:
                self._waiting.remove(ticket)
                ticket.future.cancel()
                return True
        return False

    # -- where a request stands ------------------------------------------------------------------
    def waiting(self) -> int:
        with self._guard:
            return len(self._waiting)

    def _place(self, ticket: Ticket) -> int | None:
        """1-based place among the waiting requests (``None``: running or done)."""
        return self._waiting.index(ticket) + 1 if ticket in self._waiting else None

    def standing(self, ticket: Ticket, gap: float = 0.0) -> tuple[int | None, float]:
        """(place in line, seconds until its answer): the running batch's remaining time,
        then the batches the requests ahead fill, then its own; ``gap``: seconds the compute
        thread is held before each batch (a training phase)."""
        with self._guard:
            place = self._place(ticket)
            if ticket.future.done():
                return None, 0.0
            if place is None:  # running
                return None, self._running_left()
            return place, self._ahead(self._waiting[:place], gap)

    def _ahead(self, tickets: list[Ticket], gap: float = 0.0) -> float:
        """Seconds until these requests are answered (as in ``standing``)."""
        return self._running_left() + sum(
            self.pace.seconds(*_size(batch)) + gap for batch in self._batches(tickets)
        )

    def _running_left(self) -> float:
        if not self._running or self._running[0].started is None:
            return 0.0
        spent = time.perf_counter() - self._running[0].started
        return max(self.pace.seconds(*_size(self._running)) - spent, 0.0)

    def _batches(self, tickets: Iterable[Ticket]) -> Iterator[list[Ticket]]:
        """The batches these requests make, in order (both the forecast and the real take)."""
        batch: list[Ticket] = []
        for t in tickets:
            if batch and not self._fits([*batch, t]):
                yield batch
                batch = []
            batch.append(t)
        if batch:
            yield batch

    def _fits(self, tickets: list[Ticket]) -> bool:
        rows, longest = _size(tickets)
        return rows <= self.max_rows and rows * longest <= self.max_tokens

    # -- the work (on the compute thread) ----------------------------------------------------------
    def _drain(self) -> None:
        """One batch, then queue again while requests wait (a training run lets the next one
        in at its next phase boundary). A burst's first request, just arrived, waits
        ``GATHER_SECONDS`` for the rest of the burst (thirty pages' clicks arrive over a
        fraction of a second: one batch, not two)."""
        with self._guard:
            self._scheduled = False
            oldest = self._waiting[0].submitted if self._waiting else None
            rows = sum(len(t.rows) for t in self._waiting)
        if oldest is not None and rows < self.max_rows:
            time.sleep(max(GATHER_SECONDS - (time.perf_counter() - oldest), 0.0))
        self._run_batch()
        with self._guard:
            if self._waiting and not self._scheduled:
                self._scheduled = True
                self.compute.submit(self._drain)

    def _take(self, first: Ticket | None) -> list[Ticket]:
        with self._guard:
            queue = self._waiting
            if first is not None:  # the inline request leads its batch
                queue = [first, *[t for t in queue if t is not first]]
            live = (t for t in queue if not t.future.cancelled())
            batch = next(self._batches(live), [])
            batch = [t for t in batch if t.future.set_running_or_notify_cancel()]
            self._waiting = [t for t in self._waiting if t not in batch and not t.future.done()]
            start = time.perf_counter()
            for t in batch:
                t.started, t.batch_requests = start, len(batch)
            self._running = batch
            return batch

    def _run_batch(self, first: Ticket | None = None) -> None:
        batch = self._take(first)
        if not batch:
            return
        rows = [r for t in batch for r in t.rows]
        start = time.perf_counter()
        try:
            texts = batch[0].context.run(self._run, rows)
        except BaseException as exc:  # every request of the batch hears why
            for t in batch:
                t.future.set_exception(exc)
            return
        finally:
            with self._guard:
                self._running = []
        seconds = time.perf_counter() - start
        with self._guard:
            self.pace.record(*_size(batch), seconds)
        at = 0
        for t in batch:
            t.future.set_result(texts[at : at + len(t.rows)])
            at += len(t.rows)
