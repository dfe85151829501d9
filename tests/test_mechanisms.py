"""Mechanisms of the time and memory model, each held to a number from outside the code: a paper's formula or
count, nccl-tests' bus-bandwidth definitions, DeepSpeed's memory estimator, fvcore's counts, or a simulation
of the schedule or the routing the formula summarises. These are the tests that kill the mutations of
scripts/mutate.py."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from estimator.comms import collective_time_s, intra_node
from estimator.flops import norm_flops
from estimator.kvcache import experts_touched
from estimator.ledger.account import Links, layer_time
from estimator.ledger.layers import layer_ops
from estimator.ledger.work import Work
from estimator.presets import get_model
from estimator.roofline import resolve_efficiencies
from estimator.schedule import pipeline_time_s
from estimator.training.memory import memory_per_gpu
from estimator.training.step import step_time
from tests.conftest import make_scenario


def _links(eff, **kw: float) -> Links:  # type: ignore[no-untyped-def]
    layout = {"tp": 1, "cp": 1, "ep": 1, "dp": 1, "gpus_per_node": 8, **kw}
    return Links.of(eff, **layout)


def test_moe_layer_has_two_all_to_alls_each_way() -> None:
    """GShard (Lepikhin et al. 2020, Sec. 3.2): an MoE layer dispatches tokens to their experts and combines
    the results, two all-to-alls in forward and two in backward; each moves S·(n−1)/n bytes per rank at the
    bus bandwidth (nccl-tests PERFORMANCE.md, alltoall: busbw = algbw·(n−1)/n)."""
    model = get_model("mixtral-8x7b")
    eff = resolve_efficiencies(make_scenario(hardware="h100-sxm-80gb").hardware, "bf16")
    w = Work(batch=1, q_len=4096, kv_len=4096, ep=8, act_bytes=2, flash=True)
    links = _links(eff, ep=8)
    lt = layer_time(layer_ops(model, w), eff, links)
    payload = 2 * 4096 * model.top_k * model.d_model
    alpha, beta = links.ep
    one = 7 * alpha + payload * 7 / 8 / beta
    assert lt.ep_fwd == pytest.approx(2 * one, rel=1e-12)
    assert lt.ep_bwd == pytest.approx(2 * one, rel=1e-12)


def test_zero12_moves_the_same_volume_as_data_parallelism() -> None:
    """ZeRO (Rajbhandari et al. 2020, Sec. 7.2.1): P_os+g reduce-scatters the gradients and all-gathers the
    updated parameters, 2Ψ in all, the same communication volume as plain data parallelism's all-reduce."""
    base = {
        "model": "gpt3-xl",
        "gpus": 64,
        "training": {"global_batch": 512},
        "parallelism": {"tp": 1, "pp": 1, "recompute": "none", "micro_batch": 8},
        "assumptions": {"overlap_grad_reduce": False, "overlap_param_gather": False},
    }
    dp = step_time(make_scenario(**{**base, "parallelism": {**base["parallelism"], "zero_stage": 0}})).dp_comm
    for stage in (1, 2):
        zero = step_time(
            make_scenario(**{**base, "parallelism": {**base["parallelism"], "zero_stage": stage}})
        )
        assert zero.dp_comm == pytest.approx(dp, rel=1e-6), stage


def test_fp32_gradient_reduction_moves_twice_the_bytes() -> None:
    """Megatron-LM --accumulate-allreduce-grads-in-fp32: gradients are all-reduced as 4-byte floats instead
    of 2-byte ones; on a bandwidth-bound all-reduce the time doubles (less the latency term)."""
    base = {
        "model": "gpt3-xl",
        "gpus": 64,
        "training": {"global_batch": 512},
        "parallelism": {"tp": 1, "pp": 1, "recompute": "none", "micro_batch": 8, "zero_stage": 0},
    }
    half = step_time(make_scenario(**base, assumptions={"overlap_grad_reduce": False})).dp_comm
    full = step_time(
        make_scenario(**base, assumptions={"overlap_grad_reduce": False, "fp32_grad_reduce": True})
    ).dp_comm
    assert full / half == pytest.approx(2.0, rel=0.03)  # the α·steps latency term does not double


