"""A training step, mechanistically: per-layer roofline and communication (layer_time), stages, the
pipeline schedule, data-parallel gradient synchronisation, ZeRO traffic and the optimizer step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from estimator.comms import collective_time_s, intra_node
from estimator.layer_time import Layout, layer_time
from estimator.memory import stage_params
from estimator.roofline import Efficiencies, resolve_efficiencies
from estimator.schedule import pipeline_p2p_count, pipeline_time_s
from estimator.specs.precision import OPTIMIZERS, optimizer_bytes_per_param
from estimator.specs.scenario import Scenario
from estimator.training_shape import sequence_shape

Num = Any


@dataclass(frozen=True)
class StepTime:
    """Seconds of one optimizer step by cause (on the critical path), and the efficiencies used."""

    compute: float
    recompute: float
    tp_comm: float
    cp_comm: float
    ep_comm: float
    pp_comm: float
    bubble: float
    dp_comm: float
    optimizer: float
    efficiencies: Efficiencies

    @property
    def total(self) -> float:
        return (self.compute + self.recompute + self.tp_comm + self.cp_comm + self.ep_comm + self.pp_comm
                + self.bubble + self.dp_comm + self.optimizer)

    def as_dict(self) -> dict[str, float]:
        return {"compute": self.compute, "recompute": self.recompute, "tp_comm": self.tp_comm, "cp_comm": self.cp_comm,
                "ep_comm": self.ep_comm, "pp_comm": self.pp_comm, "bubble": self.bubble, "dp_comm": self.dp_comm,
                "optimizer": self.optimizer}


def _stage(sc: Scenario, eff: Efficiencies, lay: Layout, rank: int) -> dict[str, float]:
    """Per micro-batch seconds of one pipeline stage, by cause."""
    m, p, t = sc.model, sc.parallelism, sc.training
    shape = sequence_shape(sc)
    act = sc.precision_policy.activation_bytes
    flash = t.flash_attention
    frac = 0.5 if (flash and m.architecture == "decoder") else 1.0  # a fused causal kernel skips masked blocks
    sp_ = stage_params(sc, rank)
    n_dec = sp_.decoder_layers
    n_enc = sp_.layers - n_dec
    enc = layer_time(m, lay, eff, seq_len=shape.encoder_tokens, causal_fraction=frac if m.architecture == "decoder" else 1.0,
                     flash=flash, act_bytes=act)
    parts = {k: 0.0 for k in ("compute", "recompute", "tp_comm", "cp_comm", "ep_comm")}
    layers = [(n_enc, enc)]
    if n_dec:
        dec = layer_time(m, lay, eff, seq_len=shape.decoder_tokens, causal_fraction=frac, flash=flash, act_bytes=act,
                         cross_kv_len=shape.encoder_tokens)
        layers.append((n_dec, dec))
    for count, lt in layers:
        parts["compute"] += count * (lt.gemm_fwd + lt.attention_fwd + lt.elementwise_fwd
                                     + lt.gemm_bwd + lt.attention_bwd + lt.elementwise_bwd)
        parts["tp_comm"] += count * (lt.tp_comm_fwd + lt.tp_comm_bwd)
        parts["cp_comm"] += count * (lt.cp_comm_fwd + lt.cp_comm_bwd)
        parts["ep_comm"] += count * (lt.ep_comm_fwd + lt.ep_comm_bwd)
        if p.recompute == "full":
            parts["recompute"] += count * lt.forward
        elif p.recompute == "selective" and not flash:
            parts["recompute"] += count * lt.attention_fwd
    if rank == p.pp - 1 and m.output_head != "none":
        parts["compute"] += _logits_s(sc, eff, lay, shape.logit_positions)
    return parts


def _logits_s(sc: Scenario, eff: Efficiencies, lay: Layout, positions: float) -> float:
    """Output layer forward and backward (3 GEMMs of h × V/t) and the fp32 cross-entropy over the logits."""
    from estimator.flops import linear_flops

    m = sc.model
    act = sc.precision_policy.activation_bytes
    tokens = lay.micro_batch * positions / lay.cp
    flops = linear_flops(tokens=tokens, d_in=m.d_model, d_out=m.vocab_size / lay.tp)
    gemm = eff.gemm_time_s(flops, act * (tokens * m.d_model + m.d_model * m.vocab_size / lay.tp + tokens * m.vocab_size / lay.tp))
    xent = eff.memory_time_s(3 * (act + 4) * tokens * m.vocab_size / lay.tp)
    return float(3 * gemm + xent)


def _pp_comm_s(sc: Scenario, eff: Efficiencies) -> float:
    """Point-to-point sends per micro-batch on one GPU: b·s·h activations (÷ tp with Megatron's
    scatter/gather optimisation, Narayanan et al. 2021 Sec. 4.1) across the stage boundary."""
    p = sc.parallelism
    if p.pp == 1:
        return 0.0
    shape = sequence_shape(sc)
    act = sc.precision_policy.activation_bytes
    stride = p.tp * p.cp * sc.dp
    inside = intra_node(stride=stride, size=2, gpus_per_node=sc.hardware.gpus_per_node)
    alpha, beta = (eff.intra_alpha_s, eff.intra_bandwidth_bytes_per_s) if inside else (eff.inter_alpha_s, eff.inter_bandwidth_bytes_per_s)
    tokens = p.micro_batch * max(shape.encoder_tokens, shape.decoder_tokens) / p.cp
    payload = act * tokens * sc.model.d_model / p.tp
    one = collective_time_s(collective="send_recv", n=2, payload_bytes=payload, alpha_s=alpha, bandwidth_bytes_per_s=beta)
    return float(pipeline_p2p_count(virtual_stages=p.virtual_stages) * one)


def _dp_and_optimizer_s(sc: Scenario, eff: Efficiencies, last_backward_s: float) -> tuple[float, float]:
    """(exposed gradient/parameter sync, optimizer step) seconds.

    ZeRO-0: all-reduce of the gradients; ZeRO-1/2: reduce-scatter of gradients and all-gather of the
    updated parameters (the same volume); ZeRO-3/FSDP adds an all-gather of the weights in forward and
    in backward for every micro-batch (1.5× the volume, Rajbhandari et al. 2020 Sec. 7). The gradient
    reduction hides behind the last micro-batch's backward when `overlap_grad_reduce` is on; parameter
    all-gathers of ZeRO-3 are prefetched behind compute. The optimizer step is memory-bound: it reads
    gradients, reads and writes master weights and states, and writes the 16-bit weights.
    """
    p, prec, a = sc.parallelism, sc.precision_policy, sc.assumptions
    params = max(stage_params(sc, r).total for r in {0, p.pp - 1})
    n = sc.dp * p.cp
    inside = intra_node(stride=p.tp, size=n, gpus_per_node=sc.hardware.gpus_per_node)
    alpha, beta = (eff.intra_alpha_s, eff.intra_bandwidth_bytes_per_s) if inside else (eff.inter_alpha_s, eff.inter_bandwidth_bytes_per_s)
    grads = params * (4 if a.fp32_grad_reduce else prec.grad_bytes)
    zero = p.effective_zero_stage
    if zero == 0:
        sync = collective_time_s(collective="all_reduce", n=n, payload_bytes=grads, alpha_s=alpha, bandwidth_bytes_per_s=beta)
        gather = 0.0
    else:
        sync = collective_time_s(collective="reduce_scatter", n=n, payload_bytes=grads, alpha_s=alpha, bandwidth_bytes_per_s=beta)
        gather = collective_time_s(collective="all_gather", n=n, payload_bytes=params * prec.weight_bytes, alpha_s=alpha,
                                   bandwidth_bytes_per_s=beta)
    exposed = float(np.maximum(0.0, sync - (last_backward_s if a.overlap_grad_reduce else 0.0)))
    if zero < 3:
        exposed += float(gather)
    shard = params / (n if zero >= 1 else 1)
    opt_bytes = shard * (prec.grad_bytes + 2 * optimizer_bytes_per_param(prec, OPTIMIZERS[sc.training.optimizer])
                         + prec.weight_bytes)
    return exposed, float(eff.memory_time_s(opt_bytes))


def step_time(sc: Scenario, efficiencies: Efficiencies | None = None) -> StepTime:
    """The step time of `sc` with its breakdown (efficiencies resolved from the profile unless given)."""
    p = sc.parallelism
    eff = efficiencies or resolve_efficiencies(sc.hardware, sc.precision_policy.compute_dtype)
    lay = Layout(tp=p.tp, cp=p.cp, ep=p.ep, dp=sc.dp, micro_batch=p.micro_batch, sp=int(p.sequence_parallel),
                 gpus_per_node=sc.hardware.gpus_per_node)
    stages = [_stage(sc, eff, lay, r) for r in sorted({0, p.pp - 1})]
    pp_one = _pp_comm_s(sc, eff)
    totals = [sum(s.values()) + pp_one for s in stages]
    worst = stages[int(np.argmax(totals))]
    t_max, t_mean = max(totals), sum(totals) / len(totals)
    m = sc.micro_batches
    pipe = float(pipeline_time_s(stage_max_s=t_max, stage_mean_s=t_mean, micro_batches=m, pp=p.pp,
                                 virtual_stages=p.virtual_stages))
    zero3_gather = 0.0
    if p.effective_zero_stage == 3:
        zero3_gather = _zero3_gathers_s(sc, eff, worst)
    backward_share = worst["compute"] * 2 / 3 / max(m, 1)
    dp_exposed, optimizer = _dp_and_optimizer_s(sc, eff, backward_share)
    return StepTime(
        compute=m * worst["compute"], recompute=m * worst["recompute"], tp_comm=m * worst["tp_comm"],
        cp_comm=m * worst["cp_comm"], ep_comm=m * worst["ep_comm"], pp_comm=m * pp_one,
        bubble=pipe - m * t_max, dp_comm=dp_exposed + zero3_gather, optimizer=optimizer, efficiencies=eff,
    )


def _zero3_gathers_s(sc: Scenario, eff: Efficiencies, worst: dict[str, float]) -> float:
    """Exposed ZeRO-3/FSDP weight all-gathers: two per micro-batch (forward, backward), prefetched behind
    that micro-batch's compute, so only what exceeds it is exposed."""
    p, prec = sc.parallelism, sc.precision_policy
    params = max(stage_params(sc, r).total for r in {0, p.pp - 1})
    n = sc.dp * p.cp
    inside = intra_node(stride=p.tp, size=n, gpus_per_node=sc.hardware.gpus_per_node)
    alpha, beta = (eff.intra_alpha_s, eff.intra_bandwidth_bytes_per_s) if inside else (eff.inter_alpha_s, eff.inter_bandwidth_bytes_per_s)
    gather = collective_time_s(collective="all_gather", n=n, payload_bytes=params * prec.weight_bytes, alpha_s=alpha,
                               bandwidth_bytes_per_s=beta)
    per_mb = float(np.maximum(0.0, 2 * gather - worst["compute"]))
    return sc.micro_batches * per_mb
