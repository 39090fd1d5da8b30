"""The ZeroGPU path on a CPU: every GPU entry point through a harness that forks a worker,
pickles arguments and results both ways, reuses the worker, and streams a generator's yields
(``fork_worker.ForkWorker``, what ``spaces.GPU`` does; ``GRPO_DEMO_GPU_WORKER=fork``)."""

from __future__ import annotations

import contextvars
import os
import re
import threading
import time
from pathlib import Path

import pytest
import torch

from grpo_demo import compute, fork_worker, gpu_calls
from grpo_demo.adapters import SAMPLE_ROWS, ResidentModel
from grpo_demo.fork_worker import ForkWorker, WorkerFailed
from grpo_demo.generation import SamplingParams, generate
from grpo_demo.row_batches import Row, RowBatcher
from grpo_demo.steps import StepEvent
from grpo_demo.token_change import token_changes
from grpo_demo.training import RunEnded, TrainingManager, WorkerRun, run_type
from grpo_demo.training import in_worker as worker_runs
from grpo_demo.training.in_worker import TRAIN
from tests.test_tiny_pipeline import PROMPTS, tiny_config

SEEN: list[str] = []  # changed in a worker: the caller's copy must stay empty


def remember(word: str) -> dict:
    SEEN.append(word)
    return {"pid": os.getpid(), "seen": list(SEEN), "in_worker": fork_worker._in_worker}


def count_to(n: int, gate: str):
    for i in range(n):
        yield i
        if i == 0:  # the second value waits until the caller has seen the first
            while not Path(gate).exists():
                time.sleep(0.01)


def fail(message: str) -> None:
    raise KeyError(message)


def forks(capsys, name: str) -> int:
    """Worker processes forked for ``name`` since the last look (each fork says so)."""
    return capsys.readouterr().err.count(f"forked for {name}")


def on_compute_thread(x: int) -> int:
    """Work handed to the compute thread, as the package's code does, inside a worker."""
    return compute.shared().call(lambda: x * 2)


@pytest.fixture
def workers():
    made: list[ForkWorker] = []

    def make(fn, duration=None) -> ForkWorker:
        made.append(ForkWorker(fn, duration))
        return made[-1]

    yield make
    for w in made:
        w.close()


def test_a_call_runs_in_a_forked_worker_reused_and_its_memory_stays_there(workers, capsys):
    gpu = workers(remember, lambda word: len(word))
    first, second = gpu("one"), gpu("two")
    assert first["in_worker"] and first["pid"] != os.getpid()
    assert second["pid"] == first["pid"]  # the idle worker is reused
    assert forks(capsys, "remember") == 1
    assert second["seen"] == ["one", "two"]  # the worker keeps its own memory between calls
    assert SEEN == [] and not fork_worker._in_worker  # ... and none of it comes back
    assert gpu.requested == [3, 3]  # the duration, computed per call from its arguments


def test_a_generator_streams_each_yield_as_it_comes(workers, tmp_path):
    gate = tmp_path / "gate"
    stream = workers(count_to)(3, str(gate))
    assert next(stream) == 0  # arrived while the worker still waits at the gate
    gate.touch()
    assert list(stream) == [1, 2]


def test_a_reader_that_goes_away_stops_the_worker_at_its_next_yield(workers, tmp_path, capsys):
    gpu = workers(count_to)
    stream = gpu(10**9, str(tmp_path / "gate"))
    assert next(stream) == 0
    stream.close()  # the worker is at the gate: let it reach its next yield
    (tmp_path / "gate").touch()
    for _ in range(500):
        if gpu._idle:
            break
        time.sleep(0.01)
    assert list(gpu(2, str(tmp_path / "gate"))) == [0, 1] and forks(capsys, "count_to") == 1


