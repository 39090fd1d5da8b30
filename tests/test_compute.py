"""All tensor work runs on one compute thread (OpenMP keeps a pool per calling thread)."""

from __future__ import annotations

import threading

import pytest

from grpo_demo import compute
from grpo_demo.generation import SamplingParams, generate
from grpo_demo.training import TrainingRun
from tests.test_tiny_pipeline import PROMPTS, tiny_config


def test_calls_run_in_order_on_the_thread_and_errors_reach_the_caller():
    worker = compute.ComputeThread("test-compute")
    names = [worker.call(lambda: threading.current_thread().name) for _ in range(3)]
    assert names == ["test-compute"] * 3
    assert worker.call(lambda: worker.call(lambda: 7)) == 7  # re-entrant: no deadlock
    with pytest.raises(ZeroDivisionError):
        worker.call(lambda: 1 / 0)
    assert worker.run_waiting() == 0  # off the compute thread: nothing to do


def test_a_long_job_runs_the_jobs_queued_meanwhile_when_it_lets_them_in():
    worker = compute.ComputeThread("test-long")
    queued, order = threading.Event(), []

    def long_job():
        order.append("phase 1")
        queued.wait(30)
        while not worker.waiting():
            pass
        order.append(f"let in {worker.run_waiting()}")
        order.append("phase 2")

    runner = threading.Thread(target=lambda: worker.call(long_job))
    runner.start()
    while not order:
        pass
    request = threading.Thread(target=lambda: worker.call(order.append, "request"))
    request.start()
    queued.set()
    request.join(30)
    runner.join(30)
    assert order == ["phase 1", "request", "let in 1", "phase 2"]


def test_training_and_requests_from_other_threads_run_on_the_compute_thread(
    tiny_resident, monkeypatch
):
    from grpo_demo.reward_spec import TERMS, TermInfo

    seen = set()
    original = TERMS["four_letter"].func

    def where(completions, **kwargs):
        seen.add(threading.current_thread().name)
        return original(completions, **kwargs)

    monkeypatch.setitem(TERMS, "four_letter", TermInfo(where))
    run = TrainingRun(tiny_resident, tiny_config(max_steps=1), "on-compute", prompts=PROMPTS)
    assert run.start().join(timeout=300).error is None
    assert seen == {"compute"}  # TRL called the reward from the compute thread
    from grpo_demo import adapters

    calls = []
    sample_rows = adapters.generate_rows

    def watched(*args, **kwargs):
        calls.append(threading.current_thread().name)
        return sample_rows(*args, **kwargs)

    monkeypatch.setattr(adapters, "generate_rows", watched)
    requester = threading.Thread(
        target=generate, args=(tiny_resident, "Hi", "base", SamplingParams(2, 4))
    )
    requester.start()
    requester.join(120)
    assert calls == ["compute"]


def test_two_starts_at_once_make_one_run_the_managers_guard(tiny_resident, monkeypatch):
    """The one lock left besides the compute thread: ``TrainingManager`` checks "is a run
    going?" and starts one as a single step. Without it, two Start clicks in the same
    moment (two Gradio threads) would both see no run and start two; the slowed name check
    below opens that window wide."""
    import time

    from grpo_demo import store
    from grpo_demo.training import BusyError, TrainingManager

    slow = store.check_new_name

    def slowed(*args, **kwargs):
        time.sleep(0.3)  # inside the check-then-start window
        return slow(*args, **kwargs)

    monkeypatch.setattr(store, "check_new_name", slowed)
    manager = TrainingManager(tiny_resident)
    outcomes: list[str] = []

    def start(name: str) -> None:
        try:
            manager.start(tiny_config(max_steps=1), name, prompts=PROMPTS)
            outcomes.append("started")
        except BusyError:
            outcomes.append("busy")

    threads = [threading.Thread(target=start, args=(n,)) for n in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["busy", "started"]
    assert manager.current.join(timeout=300).error is None
