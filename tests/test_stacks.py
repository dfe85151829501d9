"""Software stacks and the mechanisms their switches drive, each held to an outside number or definition."""

from __future__ import annotations

import pytest

from estimator.columns import Columns
from estimator.ledger.account import Links, layer_time, op_time_s
from estimator.roofline import efficiency_defaults, resolve_efficiencies
from estimator.training.step import stage_ledgers, step_time
from tests.conftest import make_scenario

LLAMA = {
    "model": "llama3.1-8b",
    "hardware": "h100-sxm-80gb",
    "gpus": 8,
    "parallelism": {"tp": 1, "pp": 1, "zero_stage": 3, "micro_batch": 1, "recompute": "none"},
    "training": {"global_batch": 8, "seq_len": 8192, "flash_attention": True},
}


def test_a_stack_sets_its_switches_and_explicit_fields_win() -> None:
    titan = make_scenario(**LLAMA, stack="torchtitan")
    assert not titan.assumptions.fused_elementwise and titan.assumptions.attention_kernel == "flash2"
    assert titan.assumptions.fp32_grad_reduce and not titan.assumptions.tp_comm_overlap
    compiled = make_scenario(**LLAMA, stack="torchtitan", assumptions={"fused_elementwise": True})
    assert compiled.assumptions.fused_elementwise and compiled.assumptions.attention_kernel == "flash2"
    from estimator.scenario_io import scenario_from_dict

    plain = {**LLAMA, "training": {"tokens": 1e9, "global_batch": 8, "seq_len": 8192}}
    old = scenario_from_dict({**plain, "stack": "megatron-lm-2021"})
    assert not old.training.flash_attention  # Megatron-LM 2021 predates FlashAttention
    assert scenario_from_dict(plain).training.flash_attention  # Megatron-Core, the default stack
    kept = scenario_from_dict(
        {**plain, "stack": "megatron-lm-2021", "training": {**plain["training"], "flash_attention": True}}
    )
    assert kept.training.flash_attention
    with pytest.raises(Exception, match="stack"):
        make_scenario(**LLAMA, stack="jax")


def test_eager_traffic_table_is_what_eager_pytorch_moves() -> None:
    """efficiency_defaults.yaml keeps the ratios estimator/calibration/eager.py measures by counting every
    ATen op's inputs and outputs (torchtitan's RMSNorm: x.float(), pow, mean, rsqrt, mul, cast, weight)."""
    from estimator.calibration.eager import eager_traffic

    measured = eager_traffic()
    stored = efficiency_defaults()["eager_traffic"]
    for kind, value in measured.items():
        assert stored[kind] == pytest.approx(value, rel=1e-3), kind
    assert measured["rmsnorm"] > 8  # nine bf16-equivalent passes instead of one read and one write


def test_eager_stacks_move_the_measured_multiple_of_norm_bytes() -> None:
    fused = make_scenario(**LLAMA, stack="torchtitan", assumptions={"fused_elementwise": True})
    eager = make_scenario(**LLAMA, stack="torchtitan")
    factor = efficiency_defaults()["eager_traffic"]["rmsnorm"]
    norm = [
        next(op for op in stage_ledgers(s, Columns.from_scenario(s))[0].layers[0][1] if op.name == "norm")
        for s in (fused, eager)
    ]
    assert norm[1].bytes == pytest.approx(norm[0].bytes * factor)
    assert step_time(eager).total > step_time(fused).total


def test_fp8_recipes_keep_attention_in_16_bits() -> None:
    """Transformer Engine's and torchao's fp8 recipes run the weight GEMMs in fp8 and the attention core in
    bf16: under fp8-mixed the attention kernel takes the time it takes under bf16; a weight GEMM is faster
    but pays its cast kernel."""
    bf16 = make_scenario(**LLAMA)
    fp8 = make_scenario(**LLAMA, precision="fp8-mixed")
    ops = {}
    for name, sc in (("bf16", bf16), ("fp8", fp8)):
        c = Columns.from_scenario(sc)
        eff = resolve_efficiencies(sc.hardware, sc.precision_policy.compute_dtype)
        links = Links.of(eff, tp=1, cp=1, ep=1, dp=8, gpus_per_node=8)
        layer = stage_ledgers(sc, c)[0].layers[0][1]
        ops[name] = {op.name: (op, op_time_s(op, eff, links)[0]) for op in layer}
    assert ops["fp8"]["attention"][1] == pytest.approx(ops["bf16"]["attention"][1], rel=1e-12)
    fc1, t8 = ops["fp8"]["fc1"]
    assert fc1.cast_bytes > 0 and t8 < ops["bf16"]["fc1"][1]