def test_what_cannot_be_pickled_or_raises_is_said_and_the_worker_survives(workers, capsys):
    gpu = workers(fail)
    with pytest.raises(WorkerFailed, match="KeyError: 'no such adapter'"):
        gpu("no such adapter")
    with pytest.raises(WorkerFailed, match="cannot cross"):
        gpu(threading.Lock())
    with pytest.raises(WorkerFailed, match="KeyError"):
        gpu("again")
    assert forks(capsys, "fail") == 1


def test_the_compute_thread_does_not_deadlock_in_a_fork(workers):
    compute.shared().call(lambda: None)  # the parent's compute thread exists before the fork
    assert workers(on_compute_thread)(21) == 42


def test_duration_is_rounded_and_capped_to_what_zerogpu_grants():
    assert gpu_calls.seconds_for(0.2) == gpu_calls.MIN_SECONDS
    assert gpu_calls.seconds_for(1e5) == gpu_calls.MAX_SECONDS


class ZeroError(Exception):
    """What ``spaces`` raises for its refusals: a ``gradio.Error`` titled "ZeroGPU ..."."""

    def __init__(self, title: str, message: str):
        super().__init__(message)
        self.title, self.message = title, message


def test_zerogpu_refusals_read_plainly(monkeypatch):
    def refuse(*args, **kwargs):
        raise ZeroError("ZeroGPU quota exceeded", "You have exceeded your GPU quota (60s left)")

    refused = gpu_calls._plain(refuse)
    with pytest.raises(gpu_calls.GpuRefused, match=r"^Quota exceeded: You have exceeded"):
        refused()
    carried = gpu_calls._plain(gpu_calls._carried(fail))
    with pytest.raises(WorkerFailed, match="KeyError: 'x'"):  # the message crossed as data
        carried("x")


# -- the package's entry points through the harness ------------------------------------------
@pytest.fixture
def forked(monkeypatch):
    monkeypatch.setenv(gpu_calls.FORK_ENV, "fork")
    assert gpu_calls.where() == "fork" and run_type() is WorkerRun
    yield
    gpu_calls.close_workers()  # a worker knows the models that lived when it was forked


def test_sampling_in_a_worker_matches_this_process(
    tiny_gpt2, tmp_path, monkeypatch, forked, capsys
):
    params = SamplingParams(num_samples=3, max_new_tokens=6, seed=7)
    here = ResidentModel.load(str(tiny_gpt2), tmp_path / "a")
    there = ResidentModel.load(str(tiny_gpt2), tmp_path / "b")
    monkeypatch.setenv(gpu_calls.FORK_ENV, "")  # `here` samples in this process
    mine = [c.text for c in generate(here, "Fill that sentence", "base", params)]
    monkeypatch.setenv(gpu_calls.FORK_ENV, "fork")
    theirs = [c.text for c in generate(there, "Fill that sentence", "base", params)]
    assert theirs == mine and forks(capsys, "_rows_on_gpu") == 1
    assert SAMPLE_ROWS.worker().requested == [gpu_calls.MIN_SECONDS]


def test_a_run_in_a_worker_leaves_its_adapter_which_this_process_serves(
    tiny_resident, monkeypatch, forked, capsys
):
    base = {k: v.clone() for k, v in tiny_resident.model.state_dict().items()}
    manager = TrainingManager(tiny_resident, run_type())
    run = manager.start(tiny_config(max_steps=2), "far", prompts=PROMPTS, probes=PROMPTS[:1])
    events = list(run.events())
    assert [type(e) for e in events] == [StepEvent, StepEvent, RunEnded]
    end = events[-1]
    assert end.error is None and end.adapter.path.is_dir(), end
    assert events[0].completions and run.base_probes  # the news carried the step and probes
    assert forks(capsys, "run_in_worker") == 1
    assert TRAIN.worker().requested[0] > gpu_calls.MIN_SECONDS
    # this process trained nothing: the base weights are untouched, no TRL slot was made
    assert "far" in tiny_resident.names() and set(tiny_resident.model.peft_config) == {"far"}
    for key, value in tiny_resident.model.get_base_model().state_dict().items():
        if "lora_" not in key:
            assert torch.equal(value, base[key.replace(".base_layer", "")]), key
    out = generate(tiny_resident, "Hello", "far", SamplingParams(2, 4, seed=1))
    assert len(out) == 2 and out[0].adapter == "far"
    change = token_changes(tiny_resident, "Hello", " there friend", "base", "far")
    assert len(change.tokens) == 2 and any(t.delta != 0 for t in change.tokens)
    assert forks(capsys, "_logprobs_on_gpu") == 1
    monkeypatch.setenv(gpu_calls.FORK_ENV, "")  # the same token view in this process
    here = token_changes(tiny_resident, "Hello", " there friend", "base", "far")
    assert [t.delta for t in here.tokens] == pytest.approx([t.delta for t in change.tokens])


