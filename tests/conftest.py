"""Shared fixtures: scenario builders and the reference Hugging Face modules (built on the meta device)."""

from __future__ import annotations

import os
import re
import warnings
from typing import Any

import pytest

from estimator.scenario_io import scenario_from_dict
from estimator.specs.scenario import Scenario

# the dashboard turns a defect into an error box for users; under test it must raise instead, so that no
# crash can pass as "an error message was shown"
os.environ["ESTIMATOR_DASHBOARD_STRICT"] = "1"
# error boxes the dashboard shows for bad input name a field (parallelism.tp: ...) or a file
INPUT_ERROR = re.compile(
    r"^(model|hardware|gpus|parallelism|training|precision|pricing|energy|traffic|inference|"
    r"quantisation|finetune|plan|Hardware|URL parameter|DOES NOT FIT|[\w.-]+\.(json|yaml))\b"
)


def assert_no_defects(at: Any, *, errors_allowed: bool = False) -> None:
    """No exception, and no error box unless the test expects input errors, which then must name a field."""
    assert not at.exception, [e.value for e in at.exception]
    texts = [e.value for e in at.error]
    if not errors_allowed:
        assert not texts, texts
    assert all(INPUT_ERROR.match(t) for t in texts), texts


def make_scenario(**overrides: Any) -> Scenario:
    """The GPT-3 175B default scenario with nested fields overridden (`parallelism={"tp": 4}` merges)."""
    base: dict[str, Any] = {
        "name": "test",
        "model": "gpt3-175b",
        "hardware": "a100-sxm-80gb",
        "gpus": 1024,
        "parallelism": {"tp": 8, "pp": 16, "zero_stage": 1, "micro_batch": 1, "recompute": "full"},
        "precision": "bf16-mixed",
        "training": {"tokens": 3.0e11, "global_batch": 1536, "seq_len": 2048, "flash_attention": False},
        "pricing": {"usd_per_gpu_hour": 2.0},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and key != "model":
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return scenario_from_dict(base)


@pytest.fixture
def scenario_factory() -> Any:
    return make_scenario


def build_hf_module(hf: dict[str, Any]) -> Any:
    """Instantiate the Hugging Face model class for a `to_hf_dict` config on the meta device."""
    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.*")
        import transformers

    cfg_dict = dict(hf)
    kind = cfg_dict.pop("model_type")
    classes = {
        "gpt2": ("GPT2Config", "GPT2LMHeadModel"),
        "t5": ("T5Config", "T5ForConditionalGeneration"),
        "llama": ("LlamaConfig", "LlamaForCausalLM"),
        "mixtral": ("MixtralConfig", "MixtralForCausalLM"),
        "qwen3": ("Qwen3Config", "Qwen3ForCausalLM"),
        "qwen3_moe": ("Qwen3MoeConfig", "Qwen3MoeForCausalLM"),
        "deepseek_v2": ("DeepseekV2Config", "DeepseekV2ForCausalLM"),
        "deepseek_v3": ("DeepseekV3Config", "DeepseekV3ForCausalLM"),
        "opt": ("OPTConfig", "OPTForCausalLM"),
        "bloom": ("BloomConfig", "BloomForCausalLM"),
        "mpt": ("MptConfig", "MptForCausalLM"),
        "falcon": ("FalconConfig", "FalconForCausalLM"),
        "gpt_neox": ("GPTNeoXConfig", "GPTNeoXForCausalLM"),
    }
    if kind in ("bert", "roberta"):
        arch = cfg_dict.pop("architectures")[0]
        config_cls = transformers.BertConfig if kind == "bert" else transformers.RobertaConfig
        config, cls = config_cls(**cfg_dict), getattr(transformers, arch)
    else:
        config_name, cls_name = classes[kind]
        config, cls = getattr(transformers, config_name)(**cfg_dict), getattr(transformers, cls_name)
    with torch.device("meta"):
        return cls(config)
