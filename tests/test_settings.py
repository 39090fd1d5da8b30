"""Each setting is defined once: validation, CLI flags, widget ranges and README agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from grpo_demo.__main__ import _parser
from grpo_demo.config import GRPO_FIELDS, SETTINGS, ConfigError, RunConfig
from grpo_demo.evaluation import EVAL_SIZE, check_num_samples
from grpo_demo.generation import GenerationError, SamplingParams
from grpo_demo.limits import limits_table
from grpo_demo.settings import Setting, settings_of

ROOT = Path(__file__).resolve().parent.parent


def _subparser(name: str):
    actions = _parser()._subparsers._group_actions[0].choices
    return {a.dest: a for a in actions[name]._actions}


def test_readme_limits_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    assert limits_table() in readme, "run: python -m grpo_demo.limits --write README.md"


@pytest.mark.parametrize(
    ("verb", "specs"),
    [
        ("train", SETTINGS),
        ("generate", settings_of(SamplingParams)),
        ("evaluate", {"num_samples": EVAL_SIZE}),
    ],
)
def test_every_setting_is_a_cli_flag_with_its_help_and_range(verb, specs):
    actions = _subparser(verb)
    for name, spec in specs.items():
        action = actions[name]
        assert spec.flag in action.option_strings
        assert spec.help in action.help
        if spec.kind is not bool:
            assert spec.allowed() in action.help


def test_cli_refuses_out_of_range_values_with_the_settings_message(capsys):
    parser = _parser()
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["train", "--name", "x", "--max-steps", "0"])
    assert exit_.value.code == 2
    assert "max_steps must be 1..10000" in capsys.readouterr().err
    args = parser.parse_args(["train", "--name", "x", "--learning-rate", "2e-4"])
    assert args.learning_rate == 2e-4 and args.max_steps is None  # None: the preset's


def test_grpo_fields_come_from_the_settings_and_are_grpoconfig_fields():
    from trl import GRPOConfig

    assert set(GRPO_FIELDS) == {n for n, s in SETTINGS.items() if s.grpo}
    assert set(GRPO_FIELDS) <= set(GRPOConfig.__dataclass_fields__)
    assert {"lora_r", "bf16", "merged_rollouts"} & set(GRPO_FIELDS) == set()


@pytest.mark.parametrize("name", list(SETTINGS))
def test_run_config_enforces_each_settings_range(name):
    spec = SETTINGS[name]
    if spec.kind is bool:
        with pytest.raises(ConfigError, match=name):
            RunConfig(**{name: "yes"})
        return
    if spec.kind is str:
        for bad in ("nonsense", 1, spec.choices[0].upper()):
            with pytest.raises(ConfigError, match=f"{name} must be one of"):
                RunConfig(**{name: bad})
        assert getattr(RunConfig(**{name: spec.choices[-1]}), name) == spec.choices[-1]
        return
    for bad in (spec.minimum, spec.maximum):
        if bad is None:
            continue
        step = spec.step or 1
        outside = bad - step if bad == spec.minimum else bad + step
        if (bad == spec.minimum and spec.open_min) or (bad == spec.maximum and spec.open_max):
            outside = bad
        with pytest.raises(ConfigError, match=name):
            RunConfig(**{"num_generations": 2, "per_device_train_batch_size": 2, name: outside})


def test_widget_values_are_parsed_once_with_one_message():
    spec = SETTINGS["learning_rate"]
    assert spec.parse("0.001") == 1e-3
    for bad, message in [
        ("fast", "must be a number"),
        (float("inf"), "must be a finite"),
        (0, "must be > 0"),
    ]:
        with pytest.raises(ConfigError, match=f"learning_rate {message}"):
            spec.parse(bad)
    with pytest.raises(ConfigError, match="whole number"):
        SETTINGS["max_steps"].parse(2.5)


def test_app_caps_are_part_of_the_definition():
    samples = settings_of(SamplingParams)["num_samples"]
    assert samples.widget()["info"].startswith("1..16;") and samples.app_maximum < samples.maximum
    assert samples.parse(40) == 40
    with pytest.raises(ConfigError, match=r"num_samples must be 1\.\.16"):
        samples.parse(40, app=True)
    with pytest.raises(GenerationError, match=r"num_samples must be 1\.\.64"):
        SamplingParams(num_samples=65)
    assert check_num_samples(5000) == 5000
    with pytest.raises(GenerationError, match=r"num_samples must be 1\.\.1000 \(got 5000\)"):
        check_num_samples(5000, app=True)


def test_widgets_show_the_range_and_leave_the_refusal_to_the_named_check():
    temperature = Setting(float, 0, 5, "how random", open_min=True, step=0.05, name="temperature")
    # no Gradio minimum/maximum: Gradio's own refusal names no field, a slider clamps silently
    assert temperature.widget(app=False) == {"info": "> 0 and <= 5; how random", "step": 0.05}
    assert temperature.allowed() == "> 0 and <= 5"
    with pytest.raises(ConfigError, match=r"temperature must be > 0 \(got 0.0\)"):
        temperature.parse(0)


def test_a_choice_setting_is_a_dropdown_a_cli_choice_and_a_named_refusal():
    level = Setting(str, help="what the ratio is over", choices=("token", "sequence"), name="lv")
    assert level.parse(" sequence ") == "sequence" and level.parse(None) is None
    assert level.allowed() == level.allowed_text() == "one of token, sequence"
    assert level.widget() == {
        "choices": ["token", "sequence"],
        "info": "one of token, sequence; what the ratio is over",
    }
    for bad in ("tokens", "", 3, True):
        with pytest.raises(ConfigError, match=r"lv must be one of token, sequence \(got "):
            level.parse(bad)
    with pytest.raises(TypeError, match="choices go with kind str"):
        Setting(str, name="x")
    with pytest.raises(TypeError, match="choices go with kind str"):
        Setting(int, 1, 2, choices=("a",), name="x")
    train = _subparser("train")
    for name in ("loss_type", "scale_rewards", "importance_sampling_level"):
        assert tuple(train[name].choices) == SETTINGS[name].choices
        assert train[name].default is None  # the preset's, else TRL's