def test_stop_from_the_page_ends_the_workers_run_after_its_step(tiny_resident, forked):
    manager = TrainingManager(tiny_resident, run_type())
    run = manager.start(tiny_config(max_steps=50), "halted", prompts=PROMPTS)
    for event in run.events():
        if isinstance(event, StepEvent):
            assert manager.stop()
    end = run.ended
    assert end.error is None and end.stopped and len(run.history) <= 3, end
    assert (end.adapter.path / "adapter_model.safetensors").is_file()
    assert "halted" in tiny_resident.names()
    assert not Path(run.stop_file).exists()


@pytest.mark.bundled
def test_the_app_with_its_gpu_work_in_a_worker(tmp_path):
    """``python app.py`` as on ZeroGPU (entry points in forked workers): Generate, a run that
    streams its steps and stops on request, its adapter loaded here and served at once."""
    from gradio_client import Client

    from tests.conftest import start_app
    from tests.test_app_client import submit_train

    env = {**os.environ, gpu_calls.FORK_ENV: "fork", "MALLOC_ARENA_MAX": "2"}
    proc, url = start_app(tmp_path / "ckpt", tmp_path / "app.log", env, timeout=300)
    try:
        client = Client(url, verbose=False)
        generated = dict(prompt="Fill that sentence", num_samples=2, max_new_tokens=8)
        status = client.predict(**generated, adapter="base", api_name="/generate")[-1]
        assert "2 completions" in status
        job = submit_train(client, "zero", max_steps=6)
        for update in job:
            if "step 2/6" in update[0]:
                assert "Stop requested" in client.predict(api_name="/stop")
                break
        final = job.result()[0]
        assert "stopped" in final and "zero" in final
        status = client.predict(**generated, adapter="zero", api_name="/generate")[-1]
        assert "2 completions" in status
        assert (tmp_path / "ckpt" / "smollm2-135m" / "zero" / "adapter_model.safetensors").is_file()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    log = (tmp_path / "app.log").read_text()
    assert "Traceback" not in log, log[-3000:]
    assert "forked for run_in_worker" in log, log[-3000:]
    # one sampling worker, forked before the run: it loaded the new adapter from its folder
    assert log.count("forked for _rows_on_gpu") == 1, log[-3000:]
    # a terminated app runs no exit handler: its workers end by themselves (each holds a model)
    workers = [int(n) for n in re.findall(r"gpu worker: process (\d+) forked", log)]
    assert workers and wait_for(lambda: not any(alive(pid) for pid in workers), 30), workers


def alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


PAGE = contextvars.ContextVar("page", default=None)