def test_gradient_reduction_hides_behind_the_last_backward() -> None:
    """Overlapped gradient reduction (PyTorch DDP buckets, Megatron --overlap-grad-reduce) runs during the
    last micro-batch's backward, which is two thirds of its compute (backward = 2 × forward, Narayanan et
    al. 2021 Sec. 3.5): what the all-reduce needs beyond that is exposed."""
    base = {
        "model": "gpt3-xl",
        "gpus": 256,
        "training": {"global_batch": 32},
        "parallelism": {"tp": 8, "pp": 1, "recompute": "none", "micro_batch": 1, "zero_stage": 0},
    }
    serial = step_time(make_scenario(**base, assumptions={"overlap_grad_reduce": False}))
    overlapped = step_time(make_scenario(**base))
    per_micro_batch = overlapped.compute  # one micro-batch per step here
    assert overlapped.dp_comm == pytest.approx(max(0.0, serial.dp_comm - per_micro_batch * 2 / 3), rel=1e-9)
    assert 0 < overlapped.dp_comm < serial.dp_comm


def test_last_stage_keeps_fp32_logits() -> None:
    """Korthikanti et al. 2022 Sec. 4.3: the output layer's fp32 logits for the loss add 4·s·b·V/t bytes on
    the last stage (and the layer's input, 2·s·b·h·(1/t with SP))."""
    sc = make_scenario(
        model="gpt3-175b",
        parallelism={"tp": 8, "pp": 16, "sequence_parallel": True, "recompute": "full", "zero_stage": 1},
    )
    from estimator.columns import Columns
    from estimator.training.memory import _stage_activations
    from estimator.training.step import stage_ledgers

    c = Columns.from_scenario(sc)
    ledgers = stage_ledgers(sc, c)
    first, last = ledgers[0], ledgers[-1]
    s, b, v, h, t = 2048, 1, 50257, 12288, 8
    extra = _stage_activations(sc, c, last, 15, b * s) - _stage_activations(sc, c, first, 15, b * s)
    assert extra == pytest.approx(4 * s * b * v / t + 2 * s * b * h / t, rel=1e-9)


def test_zero3_buffers_the_largest_unit_like_deepspeed() -> None:
    """DeepSpeed's ZeRO-3 estimator (estimate_zero3_model_states_mem_needs): 4 bytes × the largest gathered
    unit's parameters on top of the sharded states, a 16-bit copy being used and the next one prefetched;
    FSDP and ZeRO-3 gather one transformer block at a time."""
    base = {"model": "llama2-13b", "gpus": 64, "training": {"global_batch": 512, "seq_len": 4096}}
    layout = {"tp": 1, "pp": 1, "recompute": "full", "micro_batch": 1}
    z2 = memory_per_gpu(make_scenario(**base, parallelism={**layout, "zero_stage": 2}))
    z3 = memory_per_gpu(make_scenario(**base, parallelism={**layout, "zero_stage": 3}))
    model = get_model("llama2-13b")
    block = 4 * model.d_model**2 + 3 * model.d_model * model.d_ff + 2 * model.d_model  # one Llama block
    assert z3.other - z2.other == pytest.approx(4 * block, rel=1e-9)


def test_interleaving_multiplies_pipeline_sends_by_v() -> None:
    """Narayanan et al. 2021 Sec. 2.2.2: with v model chunks per GPU, the amount of point-to-point
    communication increases by a factor of v."""
    one = step_time(make_scenario(parallelism={"virtual_stages": 1})).pp_comm
    two = step_time(make_scenario(parallelism={"virtual_stages": 2})).pp_comm
    assert two / one == pytest.approx(2.0, rel=1e-9)


def _simulate_1f1b(fwd: list[float], bwd: list[float], micro_batches: int) -> float:
    """Makespan of PipeDream-Flush (1F1B) by event simulation: each stage runs its forwards and backwards in
    the 1F1B order, each op waiting for its input from the neighbouring stage."""
    p = len(fwd)
    done_f = [[0.0] * micro_batches for _ in range(p)]
    done_b = [[0.0] * micro_batches for _ in range(p)]
    order = []
    for s in range(p):
        warm = min(p - s, micro_batches)
        seq = [("f", i) for i in range(warm)]
        nf, nb = warm, 0
        while nb < micro_batches:
            seq.append(("b", nb))
            nb += 1
            if nf < micro_batches:
                seq.append(("f", nf))
                nf += 1
        order.append(seq)
    clock, pos = [0.0] * p, [0] * p
    progress = True
    while progress:
        progress = False
        for s in range(p):
            while pos[s] < len(order[s]):
                kind, i = order[s][pos[s]]
                if kind == "f":
                    ready = done_f[s - 1][i] if s > 0 else 0.0
                    if s > 0 and ready == 0.0:
                        break
                    done_f[s][i] = max(clock[s], ready) + fwd[s]
                    clock[s] = done_f[s][i]
                else:
                    ready = done_b[s + 1][i] if s < p - 1 else done_f[s][i]
                    if ready == 0.0:
                        break
                    done_b[s][i] = max(clock[s], ready) + bwd[s]
                    clock[s] = done_b[s][i]
                pos[s] += 1
                progress = True
    return max(clock)


