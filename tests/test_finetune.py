"""Fine-tuning: adapter counts as PEFT prints them, QLoRA's memory claim, FLOPs and time of a frozen base."""

from __future__ import annotations

import pytest

from estimator.finetune import NF4_BYTES_PER_PARAM, lora_trainable_params
from estimator.ledger.account import forward_breakdown
from estimator.planner import plan
from estimator.presets import get_model
from estimator.specs.plan import PlanSpec
from estimator.specs.workload import FinetuneSpec
from estimator.training import estimate_training
from estimator.training.evaluate import sample_flops, sample_ledger
from estimator.training.memory import memory_per_gpu
from tests.conftest import make_scenario


@pytest.mark.parametrize(
    ("targets", "rank", "expected"),
    [
        ("qv", 8, 4_194_304),  # PEFT's "trainable params" for LLaMA-7B, q_proj + v_proj, r = 8
        ("all-linear", 16, 39_976_960),  # PEFT on Llama-2-7B, all linear layers, r = 16
    ],
)
def test_lora_params_equal_peft(targets: str, rank: int, expected: int) -> None:
    ft = FinetuneSpec(method="lora", rank=rank, targets=targets, dataset_tokens=1e6)  # type: ignore[arg-type]
    assert lora_trainable_params(get_model("llama2-7b"), ft) == expected


def _ft(method: str, **kw: object) -> object:
    base = {
        "model": "llama2-7b",
        "hardware": "a10g",
        "gpus": 1,
        "precision": "bf16-mixed",
        "parallelism": {"tp": 1, "pp": 1, "zero_stage": 0, "micro_batch": 4, "recompute": "full"},
        "training": {"global_batch": 16, "seq_len": 2048, "flash_attention": True},
        "finetune": {"method": method, "rank": 16, "dataset_tokens": 1.0e8, "epochs": 3},
    }
    return make_scenario(**{**base, **kw})


def test_memory_by_method_on_a_24gb_gpu() -> None:
    """Full fine-tuning of a 7B model needs ~16 bytes/param (does not fit 24 GB); LoRA keeps the 16-bit base
    frozen (fits); QLoRA stores it in NF4 at 0.516 bytes/param (Dettmers et al. 2023 Sec. 3)."""
    full, lora, qlora = (memory_per_gpu(_ft(m)) for m in ("full", "lora", "qlora"))  # type: ignore[arg-type]
    n = 6_738_415_616
    assert not full.fits and lora.fits and qlora.fits
    assert lora.gradients < 0.01 * full.gradients and lora.optimizer < 0.01 * full.optimizer
    assert qlora.weights - lora.weights == pytest.approx(n * (NF4_BYTES_PER_PARAM - 2), rel=1e-9)


def test_qlora_65b_class_model_fits_one_48gb_gpu() -> None:
    """QLoRA's headline: a 65B-parameter model fine-tunes on a single 48 GB GPU (with checkpointing); here
    Llama-2-70B with rank-16 adapters on every linear layer, fp32 Adam states for the adapters."""
    sc = make_scenario(
        model="llama2-70b",
        hardware="l40s",
        gpus=1,
        precision="bf16-mixed",
        parallelism={"tp": 1, "pp": 1, "zero_stage": 0, "micro_batch": 1, "recompute": "full"},
        training={"global_batch": 16, "seq_len": 512, "flash_attention": True},
        finetune={"method": "qlora", "rank": 16, "dataset_tokens": 1e7},
    )
    assert memory_per_gpu(sc).fits


def test_frozen_base_flops_and_time() -> None:
    """A frozen base computes only input gradients (1× forward) for its weight GEMMs; attention (2×) and the
    adapters (2×) still take their full backward (Hu et al. 2021)."""
    sc_full, sc_lora = _ft("full"), _ft("lora")
    f = forward_breakdown(sample_ledger(sc_lora, executed=False))  # type: ignore[arg-type]
    attention, adapters = f["attn_scores"] + f["attn_values"], f["adapters"]
    weights = f["matmul"] - attention - adapters
    frozen = sample_flops(sc_lora, "none", executed=False)  # type: ignore[arg-type]
    assert frozen.model == pytest.approx(2 * weights + 3 * attention + 3 * adapters, rel=1e-12)
    full = sample_flops(sc_full, "none", executed=False)  # type: ignore[arg-type]
    assert full.model == pytest.approx(3 * (weights + attention), rel=1e-12)
    e_full, e_lora = estimate_training(sc_full), estimate_training(sc_lora)  # type: ignore[arg-type]
    assert e_lora.step_time_s < e_full.step_time_s
    assert e_lora.steps == e_full.steps == 9156  # 3 epochs × 1e8 tokens / (16 × 2048)


def test_planner_carries_the_finetune_block() -> None:
    sc = _ft("qlora")
    result = plan(sc, PlanSpec(hardware=("a10g", "l4"), max_gpus=8, micro_batches=(1, 2, 4)), progress=False)  # type: ignore[arg-type]
    assert not result.table.empty and (result.table["memory_per_gpu_bytes"] < 24 * 2**30).all()