def test_a_shared_batch_runs_in_the_context_of_the_request_leading_it():
    """On ZeroGPU the context holds the page's request: whose quota a GPU call is charged to."""
    seen: list[str | None] = []

    def run(rows: list[Row]) -> list[str]:
        seen.append(PAGE.get())
        return [r.prompt for r in rows]

    thread = compute.ComputeThread("test")
    batcher = RowBatcher(thread, run)
    gate = threading.Event()
    thread.submit(gate.wait)  # hold the thread: both requests queue, then share one batch

    def ask(page: str):
        PAGE.set(page)
        return batcher.submit([Row(page)], owner=page)

    first = ask("alice")
    second = contextvars.copy_context().run(ask, "bob")
    gate.set()
    assert first.result(30) == ["alice"] and second.result(30) == ["bob"]
    assert seen == ["alice"] and first.batch_requests == 2


def test_a_zerogpu_refusal_is_said_under_the_buttons_and_in_the_runs_end(
    tiny_resident, monkeypatch
):
    """Generate's status line (its other outputs left as they were) and the run's end say it
    in words; nothing is raised as a traceback."""
    import gradio as gr

    from grpo_demo.ui.handlers import Demo
    from tests.conftest import compare_by_name, generate_by_name, served

    said = "Quota exceeded: You have exceeded your free ZeroGPU quota (90s requested vs. 40s left)"

    def refuse(*args, **kwargs):
        raise gpu_calls.GpuRefused(said)

    tiny_resident.batcher._run = refuse
    demo = Demo(tiny_resident)
    outputs = served(generate_by_name(demo, "Fill that sentence", "base", 2, 8, 1, 0))
    assert outputs[3] == f"⛔ The GPU was not available for this request. {said}"
    assert all(isinstance(o, type(gr.skip())) for i, o in enumerate(outputs) if i != 3)
    assert said in served(compare_by_name(demo, "Fill that sentence", 1, 8, 1, 0))[3]
    monkeypatch.setattr(worker_runs, "TRAIN", refuse)  # the run's GPU call, refused
    run = WorkerRun(tiny_resident, tiny_config(), "refused", prompts=PROMPTS).start()
    end = run.join(60)
    assert end.error == f"GpuRefused: {said}" and end.adapter is None


def test_on_zerogpu_an_entry_point_is_decorated_when_made_with_its_duration(monkeypatch):
    """``spaces`` looks for its functions when the app launches (before the model loads): an
    entry point is handed to ``spaces.GPU`` when it is made. A stand-in ``spaces`` module
    records what it got and calls the function as a worker would."""
    import sys
    import types

    decorated, asked = [], []

    def gpu(task, duration):
        decorated.append(task)

        def call(*args, **kwargs):
            asked.append(duration(*args, **kwargs))
            return task(*args, **kwargs)  # in the worker: an exception comes back as data

        return call

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=gpu))
    monkeypatch.setenv(gpu_calls.ZERO_GPU_ENV, "true")
    entry = gpu_calls.on_gpu(lambda word: word.upper(), lambda word: 40.5 * len(word))
    assert len(decorated) == 1  # before any call
    assert entry("ab") == "AB" and asked == [81]
    failing = gpu_calls.on_gpu(fail, lambda message: 1.0)
    with pytest.raises(WorkerFailed, match="KeyError: 'gone'"):  # not just "KeyError"
        failing("gone")
    assert asked == [81, gpu_calls.MIN_SECONDS]
    gpu_calls._ENTRIES.remove(entry)
    gpu_calls._ENTRIES.remove(failing)


def test_requests_do_not_wait_for_a_run_in_a_worker(tiny_resident, forked):
    """The run holds the worker's model, not this one: a Generate says nothing of waiting."""
    from grpo_demo.ui.handlers import Demo
    from tests.conftest import generate_by_name, served

    demo = Demo(tiny_resident)
    run = demo.state.manager.start(tiny_config(max_steps=50), "aside", prompts=PROMPTS)
    assert run.wait(0, 120) and demo.state.running is run
    assert demo.state.blocking is None and demo.queue_note() == "Working ..."
    status = served(generate_by_name(demo, "Fill that sentence", "base", 2, 8, 1, 0))[3]
    assert "2 completions" in status and "training run" not in status
    assert demo.state.manager.stop() and run.join(120).stopped
