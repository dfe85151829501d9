"""Every bad input gets an error that names the field and the rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from estimator.errors import InputError
from estimator.scenario_io import load_scenario
from estimator.specs.model import ModelSpec
from tests.conftest import make_scenario


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"parallelism": {"tp": 7}}, "parallelism.tp: model.n_heads (96) is not divisible by tp (7)"),
        (
            {"gpus": 640, "parallelism": {"pp": 8, "virtual_stages": 5}},
            "parallelism.pp: the model's 96 layers are not divisible by pp·virtual_stages",
        ),
        (
            {"parallelism": {"stage_layers": [7, 8]}},
            "stage_layers has 2 entries for pp = 16 stages",
        ),
        ({"gpus": 1000}, "gpus: 1000 is not a multiple of tp·pp·cp"),
        (
            {"training": {"global_batch": 1001}},
            "training.global_batch: 1001 is not divisible by micro_batch·dp",
        ),
        ({"training": {"seq_len": 4096}}, "training.seq_len: 4096 exceeds the model's learned positions"),
        ({"precision": "fp8-mixed"}, "precision: fp8-mixed needs a fp8 peak"),
        ({"parallelism": {"virtual_stages": 5}}, "parallelism.pp"),
        ({"training": {"objective": "masked-lm"}}, "training.objective"),
        ({"model": "mixtral-8x7b", "parallelism": {"tp": 8, "pp": 1, "ep": 3}, "gpus": 64}, "parallelism.ep"),
        (
            {"parallelism": {"sequence_parallel": True, "tp": 1, "pp": 16}, "gpus": 128},
            "sequence_parallel needs tp > 1",
        ),
    ],
)
def test_cross_field_rules_name_the_field(overrides: dict[str, object], needle: str) -> None:
    with pytest.raises(InputError) as err:
        make_scenario(**overrides)
    assert needle in str(err.value)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"training": {"tokens": -1}}, "training.tokens"),
        ({"training": {"tokens": float("nan")}}, "training.tokens"),
        ({"training": {"tokens": float("inf")}}, "training.tokens"),
        ({"gpus": 0}, "gpus"),
        ({"parallelism": {"zero_stage": 4}}, "parallelism.zero_stage"),
        ({"parallelism": {"recompute": "some"}}, "parallelism.recompute"),
        ({"parallelism": {"tensor": 8}}, "parallelism.tensor"),  # a typo: unknown key
        ({"pricing": {"usd_per_gpu_hour": "cheap"}}, "pricing.usd_per_gpu_hour"),
        ({"energy": {"pue": 0.5}}, "energy.pue"),
        ({"assumptions": {"compute_efficiency": 1.5}}, "assumptions.compute_efficiency"),
    ],
)
def test_field_errors_name_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as err:
        make_scenario(**overrides)
    assert str(err.value).startswith(field + ":") or f"\n{field}:" in str(err.value)


def test_unknown_preset_suggests_close_names() -> None:
    with pytest.raises(
        InputError,
        match=r"unknown model preset 'gpt3-175' ; did you mean 'gpt3-175b'|did you mean 'gpt3-175b'",
    ):
        make_scenario(model="gpt3-175")


def test_unknown_hardware_suggests_close_names() -> None:
    with pytest.raises(InputError, match="did you mean 'h100-sxm-80gb'"):
        make_scenario(hardware="h100-sxm")


def test_yaml_syntax_error_reports_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: gpt3-175b\nhardware: [a100\ngpus: 8\n")
    with pytest.raises(InputError, match="line 3"):
        load_scenario(bad)


def test_model_rules() -> None:
    with pytest.raises(ValidationError, match="must be a multiple of n_kv_heads"):
        ModelSpec(n_layers=2, d_model=64, n_heads=8, n_kv_heads=3, vocab_size=10, max_seq_len=16)
    with pytest.raises(ValidationError, match="d_model .* not divisible by n_heads"):
        ModelSpec(n_layers=2, d_model=65, n_heads=8, vocab_size=10, max_seq_len=16)
    m = ModelSpec(n_layers=2, d_model=64, n_heads=8, vocab_size=10, max_seq_len=16)
    assert (m.d_head, m.n_kv_heads, m.d_ff, m.output_head) == (8, 8, 256, "lm")


def test_scenario_accepts_mapping_and_preset_override() -> None:
    sc = make_scenario(model={"preset": "gpt3-175b", "n_layers": 48}, parallelism={"pp": 8}, gpus=512)
    assert sc.model.n_layers == 48 and sc.dp == 8 and sc.micro_batches == 192


def test_hardware_memory_accepts_units() -> None:
    sc = make_scenario()
    hw = sc.hardware.model_copy(update={}).model_dump()
    hw["memory_bytes"] = "40 GiB"
    from estimator.specs.hardware import HardwareSpec

    assert HardwareSpec.model_validate(hw).memory_bytes == 40 * 2**30
    hw["memory_bytes"] = "forty"
    with pytest.raises(ValidationError, match="memory_bytes"):
        HardwareSpec.model_validate(hw)
