"""Local Hugging Face config.json files (written by transformers' own config classes) load exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from estimator.errors import InputError
from estimator.hf_config import MAX_CONFIG_BYTES, load_hf_config, to_hf_dict
from estimator.params import count_params
from estimator.presets import get_model
from tests.conftest import build_hf_module


def _write_real_config(tmp_path: Path, preset: str, model_type: str | None = None) -> tuple[Path, object]:
    """Write the config.json that transformers itself serialises for the preset's shape."""
    module = build_hf_module(to_hf_dict(get_model(preset)))
    cfg = module.config.to_dict()
    if model_type:  # Mistral shares Llama's keys
        cfg["model_type"] = model_type
    path = tmp_path / preset / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(cfg))
    return path, module


@pytest.mark.parametrize(
    ("preset", "model_type"),
    [
        ("gpt2", None),
        ("bert-base", None),
        ("t5-small", None),
        ("llama2-7b", None),
        ("llama2-7b", "mistral"),
        ("mixtral-8x7b", None),
        ("t5-3b", None),
    ],
)
def test_config_json_round_trip(tmp_path: Path, preset: str, model_type: str | None) -> None:
    path, module = _write_real_config(tmp_path, preset, model_type)
    spec = load_hf_config(path)
    assert count_params(spec).total == sum(p.numel() for p in module.parameters())  # type: ignore[attr-defined]
    assert spec.n_layers == get_model(preset).n_layers and spec.n_kv_heads == get_model(preset).n_kv_heads


def test_scenario_with_config_path(tmp_path: Path) -> None:
    from estimator.scenario_io import load_scenario

    path, _ = _write_real_config(tmp_path, "llama2-7b")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "model: llama2-7b/config.json\nhardware: h100-sxm-80gb\ngpus: 8\n"
        "training: {tokens: 1.0e+9, global_batch: 8, seq_len: 4096}\n"
    )
    assert load_scenario(scenario).model.n_layers == 32


def test_bad_configs(tmp_path: Path) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"model_type": "whisper"}))
    with pytest.raises(InputError, match="model_type 'whisper' is not supported"):
        load_hf_config(cfg)
    cfg.write_text(json.dumps({"model_type": "llama", "hidden_size": 64}))
    with pytest.raises(InputError, match="missing required key 'num_attention_heads'"):
        load_hf_config(cfg)
    cfg.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_hf_config(cfg)
    cfg.write_text(" " * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(InputError, match="too large"):
        load_hf_config(cfg)
