"""Many pages' requests in one batch: each row's text is its own; the queue is fair, bounded."""

from __future__ import annotations

import threading

import pytest

from grpo_demo import compute
from grpo_demo.row_batches import Busy, Row, RowBatcher, RowDraw, generate_rows, row_seed

MIXED = [
    Row("Tomorrow I'm gonna learn for exam", max_new_tokens=10, seed=row_seed(0, 0)),
    Row("Hi", max_new_tokens=3, temperature=0.7, seed=row_seed(5, 1)),
    Row("A much longer prompt: padded least", "base", 14, 1.3, 0.8, row_seed(9, 0)),
    Row("Fill that sentence", max_new_tokens=6, temperature=0, seed=3),  # greedy
]


def held(worker: compute.ComputeThread) -> threading.Event:
    """Occupy ``worker`` until the returned event is set (a training phase, say)."""
    release, started = threading.Event(), threading.Event()
    worker.submit(lambda: (started.set(), release.wait(60)))
    assert started.wait(30)
    return release


def test_a_rows_text_does_not_depend_on_who_shares_its_batch(tiny_resident):
    model, tok = tiny_resident.model, tiny_resident.tokenizer
    alone = [generate_rows(model, tok, [row])[0] for row in MIXED]
    together = generate_rows(model, tok, MIXED)
    reordered = generate_rows(model, tok, MIXED[::-1])[::-1]
    assert together == alone == reordered
    assert len(set(together)) == len(MIXED)


def test_each_row_stops_at_its_own_length_on_its_own_stream(tiny_resident):
    model, tok = tiny_resident.model, tiny_resident.tokenizer
    short, long_, other = generate_rows(
        model,
        tok,
        [Row("Hi", max_new_tokens=3, seed=11), Row("Hi", "base", 12, seed=11), Row("Hi", seed=12)],
    )
    assert long_.startswith(short) and len(long_) > len(short)  # the same stream, cut at 3
    assert len(tok(short)["input_ids"]) <= 4 < len(tok(long_)["input_ids"])
    assert other != long_  # another seed, another stream


def test_the_draw_follows_each_rows_temperature_and_top_p():
    import torch

    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    n = 4000
    rows = [Row("x", temperature=0.5, seed=i) for i in range(n)]
    picks = RowDraw(rows, "cpu")(None, logits.repeat(n, 1)).argmax(-1)
    freq = torch.bincount(picks, minlength=4).float() / n
    expected = (logits / 0.5).softmax(-1)
    assert torch.allclose(freq, expected, atol=0.03), (freq, expected)
    # top-p 0.6 at temperature 1: tokens 0 (p 0.64) alone carry the mass
    nucleus = [Row("x", top_p=0.6, seed=i) for i in range(200)]
    assert set(RowDraw(nucleus, "cpu")(None, logits.repeat(200, 1)).argmax(-1).tolist()) == {0}
    greedy = RowDraw([Row("x", temperature=0)], "cpu")(None, logits[None])
    assert greedy.argmax(-1).tolist() == [0] and torch.isinf(greedy).sum() == 3


def test_requests_that_wait_together_run_as_one_batch_and_get_their_own_rows(tiny_resident):
    batcher = tiny_resident.batcher
    release = held(batcher.compute)
    tickets = [batcher.submit([row], owner=f"page-{i}") for i, row in enumerate(MIXED)]
    assert [batcher.standing(t)[0] for t in tickets] == [1, 2, 3, 4]
    assert batcher.waiting() == 4
    release.set()
    texts = [t.result(60)[0] for t in tickets]
    assert [t.batch_requests for t in tickets] == [4, 4, 4, 4]  # one batch of the 4 rows
    model, tok = tiny_resident.model, tiny_resident.tokenizer
    assert texts == [tiny_resident.compute.call(generate_rows, model, tok, [r])[0] for r in MIXED]