def test_pipeline_formula_against_a_simulated_schedule() -> None:
    """m·t_max + (p − 1)·t_mean (the fill and drain run through every stage once, at their own speeds) is
    within 1 % of a simulated 1F1B schedule whose last stage is 20 % slower (its output layer and loss);
    charging the fill at the slowest stage's pace would be several times further off."""
    p, m = 8, 32
    fwd = [1.0] * (p - 1) + [1.2]
    bwd = [2.0 * f for f in fwd]
    simulated = _simulate_1f1b(fwd, bwd, m)
    stage = [f + b for f, b in zip(fwd, bwd, strict=True)]
    formula = pipeline_time_s(
        stage_max_s=max(stage), stage_mean_s=sum(stage) / p, micro_batches=m, pp=p, virtual_stages=1
    )
    assert formula == pytest.approx(simulated, rel=0.01)
    equal = _simulate_1f1b([1.0] * p, [2.0] * p, m)
    assert equal == pytest.approx((m + p - 1) * 3.0, rel=1e-12)  # GPipe's (m + p − 1) stage-times


def test_ring_attention_exchanges_cp_minus_one_blocks() -> None:
    """Ring attention (Liu et al. 2023, Sec. 3): each of c ranks passes its K/V block on c − 1 times."""
    model = get_model("llama3-8b")
    eff = resolve_efficiencies(make_scenario(hardware="h100-sxm-80gb").hardware, "bf16")
    eff = replace(
        eff,
        peak_flops_per_s=1e30,
        memory_bandwidth_bytes_per_s=1e30,
        attention_half_flops=0.0,
        gemm_half_flops=0.0,
    )  # no kernel time to hide behind
    for cp in (2, 4):
        w = Work(batch=1, q_len=32768 / cp, kv_len=32768, cp=cp, act_bytes=2, flash=True)
        links = _links(eff, cp=cp)
        lt = layer_time(layer_ops(model, w), eff, links)
        alpha, beta = links.cp
        block = 2 * 2 * (32768 / cp) * model.n_kv_heads * model.d_head
        assert lt.cp_fwd == pytest.approx((cp - 1) * (alpha + block / beta), rel=1e-6), cp


def test_norm_flops_equal_fvcore() -> None:
    """fvcore's norm_flop_counter: an affine LayerNorm is 5 FLOPs per element (mean, variance, normalise,
    scale, shift)."""
    import torch
    from fvcore.nn import FlopCountAnalysis

    x = torch.randn(2, 8, 64)
    counted = FlopCountAnalysis(torch.nn.LayerNorm(64), (x,))
    counted.unsupported_ops_warnings(False)
    assert norm_flops(tokens=16, d_model=64, rms=False) == counted.total()


def test_experts_touched_equals_simulated_routing() -> None:
    """Tokens routed uniformly to top-k of E experts (without replacement per token): the expected number of
    distinct experts touched, by Monte-Carlo, equals E·(1 − (1 − k/E)^n)."""
    rng = random.Random(0)
    for experts, k, tokens in ((8, 2, 1), (8, 2, 4), (64, 6, 16), (256, 8, 32)):
        trials = 4000
        seen = sum(
            len({e for _ in range(tokens) for e in rng.sample(range(experts), k)}) for _ in range(trials)
        )
        assert experts_touched(n_experts=experts, top_k=k, tokens=tokens) == pytest.approx(
            seen / trials, rel=0.02
        )


def test_links_follow_the_rank_layout() -> None:
    """Megatron's rank order (tp fastest, then cp, dp, pp): a tp group of 8 stays on one 8-GPU node, a data-
    parallel group spaced tp apart crosses nodes."""
    assert intra_node(stride=1, size=8, gpus_per_node=8)
    assert not intra_node(stride=8, size=2, gpus_per_node=8)
    assert (
        collective_time_s(
            collective="all_reduce", n=1, payload_bytes=1e9, alpha_s=1e-6, bandwidth_bytes_per_s=1e11
        )
        == 0.0
    )
