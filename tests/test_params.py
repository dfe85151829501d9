"""Parameter counts: exact, against published counts and against the real Hugging Face modules."""

from __future__ import annotations

import numpy as np
import pytest

from estimator.hf_config import model_from_hf_dict, to_hf_dict
from estimator.params import attention_params, count_params, ffn_params, megatron_params_eq2
from estimator.presets import get_model, model_presets
from estimator.specs.model import ModelSpec
from tests.conftest import build_hf_module

GOLDEN = [  # counts of the real Hugging Face modules, given in the issue
    ("gpt2", 124_439_808),
    ("t5-small", 60_506_624),
    ("llama2-7b", 6_738_415_616),
    ("mixtral-8x7b", 46_702_792_704),
    ("llama3-8b", 8_030_261_248),  # Meta-Llama-3-8B model card: 8.03B
]


@pytest.mark.parametrize(("name", "expected"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_param_counts(name: str, expected: int) -> None:
    assert count_params(get_model(name)).total == expected


def test_bert_base_encoder_with_pooler() -> None:
    """BertModel (embeddings + encoder + pooler) has 109,482,240; the pre-training heads add 624,188."""
    c = count_params(get_model("bert-base"))
    assert c.total - c.output_head - c.nsp_head == 109_482_240
    assert c.total == 110_106_428  # BertForPreTraining


def test_nanogpt_without_biases() -> None:
    """nanoGPT's GPT-2 with bias=False: 124,337,664 (style anchors; LayerNorm weights only)."""
    m = get_model("gpt2").model_copy(update={"bias": False})
    assert count_params(ModelSpec.model_validate(m.model_dump())).total == 124_337_664


def test_mixtral_active_params() -> None:
    """Mixtral 8x7B uses 12.9B parameters per token (Jiang et al. 2024, Sec. 2: '13B active')."""
    c = count_params(get_model("mixtral-8x7b"))
    assert c.active == 12_879_925_248
    assert c.experts == 8 * 32 * 3 * 4096 * 14336


@pytest.mark.parametrize("name", ["megatron-1.7b", "megatron-22b", "megatron-175b", "megatron-1t"])
def test_megatron_eq2_differs_by_the_final_norm(name: str) -> None:
    """Narayanan et al. 2021 Eq. 2 omits only the final LayerNorm (2h) of a tied GPT with biases."""
    m = get_model(name)
    eq2 = megatron_params_eq2(
        n_layers=m.n_layers, d_model=m.d_model, vocab_size=m.vocab_size, seq_len=m.max_seq_len
    )
    assert count_params(m).total - eq2 == pytest.approx(2 * m.d_model, abs=1e-3 * m.d_model)


def test_gpt3_175b_matches_table_d1() -> None:
    """GPT-3 Table D.1: 174,600M parameters."""
    assert count_params(get_model("gpt3-175b")).total == pytest.approx(174.6e9, rel=1e-3)


@pytest.mark.parametrize("name", sorted(model_presets()))
def test_every_preset_equals_its_real_module(name: str) -> None:
    """sum(p.numel()) of the Hugging Face module built from the preset equals the analytic count."""
    m = get_model(name)
    hf = to_hf_dict(m)
    module = build_hf_module(hf)
    assert sum(p.numel() for p in module.parameters()) == count_params(m).total
    # and the config.json reader reads that family back to the same counts
    assert count_params(model_from_hf_dict(dict(hf))) == count_params(m)


def test_formulas_are_array_safe() -> None:
    h = np.array([768, 1024, 4096])
    out = attention_params(d_model=h, n_heads=h // 64, n_kv_heads=h // 64, d_head=64, bias=1)
    assert list(out) == [
        attention_params(d_model=int(x), n_heads=int(x) // 64, n_kv_heads=int(x) // 64, d_head=64, bias=1)
        for x in h
    ]
    gated = ffn_params(d_model=h, d_ff=4 * h, gated=np.array([0, 1, 1]), bias=0)
    assert list(gated) == [2 * 768 * 3072, 3 * 1024 * 4096, 3 * 4096 * 16384]