def test_a_batch_is_bounded_in_rows_and_tokens_and_the_rest_follows():
    worker = compute.ComputeThread("test-bounds")
    sizes = []

    def run(rows):
        sizes.append((len(rows), max(r.max_new_tokens for r in rows)))
        return [r.prompt for r in rows]

    batcher = RowBatcher(worker, run, max_rows=4, max_tokens=4 * 16)
    release = held(worker)
    tickets = [
        batcher.submit([Row("a", max_new_tokens=8)] * 2),
        batcher.submit([Row("b", max_new_tokens=8)] * 2),
        batcher.submit([Row("c", max_new_tokens=8)] * 2),  # a 5th row: next batch
        batcher.submit([Row("d", max_new_tokens=32)]),  # 3 rows x 32 tokens > 64: alone
        batcher.submit([Row("e", max_new_tokens=8)] * 6),  # over the bound alone: runs alone
    ]
    place, seconds = batcher.standing(tickets[-1])
    assert place == 5 and seconds > batcher.standing(tickets[0])[1] > 0
    release.set()
    assert [t.result(30) for t in tickets][2] == ["c", "c"]
    assert sizes == [(4, 8), (2, 8), (1, 32), (6, 8)]


def test_one_waiting_request_per_page_and_a_class_wide_cap_answer_at_once():
    worker = compute.ComputeThread("test-cap")
    batcher = RowBatcher(worker, lambda rows: [r.prompt for r in rows], max_waiting_rows=5)
    release = held(worker)
    first = batcher.submit([Row("a")], owner="page-1")
    with pytest.raises(Busy, match="already has a request waiting"):
        batcher.submit([Row("b")], owner="page-1")
    batcher.submit([Row("c")] * 4, owner="page-2")
    with pytest.raises(Busy, match=r"busy: 2 requests are waiting .* about \d+ s; try again"):
        batcher.submit([Row("d")], owner="page-3")
    nobody = batcher.submit([Row("e")] * 8)  # not a page's: an evaluation's chunk waits
    release.set()
    assert first.result(30) == ["a"] and nobody.result(30) == ["e"] * 8
    assert batcher.submit([Row("b")], owner="page-1").result(30) == ["b"]  # answered: again


def test_a_cancelled_request_is_not_run_and_a_failing_batch_tells_each_request():
    worker = compute.ComputeThread("test-cancel")
    ran = []

    def run(rows):
        ran.extend(r.prompt for r in rows)
        if any(r.prompt == "bad" for r in rows):
            raise RuntimeError("out of memory")
        return [r.prompt for r in rows]

    batcher = RowBatcher(worker, run)
    release = held(worker)
    gone = batcher.submit([Row("gone")])
    bad, mate = batcher.submit([Row("bad")]), batcher.submit([Row("mate")])
    assert batcher.cancel(gone)
    release.set()
    for ticket in (bad, mate):
        with pytest.raises(RuntimeError, match="out of memory"):
            ticket.result(30)
    assert "gone" not in ran
    assert batcher.submit([Row("after")]).result(30) == ["after"]  # still serving


def test_a_request_from_the_compute_thread_runs_at_once_with_the_waiting_ones_riding_along():
    worker = compute.ComputeThread("test-inline")
    sizes = []

    def run(rows):
        sizes.append(len(rows))
        return [r.prompt for r in rows]

    batcher = RowBatcher(worker, run)
    waiting, arrived = [], threading.Event()

    def training_phase():  # a training run's probes, with a page's request queued meanwhile
        waiting.append(
            threading.Thread(target=lambda: waiting.append(batcher.submit([Row("page")])))
        )
        waiting[0].start()
        waiting[0].join(30)
        arrived.set()
        return batcher.submit([Row("probe-1"), Row("probe-2")]).result()

    assert worker.call(training_phase) == ["probe-1", "probe-2"]
    assert arrived.is_set() and waiting[1].result(30) == ["page"]
    assert sizes[0] == 3  # the probes and the page's request in one batch


def test_the_pace_follows_the_batches_measured():
    from grpo_demo.row_batches import BatchPace

    pace = BatchPace()
    pace.record(1, 10, 1.0)
    assert pace.seconds(1, 10) == pytest.approx(1.0)
    pace.record(11, 10, 2.0)  # 0.1 s a step at 1 row, 0.2 at 11 rows: 0.01 a row
    assert pace.seconds(21, 10) == pytest.approx(3.0)
