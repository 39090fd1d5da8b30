"""gradio_client against the launched app (bundled model): the documented API, end to end."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.bundled


@pytest.fixture(scope="module")
def client(live_app):
    from gradio_client import Client

    return Client(live_app.url, verbose=False)


def submit_train(client, name: str, max_steps: int, task: str = "four-letter"):
    """A short classroom run through the documented keyword API (4 completions x 8 tokens)."""
    return client.submit(
        task=task,
        preset="classroom-four-letter",
        name=name,
        learning_rate=1e-3,
        num_generations=4,
        max_steps=max_steps,
        max_completion_length=8,
        api_name="/train",
    )


def test_api_names_and_keyword_parameters(client):
    api = client.view_api(return_format="dict")["named_endpoints"]
    params = {name: [p["parameter_name"] for p in api[name]["parameters"]] for name in api}
    assert params["/generate"] == [
        "prompt",
        "adapter",
        "num_samples",
        "max_new_tokens",
        "temperature",
        "seed",
    ]
    assert params["/compare"] == ["prompt", "num_samples", "max_new_tokens", "temperature", "seed"]
    assert params["/train"] == [
        "task",
        "preset",
        "name",
        "learning_rate",
        "num_generations",
        "max_steps",
        "max_completion_length",
        "reward",
        "probes",
        "probe_every",
        "teacher_key",
        "loss_type",
        "scale_rewards",
        "importance_sampling_level",
    ]
    assert params["/browse"] == ["run_name", "step"]
    assert params["/score_base"] == ["task", "reward", "num_generations", "max_completion_length"]
    assert params["/stop"] == ["teacher_key"]
    assert params["/evaluate"] == ["adapters", "num_samples"]
    assert params["/token_change"] == ["prompt", "completion", "before", "after"]
    assert params["/adapter_map"] == ["adapter"]
    assert params["/overlay_runs"] == ["runs"]
    assert params["/run_report"] == ["run_name"]


def test_generate_and_compare(client):
    highlight, table, scores, status = client.predict(
        prompt="Tomorrow I'm gonna learn for exam",
        adapter="base",
        num_samples=2,
        max_new_tokens=12,
        temperature=1.0,
        seed=0,
        api_name="/generate",
    )
    assert len(table["data"]) == 2 and "4-letter" in table["headers"]
    assert len(scores["data"]) == 2 and "distinct share" in scores["headers"]
    assert "2 completions" in status
    grid, summary, scores, status = client.predict(
        prompt="Fill that sentence",
        num_samples=1,
        max_new_tokens=8,
        temperature=1.0,
        seed=0,
        api_name="/compare",
    )
    adapters = [row[0] for row in summary["data"]]  # one row per model, one scale per column
    assert adapters[0] == "base" and len(adapters) == len(scores["data"])
    assert grid.count('class="cmp-col"') == len(adapters) and f"{len(adapters)} models" in status


@pytest.mark.parametrize(
    ("prompt", "adapter", "message"), [("  ", "base", "empty"), ("hi", "nope", "unknown adapter")]
)
def test_bad_input_is_an_error_not_a_crash(client, prompt, adapter, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        client.predict(
            prompt=prompt,
            adapter=adapter,
            num_samples=1,
            max_new_tokens=8,
            temperature=1.0,
            seed=0,
            api_name="/generate",
        )


def test_train_streams_events_then_evaluate_sees_the_adapter(client):
    job = submit_train(client, "api-run", max_steps=2, task="four-letter-diverse")
    progress = [update[0] for update in job]
    assert any("step 1/2" in p for p in progress)
    assert "finished" in progress[-1] and "api-run" in progress[-1]
    assert client.predict(api_name="/stop") == "No training run is going."
    table1, diversity, wins, verdict, hist, files = client.predict(
        adapters=["base", "api-run"], num_samples=4, api_name="/evaluate"
    )
    assert [row[0] for row in table1["data"]] == ["base", "base", "api-run", "api-run"]
    assert wins["data"][0][:2] == ["api-run", "Four-letter words, no repetition"]
    assert wins["headers"] == ["adapter", "task", "win rate", "ties", "losses"]
    assert " of 4; 95 % interval " in wins["data"][0][2]  # every held-out row paired
    assert len(files) == 5  # + win_rates.csv
    note, step = client.predict(run_name="api-run", step=2, api_name="/browse")
    assert "step 2 of 2" in note and len(step["data"]) > 0 and "advantage" in step["headers"]


def test_score_the_base_through_the_api(client):
    verdict, groups = client.predict(
        task="four-letter",
        reward="1*n_letter[n=3]",
        num_generations=4,
        max_completion_length=8,
        api_name="/score_base",
    )
    assert verdict[:1] in "✅⚠❌" and "move the model" in verdict
    assert len(groups["data"]) == 8 and "n_letter[n=3]" in groups["headers"]
    verdict, groups = client.predict(  # refused where the verdict would be
        task="four-letter",
        reward="1*rm",
        num_generations=4,
        max_completion_length=8,
        api_name="/score_base",
    )
    assert "Not scored" in verdict and "unknown reward term 'rm'" in verdict
    assert groups["data"] in ([], [[]]) or not any(groups["data"])


def test_stop_during_a_run(client):
    job = submit_train(client, "api-stop", max_steps=20)
    for update in job:
        if "step 1/20" in update[0]:
            assert "Stop requested" in client.predict(api_name="/stop")
            break
    final = job.result()[0]  # the last update once the run has ended
    assert "stopped" in final and ("step 1/20" in final or "step 2/20" in final)
