"""Memory per GPU held to ZeRO Fig. 1, Korthikanti et al. Table 2 and Eq. 5, and hand arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from estimator.activations import inflight_chunks, korthikanti_table2_bytes
from estimator.columns import Columns
from estimator.ledger.account import saved_bytes
from estimator.ledger.layers import layer_ops
from estimator.ledger.work import Work
from estimator.presets import get_model
from estimator.specs.scenario import Scenario
from estimator.training.memory import StageParams, memory_per_gpu, stage_param_split, zero_model_state_bytes
from estimator.training.step import stage_ledgers
from estimator.units import GB
from tests.conftest import make_scenario


@pytest.mark.parametrize(("stage", "expected_gb"), [(0, 120.0), (1, 31.4), (2, 16.6), (3, 1.9)])
def test_zero_paper_figure_1(stage: int, expected_gb: float) -> None:
    """Rajbhandari et al. 2020 Fig. 1: Ψ = 7.5B, N_d = 64, K = 12 -> 120 / 31.4 / 16.6 / 1.9 GB (printed
    rounded)."""
    w, g, o = zero_model_state_bytes(
        params=7.5e9, weight_bytes=2, grad_bytes=2, optimizer_bytes=12, zero_stage=stage, dp=64
    )
    assert (w + g + o) / GB == pytest.approx(expected_gb, abs=0.05)


def test_zero_is_array_safe() -> None:
    stages = np.array([0, 1, 2, 3])
    w, g, o = zero_model_state_bytes(
        params=7.5e9, weight_bytes=2, grad_bytes=2, optimizer_bytes=12, zero_stage=stages, dp=64
    )
    assert np.allclose((w + g + o) / GB, [120.0, 31.406, 16.641, 1.875], atol=1e-3)


KORTHIKANTI = [
    ("megatron-22b", 8),
    ("megatron-175b", 8),
    ("megatron-530b", 8),
    ("megatron-1t", 8),
    ("megatron-1.7b", 1),
]


@pytest.mark.parametrize(("name", "tp"), KORTHIKANTI)
@pytest.mark.parametrize("sp", [0, 1])
@pytest.mark.parametrize("selective", [0, 1])
def test_layer_activations_equal_korthikanti_table2(name: str, tp: int, sp: int, selective: int) -> None:
    """Per-layer bytes (16-bit, 1-byte dropout masks) = Korthikanti et al. 2022 Table 2 for TP, TP+SP, ±
    selective."""
    m = get_model(name)
    s, b = 2048, 1
    ops = layer_ops(m, Work(batch=b, q_len=s, kv_len=s, tp=tp, sp=sp, act_bytes=2, flash=False))
    got = saved_bytes(ops, "selective" if selective else "none")
    want = korthikanti_table2_bytes(s=s, b=b, h=m.d_model, a=m.n_heads, t=tp, sp=sp, selective=selective)
    assert got == pytest.approx(want, rel=1e-12)


def test_flash_attention_drops_the_score_matrix() -> None:
    """FlashAttention stores no s×s tensor (Dao et al. 2022): only a fp32 logsumexp per row remains."""
    m = get_model("megatron-22b")
    plain, flash = (
        saved_bytes(layer_ops(m, Work(batch=1, q_len=2048, kv_len=2048, tp=8, sp=1, flash=f)), "none")
        for f in (False, True)
    )
    diff = plain - flash
    assert diff == pytest.approx(5 * m.n_heads * 2048 * 2048 / 8 - 4 * m.n_heads * 2048 / 8)


@pytest.mark.parametrize(("p", "v", "m"), [(8, 3, 64), (35, 3, 280), (16, 1, 192), (4, 2, 8)])
def test_first_stage_inflight_layers_korthikanti_eq5(p: int, v: int, m: int) -> None:
    """The first stage stores L·(1 + (p−1)/(p·v)) layers' activations interleaved, L layers under 1F1B."""
    n_layers = p * v * 4
    schedule = "interleaved" if v > 1 else "1f1b"
    chunks = inflight_chunks(schedule=schedule, pp=p, micro_batches=m, virtual_stages=v, rank=0)
    layers_stored = chunks * n_layers / (p * v)
    expected = n_layers * (1 + (p - 1) / (p * v)) if v > 1 else n_layers
    assert layers_stored == pytest.approx(expected)
    assert inflight_chunks(schedule="gpipe", pp=p, micro_batches=m, virtual_stages=1, rank=0) == m