def test_nccl_rings_use_every_nic_of_the_node() -> None:
    """A group crossing nodes with k ranks per node runs k rings, one per NIC (NCCL 2.4+, Jeaugey 2019):
    k × one GPU's network bandwidth, at most NVLink's; one rank per node gets one NIC."""
    sc = make_scenario(**LLAMA)
    eff = resolve_efficiencies(sc.hardware, "bf16")
    nic, nvlink = eff.inter_bandwidth_bytes_per_s, eff.intra_bandwidth_bytes_per_s
    for tp, k in ((1, 8), (2, 4), (4, 2), (8, 1)):
        links = Links.of(eff, tp=tp, cp=1, ep=1, dp=64, gpus_per_node=8)
        assert links.dp[1] == pytest.approx(min(k * nic, nvlink)), tp
    assert Links.of(eff, tp=1, cp=1, ep=1, dp=8, gpus_per_node=8).dp[1] == nvlink


def test_tp_overlap_hides_all_but_the_first_chunk() -> None:
    """Userbuffers / async TP split each collective into tp chunks pipelined with the GEMM: with compute to
    cover it, only the first chunk (1/tp of the bytes) is exposed."""
    base = {**LLAMA, "gpus": 8, "parallelism": {**LLAMA["parallelism"], "tp": 8, "zero_stage": 1}}
    plain = step_time(make_scenario(**base, assumptions={"tp_comm_overlap": False}))
    overlap = step_time(make_scenario(**base, assumptions={"tp_comm_overlap": True}))
    assert overlap.tp_comm == pytest.approx(plain.tp_comm / 8, rel=1e-9)


def test_pipeline_sends_overlap_except_in_warm_up_and_drain() -> None:
    base = {
        **LLAMA,
        "gpus": 32,
        "parallelism": {"tp": 1, "pp": 4, "micro_batch": 1, "zero_stage": 1},
        "training": {**LLAMA["training"], "global_batch": 64},
    }
    plain = step_time(make_scenario(**base, assumptions={"pp_comm_overlap": False}))
    overlap = step_time(make_scenario(**base, assumptions={"pp_comm_overlap": True}))
    m = 64 // 8  # micro-batches per step at dp 8
    assert overlap.pp_comm == pytest.approx(plain.pp_comm * (4 - 1) / m, rel=1e-9)


def test_op_level_selective_recompute_repeats_every_other_matmul() -> None:
    """torchtitan's op-level policy saves attention and every second mm: it repeats half the weight GEMMs
    (and the elementwise ops) of the forward."""
    from estimator.ledger.account import recompute_flops

    sc = make_scenario(**{**LLAMA, "parallelism": {**LLAMA["parallelism"], "recompute": "selective-op"}})
    layer = stage_ledgers(sc, Columns.from_scenario(sc))[0].layers[0][1]
    gemm = sum(op.forward_flops for op in layer if op.kind == "gemm")
    assert recompute_flops(layer, "selective-op") == pytest.approx(gemm / 2)
    eff = resolve_efficiencies(sc.hardware, "bf16")
    lt = layer_time(layer, eff, Links.of(eff, tp=1, cp=1, ep=1, dp=8, gpus_per_node=8))
    assert lt.op_selective_fwd == pytest.approx(lt.memory_fwd + lt.gemm_fwd / 2)
    full = make_scenario(**{**LLAMA, "parallelism": {**LLAMA["parallelism"], "recompute": "full"}})
    assert 0 < step_time(sc).recompute < step_time(full).recompute


def test_block_recomputation_repeats_its_share_of_the_layers() -> None:
    """Megatron --recompute-method block --recompute-num-layers N: N of each chunk's layers in full."""
    full = make_scenario(**{**LLAMA, "parallelism": {**LLAMA["parallelism"], "recompute": "full"}})
    part = make_scenario(
        **{**LLAMA, "parallelism": {**LLAMA["parallelism"], "recompute": "full", "recompute_layers": 8}}
    )
    assert step_time(part).recompute == pytest.approx(step_time(full).recompute * 8 / 32, rel=1e-9)


def test_interleaving_widens_the_gradient_reduction_window() -> None:
    """With v model chunks per stage the first chunks' gradients are final (v − 1)·pp chunk-steps before the
    step ends, so more of the data-parallel reduction hides (and never more than without interleaving)."""
    base = {
        "model": "gpt3-175b",
        "hardware": "h100-sxm-80gb",
        "gpus": 1024,
        "parallelism": {"tp": 8, "pp": 8, "micro_batch": 1, "zero_stage": 1},
        "training": {"global_batch": 256, "seq_len": 2048},
    }
    one = step_time(make_scenario(**base))
    four = step_time(make_scenario(**{**base, "parallelism": {**base["parallelism"], "virtual_stages": 4}}))
    assert four.dp_comm < one.dp_comm
