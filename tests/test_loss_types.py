"""TRL's loss types as run settings: explained, validated, passed to TRL, and each one trains."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from grpo_demo import config as config_module
from grpo_demo.__main__ import _parser
from grpo_demo.app import forms
from grpo_demo.app.command import resolved_lines
from grpo_demo.config import SETTINGS, ConfigError, RunConfig, grpo_defaults, trl_loss_types
from grpo_demo.loss_types import (
    GLOSSARY,
    IMPORTANCE_SAMPLING_LEVELS,
    LOSS_TYPES,
    SCALE_REWARDS,
    glossary_markdown,
)
from grpo_demo.presets import PRESETS, from_preset
from grpo_demo.training import RunEnded, TrainingRun, trl_backend
from grpo_demo.ui.train import preset_choices

PROMPTS = ["Tomorrow I'm gonna learn for exam", "Fill that sentence"]
CHOICE_FIELDS = ("loss_type", "scale_rewards", "importance_sampling_level")
PAIR = ("classroom-four-letter-grpo", "classroom-four-letter-dr-grpo")


def tiny_config(**kw) -> RunConfig:
    """As tests/test_tiny_pipeline.py: the classroom preset, 1 step, 8 answers of 8 tokens."""
    values = dict(max_steps=1, per_device_train_batch_size=8, max_completion_length=8)
    return from_preset("classroom-four-letter", **{**values, **kw})


# -- the glossary ----------------------------------------------------------------------------------
@pytest.mark.parametrize("field", CHOICE_FIELDS)
def test_every_choice_has_an_explanation_and_is_in_the_glossary(field):
    spec = SETTINGS[field]
    assert spec.kind is str and spec.grpo
    assert spec.choices == tuple(GLOSSARY[field])  # the explained values are the choices
    text = glossary_markdown()
    assert f"**`{field}`**" in text
    for value in spec.choices:
        line = GLOSSARY[field][value]
        assert len(line.split()) >= 8, (field, value)  # a sentence, not a label
        assert f"* `{value}`: " in text


def test_glossary_lines_are_markdown_one_per_value_plus_a_heading_per_field():
    lines = [line for line in glossary_markdown().split("\n") if line]
    assert len(lines) == len(GLOSSARY) + sum(len(v) for v in GLOSSARY.values())
    assert sum(line.startswith("**`") for line in lines) == len(GLOSSARY)
    assert "[DAPO paper](https://huggingface.co/papers/2503.14476)" in glossary_markdown()


@pytest.mark.parametrize("field", CHOICE_FIELDS)
def test_the_value_the_glossary_calls_trls_default_is_trls_default(field):
    said = [v for v, text in GLOSSARY[field].items() if text.startswith("TRL's default")]
    assert said == [grpo_defaults()[field]]


def test_the_pinned_trl_offers_exactly_the_explained_loss_types():
    assert set(trl_loss_types()) == set(LOSS_TYPES)  # a new TRL loss type needs a line here
    assert set(SCALE_REWARDS) == {"group", "batch", "none"}
    assert set(IMPORTANCE_SAMPLING_LEVELS) == {"token", "sequence"}


# -- refusals --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("loss_type", "ppo"),
        ("loss_type", "GRPO"),
        ("loss_type", ""),
        ("scale_rewards", "std"),
        ("scale_rewards", True),  # TRL takes True/False; the settings take its names only
        ("importance_sampling_level", "answer"),
    ],
)
def test_an_unknown_choice_is_refused_naming_it_and_the_choices(field, bad):
    allowed = ", ".join(SETTINGS[field].choices)
    with pytest.raises(ConfigError) as refused:
        RunConfig(**{field: bad})
    message = str(refused.value)
    assert message.startswith(f"{field} must be one of {allowed}")
    assert repr(bad) in message
    with pytest.raises(ConfigError, match=field):
        from_preset("classroom-four-letter", **{field: bad})


def test_a_choice_is_stripped_and_none_is_trls_default():
    cfg = RunConfig(loss_type=" dr_grpo ", scale_rewards="none\n")
    assert (cfg.loss_type, cfg.scale_rewards, cfg.importance_sampling_level) == (
        "dr_grpo",
        "none",
        None,
    )
    assert (
        cfg.resolved()["importance_sampling_level"] == grpo_defaults()["importance_sampling_level"]
    )
    assert RunConfig().resolved()["loss_type"] == grpo_defaults()["loss_type"] == "dapo"


def test_a_loss_type_the_installed_trl_lacks_is_refused_naming_what_it_offers(monkeypatch):
    monkeypatch.setattr(config_module, "trl_loss_types", lambda: ("grpo", "dapo"))
    with pytest.raises(ConfigError) as refused:
        RunConfig(loss_type="vespo")
    message = str(refused.value)
    assert "loss_type 'vespo' is not offered by the installed TRL" in message
    assert "which offers: grpo, dapo" in message
    assert RunConfig(loss_type="grpo").loss_type == "grpo"
    assert RunConfig().loss_type is None  # TRL's default is not checked against the list


def test_the_cli_refuses_an_unknown_choice_with_argparses_list(capsys):
    parser = _parser()
    for flag, bad in (("--loss-type", "ppo"), ("--scale-rewards", "std")):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(["train", "--name", "x", flag, bad])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert f"argument {flag}: invalid choice: '{bad}'" in err
    args = parser.parse_args(["train", "--name", "x", "--loss-type", "dr_grpo"])
    assert args.loss_type == "dr_grpo" and args.scale_rewards is None  # None: preset's/TRL's
    train = parser._subparsers._group_actions[0].choices["train"].format_help()
    assert "--loss-type {grpo,dr_grpo,dapo,bnpo,cispo,sapo,luspo,vespo}" in train
    assert "--scale-rewards {group,batch,none}" in train
    assert "--importance-sampling-level {token,sequence}" in train


def test_the_forms_refuse_an_unknown_choice_under_its_own_field():
    fields = forms.Fields()
    values = {"loss_type": "ppo", "scale_rewards": "std", "learning_rate": 1e-3}
    got = forms.run_config(
        fields,
        task=None,
        preset="classroom-four-letter",
        reward=None,
        values=values,
        app=True,
    )
    assert got is None
    assert "'ppo'" in fields.errors["loss_type"] and "dr_grpo" in fields.errors["loss_type"]
    assert "'std'" in fields.errors["scale_rewards"]
    with pytest.raises(forms.FormError, match="loss_type must be one of"):
        fields.done()
    fields = forms.Fields()
    cfg = forms.run_config(
        fields,
        task=None,
        preset="classroom-four-letter",
        reward=None,
        values={"loss_type": "cispo", "epsilon_high": "5"},
        app=True,
    )
    assert fields.errors == {} and (cfg.loss_type, cfg.epsilon_high) == ("cispo", 5.0)


# -- reaching TRL ----------------------------------------------------------------------------------
@pytest.mark.parametrize("loss_type", list(LOSS_TYPES))
def test_the_chosen_settings_reach_grpoconfig(loss_type, tmp_path):
    cfg = tiny_config(loss_type=loss_type, scale_rewards="batch", importance_sampling_level="token")
    args = trl_backend.grpo_args(cfg, str(tmp_path))
    assert (args.loss_type, args.scale_rewards, args.importance_sampling_level) == (
        loss_type,
        "batch",
        "token",
    )


def test_left_open_they_are_trls_defaults_in_grpoconfig(tmp_path):
    args = trl_backend.grpo_args(tiny_config(), str(tmp_path))
    for field in CHOICE_FIELDS:
        assert getattr(args, field) == grpo_defaults()[field]
    assert args.epsilon_high is None  # TRL: the same as epsilon
    args = trl_backend.grpo_args(tiny_config(epsilon_high=5), str(tmp_path))
    assert args.epsilon_high == 5.0


def test_cli_flags_reach_grpoconfig(tmp_path):
    """What ``train`` does with its flags before the model loads: forms.run_config."""
    argv = ["train", "--name", "x", "--loss-type", "dr_grpo", "--scale-rewards", "none"]
    args = _parser().parse_args([*argv, "--importance-sampling-level", "sequence"])
    fields = forms.Fields()
    cfg = forms.run_config(
        fields,
        task=args.task,
        preset=args.preset,
        reward=args.reward,
        values={k: getattr(args, k) for k in SETTINGS},
        app=False,
    )
    fields.done()
    built = trl_backend.grpo_args(cfg, str(tmp_path))
    assert (built.loss_type, built.scale_rewards, built.importance_sampling_level) == (
        "dr_grpo",
        "none",
        "sequence",
    )


# -- one real step per loss type -------------------------------------------------------------------
EXTRA = {
    # LUSPO is GSPO's sequence-level loss scaled by length: TRL warns without sequence-level
    # ratios, so it runs the way its paper (and TRL's help) sets it up
    "luspo": {"importance_sampling_level": "sequence"},
    "cispo": {"epsilon_high": 5.0},  # the ScaleRL paper's cap (unset: epsilon, 0.2)
}


@pytest.mark.parametrize(
    ("loss_type", "extra"),
    [
        *(pytest.param(lt, EXTRA.get(lt, {}), id=lt) for lt in LOSS_TYPES),
        pytest.param(  # GSPO's setup
            "grpo",
            {"importance_sampling_level": "sequence", "scale_rewards": "batch"},
            id="grpo-sequence-batch",
        ),
        pytest.param("dr_grpo", {"scale_rewards": "none"}, id="dr_grpo-unscaled"),  # the paper's
    ],
)
def test_each_loss_type_runs_one_real_step_on_a_tiny_gpt2(
    loss_type, extra, tiny_resident, monkeypatch
):
    built = []
    real = trl_backend.grpo_args

    def spy(cfg, output_dir):
        built.append(real(cfg, output_dir))
        return built[-1]

    monkeypatch.setattr(trl_backend, "grpo_args", spy)  # make_trainer's own lookup
    cfg = tiny_config(loss_type=loss_type, **extra)
    name = f"loss-{loss_type}".replace("_", "-")
    run = TrainingRun(tiny_resident, cfg, name, prompts=PROMPTS)
    end = run.start().join(timeout=300)
    assert isinstance(end, RunEnded) and end.error is None, end
    assert [e.step for e in run.history] == [1]
    loss = run.history[0].metrics["loss"]
    assert math.isfinite(loss), run.history[0].metrics
    assert len(built) == 1 and built[0].loss_type == loss_type  # what the trainer was given
    for field, value in extra.items():
        assert getattr(built[0], field) == value
    record = end.adapter.run
    assert record["grpo"]["loss_type"] == loss_type  # run.json says what it trained with
    assert record["config"]["loss_type"] == loss_type


# -- the preset pair ------------------------------------------------------------------------------
def test_the_preset_pair_differs_only_in_loss_type():
    a, b = (from_preset(name).to_dict() for name in PAIR)
    assert {k for k in a if a[k] != b[k]} == {"loss_type"}
    assert (a["loss_type"], b["loss_type"]) == ("grpo", "dr_grpo")
    base = from_preset("classroom-four-letter").to_dict()
    assert base["loss_type"] is None  # TRL's default, dapo: the third arm
    for other in (a, b):
        assert {k for k in base if base[k] != other[k]} == {"loss_type"}
    for name in PAIR:
        preset = PRESETS[name]
        assert not name.startswith("gpu-") and not preset.from_report
        assert preset.values.get("loss_type") in preset.remark  # the remark says what differs
        assert "compare" in preset.remark
        assert (f"Classroom · {name}", name) in preset_choices()


# -- the CLI's printed config ---------------------------------------------------------------------
def test_train_prints_every_field_resolved_saying_where_it_came_from():
    resident = SimpleNamespace(spec=SimpleNamespace(lora_target_modules="all-linear"))
    lines = resolved_lines(from_preset("classroom-four-letter-dr-grpo"), resident)
    names = [line.split(" = ")[0].strip() for line in lines]
    assert names == list(RunConfig.__dataclass_fields__)
    assert "  loss_type = dr_grpo" in lines
    assert "  scale_rewards = group  (TRL's default)" in lines
    assert "  importance_sampling_level = token  (TRL's default)" in lines
    assert "  epsilon_high = 0.2  (TRL: the same as epsilon)" in lines
    assert "  lora_target_modules = all-linear  (the base model's default)" in lines
    assert "  learning_rate = 0.0035" in lines and "  max_steps = 15" in lines
    assert "  reward = None  (the task's own rewards)" in lines
    assert not any(line.endswith(" = None") for line in lines)  # each open value explained