def stage_params(sc: Scenario, c: Columns, index: int) -> StageParams:
    return stage_param_split(sc, c, stage_ledgers(sc, c)[index])


def test_gpt3_default_memory_by_hand() -> None:
    """GPT-3 175B, tp 8 × pp 16 × dp 8, ZeRO-1, bf16 + fp32 Adam, full recompute, first stage:
    6 layers of (12h² + 13h) with 6h replicated across tp, V·h/8 embedding, s·h positions."""
    sc = make_scenario()
    h, s, v = 12288, 2048, 50257
    per_layer = (12 * h * h + 13 * h - 6 * h) / 8 + 6 * h
    params = 6 * per_layer + v * h / 8 + s * h
    assert stage_params(sc, Columns.from_scenario(sc), 0).total == pytest.approx(params)
    mem = memory_per_gpu(sc)
    assert mem.stage == 0  # the first stage
    assert mem.weights == pytest.approx(2 * params)
    assert mem.gradients == pytest.approx(2 * params)
    assert mem.optimizer == pytest.approx(12 * params / 8)  # ZeRO-1 over dp = 8
    # 16 micro-batches in flight (1F1B, p = 16) × 6 layers × the 16-bit layer input, plus one layer rebuilt
    inflight = 16 * 6 * 2 * s * h
    assert mem.activations - inflight == pytest.approx(sum(mem.activation_terms.values()))
    assert 1.36e9 < params < 1.47e9  # peers.md's own arithmetic: 1.36–1.44B + positions on stage 0


def test_memory_options_reduce_what_they_shard() -> None:
    base = memory_per_gpu(make_scenario(parallelism={"recompute": "none", "zero_stage": 0}))
    full = memory_per_gpu(make_scenario(parallelism={"recompute": "full", "zero_stage": 0}))
    zero3 = memory_per_gpu(make_scenario(parallelism={"recompute": "none", "zero_stage": 3}))
    assert full.activations < base.activations
    assert zero3.weights < base.weights and zero3.optimizer < base.optimizer
    assert base.fits  # 75 GiB: Korthikanti's 23·s·b·h per layer × 96 layer-micro-batches in flight
    doubled = memory_per_gpu(
        make_scenario(parallelism={"recompute": "none", "zero_stage": 0, "micro_batch": 2})
    )
    assert not doubled.fits


def test_moe_experts_shard_over_ep() -> None:
    def experts(ep: int) -> object:
        sc = make_scenario(
            model="mixtral-8x7b",
            gpus=64,
            parallelism={"tp": 1, "pp": 1, "ep": ep},
            training={"global_batch": 64, "seq_len": 4096},
        )
        return stage_params(sc, Columns.from_scenario(sc), 0)

    one, eight = experts(1), experts(8)
    assert eight.experts == pytest.approx(one.experts / 8)
    assert eight.dense == one.dense


@pytest.mark.parametrize(
    ("optimizer", "precision", "bytes_per_param"),
    [
        ("adamw", "bf16-mixed", 2 + 2 + 12),
        ("adamw", "fp32", 4 + 4 + 8),
        ("sgd", "bf16-mixed", 2 + 2 + 4 + 4),
        ("adafactor", "bf16-mixed", 2 + 2 + 4),
        ("adam-8bit", "bf16-mixed", 2 + 2 + 4 + 2 * (1 + 4 / 2048)),
        ("adamw", "bf16", 2 + 2 + 4),
    ],
)
def test_optimizer_and_precision_bytes(optimizer: str, precision: str, bytes_per_param: float) -> None:
    """Model-state bytes per parameter with no sharding (tp = pp = dp = 1, ZeRO 0)."""
    sc = make_scenario(
        model="gpt2",
        gpus=1,
        parallelism={"tp": 1, "pp": 1, "zero_stage": 0},
        precision=precision,
        training={"global_batch": 8, "seq_len": 1024, "optimizer": optimizer},
    )
    mem = memory_per_gpu(sc)
    assert (mem.weights + mem.gradients + mem.optimizer) / mem.params_on_gpu == pytest.approx(bytes_per_param)
