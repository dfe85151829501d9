"""A training step, mechanistically: per-layer roofline and communication (layer_time), stages, the
pipeline schedule, data-parallel gradient synchronisation, ZeRO traffic and the optimizer step.

Takes `Columns`: one configuration as scalars (`estimator train`) or a grid as arrays (`estimator plan`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from estimator.columns import Columns
from estimator.comms import collective_time_s, intra_node
from estimator.flops import linear_flops
from estimator.layer_time import LayerJob, Layout, layer_time
from estimator.memory import stage_params, trainable_params
from estimator.roofline import Efficiencies, resolve_efficiencies
from estimator.schedule import pipeline_p2p_count, pipeline_time_s
from estimator.specs.precision import OPTIMIZERS, optimizer_bytes_per_param
from estimator.specs.scenario import Scenario
from estimator.training_shape import executed_causal_fraction, sequence_shape

Num = Any
PARTS = ("compute", "recompute", "tp_comm", "cp_comm", "ep_comm", "pp_comm", "bubble", "dp_comm", "optimizer")


@dataclass(frozen=True)
class StepTime:
    """Seconds of one optimizer step by cause (on the critical path), and the efficiencies used."""

    compute: Num
    recompute: Num
    tp_comm: Num
    cp_comm: Num
    ep_comm: Num
    pp_comm: Num
    bubble: Num
    dp_comm: Num
    optimizer: Num
    efficiencies: Efficiencies

    @property
    def total(self) -> Num:
        return sum(getattr(self, k) for k in PARTS)

    def as_dict(self) -> dict[str, Num]:
        return {k: getattr(self, k) for k in PARTS}


def _stage(sc: Scenario, c: Columns, eff: Efficiencies, lay: Layout, rank: Num) -> dict[str, Num]:
    """Per micro-batch seconds of one pipeline stage, by cause."""
    m, t = sc.model, sc.training
    shape = sequence_shape(sc)
    act = sc.precision_policy.activation_bytes
    flash = t.flash_attention
    frac = executed_causal_fraction(flash)  # causal layers: decoder-only, and the decoder of an encoder-decoder
    sp_ = stage_params(sc, c, rank)
    enc_frac = frac if m.architecture == "decoder" else 1.0  # encoders attend bidirectionally
    layers = [(sp_.layers - sp_.decoder_layers,
               layer_time(m, lay, eff, LayerJob(shape.encoder_tokens, enc_frac, flash, act, finetune=sc.finetune)))]
    if m.n_decoder_layers:
        job = LayerJob(shape.decoder_tokens, frac, flash, act, cross_kv_len=shape.encoder_tokens, finetune=sc.finetune)
        layers.append((sp_.decoder_layers, layer_time(m, lay, eff, job)))
    parts: dict[str, Num] = dict.fromkeys(("compute", "recompute", "tp_comm", "cp_comm", "ep_comm", "cp_hidden"), 0.0)
    rc = np.asarray(c.recompute)
    for count, lt in layers:
        parts["compute"] = parts["compute"] + count * (lt.gemm_fwd + lt.attention_fwd + lt.elementwise_fwd
                                                       + lt.gemm_bwd + lt.attention_bwd + lt.elementwise_bwd)
        parts["tp_comm"] = parts["tp_comm"] + count * (lt.tp_comm_fwd + lt.tp_comm_bwd)
        parts["cp_comm"] = parts["cp_comm"] + count * (lt.cp_comm_fwd + lt.cp_comm_bwd)
        parts["ep_comm"] = parts["ep_comm"] + count * (lt.ep_comm_fwd + lt.ep_comm_bwd)
        parts["cp_hidden"] = parts["cp_hidden"] + count * lt.cp_hidden
        selective = 0.0 if flash else lt.attention_fwd  # with FlashAttention there is nothing left to drop
        parts["recompute"] = parts["recompute"] + count * ((rc == 2) * lt.forward + (rc == 1) * selective)
    if m.output_head != "none":
        parts["compute"] = parts["compute"] + (rank == c.pp - 1) * _logits_s(sc, eff, lay, shape.logit_positions)
    return parts


def _logits_s(sc: Scenario, eff: Efficiencies, lay: Layout, positions: float) -> Num:
    """Output layer forward and backward (3 GEMMs of h × V/t) and the fp32 cross-entropy over the logits."""
    m = sc.model
    act = sc.precision_policy.activation_bytes
    tokens = lay.micro_batch * positions / lay.cp
    flops = linear_flops(tokens=tokens, d_in=m.d_model, d_out=m.vocab_size / lay.tp)
    gemm = eff.gemm_time_s(flops, act * (tokens * m.d_model + m.d_model * m.vocab_size / lay.tp + tokens * m.vocab_size / lay.tp))
    return 3 * gemm + eff.memory_time_s(3 * (act + 4) * tokens * m.vocab_size / lay.tp)


def _pp_comm_s(sc: Scenario, c: Columns, eff: Efficiencies) -> Num:
    """Point-to-point sends per micro-batch on one GPU: b·s·h activations (÷ tp with Megatron's
    scatter/gather optimisation, Narayanan et al. 2021 Sec. 4.1) across the stage boundary."""
    shape = sequence_shape(sc)
    alpha, beta = eff.link(intra_node(stride=c.tp * c.cp * c.dp, size=2, gpus_per_node=sc.hardware.gpus_per_node))
    tokens = c.micro_batch * max(shape.encoder_tokens, shape.decoder_tokens) / c.cp
    payload = sc.precision_policy.activation_bytes * tokens * sc.model.d_model / c.tp
    one = collective_time_s(collective="send_recv", n=2, payload_bytes=payload, alpha_s=alpha, bandwidth_bytes_per_s=beta)
    return (c.pp > 1) * pipeline_p2p_count(virtual_stages=c.virtual_stages) * one


def _dp_and_optimizer_s(sc: Scenario, c: Columns, eff: Efficiencies, params: Num, trainable: Num,
                        last_backward_s: Num, compute_per_mb: Num) -> tuple[Num, Num]:
    """(exposed gradient/parameter sync, optimizer step) seconds.

    ZeRO-0: all-reduce of the gradients; ZeRO-1/2: reduce-scatter of gradients and all-gather of the
    updated parameters (the same volume); ZeRO-3/FSDP instead all-gathers the weights in forward and in
    backward of every micro-batch, prefetched behind its compute (1.5× the volume, Rajbhandari et al.
    2020 Sec. 7). The gradient reduction hides behind the last micro-batch's backward when
    `overlap_grad_reduce` is on. The optimizer step is memory-bound: it reads gradients, reads and
    writes master weights and states, and writes the 16-bit weights. Only `trainable` parameters (the
    adapters of a frozen base) have gradients to reduce and states to update.
    """
    prec, a = sc.precision_policy, sc.assumptions
    n = c.dp * c.cp
    alpha, beta = eff.link(intra_node(stride=c.tp, size=n, gpus_per_node=sc.hardware.gpus_per_node))
    grads = trainable * (4 if a.fp32_grad_reduce else prec.grad_bytes)
    weights = params * prec.weight_bytes
    zero = np.asarray(c.zero)

    def coll(kind: Any, payload: Num) -> Num:
        return np.where(n > 1, collective_time_s(collective=kind, n=np.maximum(n, 2), payload_bytes=payload, alpha_s=alpha,
                                                 bandwidth_bytes_per_s=beta), 0.0)

    sync: Num = np.where(zero == 0, coll("all_reduce", grads), coll("reduce_scatter", grads))
    hide = last_backward_s if a.overlap_grad_reduce else 0.0
    # ZeRO 0-2: the gradient reduction hides behind the last micro-batch's backward; ZeRO-1/2 then
    # all-gather the updated parameters after the step
    plain = np.maximum(0.0, sync - hide) + (zero >= 1) * coll("all_gather", trainable * prec.weight_bytes)
    # ZeRO-3: one communication stream carries two weight all-gathers per micro-batch and, in the last one,
    # the reduce-scatter too; what exceeds that micro-batch's compute is exposed (the window is used once)
    gathers = 2 * coll("all_gather", weights)
    last_mb = gathers + (sync if a.overlap_grad_reduce else 0.0)
    zero3 = ((c.micro_batches - 1) * np.maximum(0.0, gathers - compute_per_mb) + np.maximum(0.0, last_mb - compute_per_mb)
             + (0.0 if a.overlap_grad_reduce else sync))
    exposed = np.where(zero == 3, zero3, plain)
    shard = trainable / np.where(zero >= 1, n, 1)
    opt_bytes = shard * (prec.grad_bytes + 2 * optimizer_bytes_per_param(prec, OPTIMIZERS[sc.training.optimizer])
                         + prec.weight_bytes)
    return exposed, eff.memory_time_s(opt_bytes)


def step_time(sc: Scenario, efficiencies: Efficiencies | None = None, columns: Columns | None = None) -> StepTime:
    """The step time of `sc` (or of the grid `columns` laid over `sc`) with its breakdown."""
    c = columns or Columns.from_scenario(sc)
    eff = efficiencies or resolve_efficiencies(sc.hardware, sc.precision_policy.compute_dtype)
    lay = Layout(tp=c.tp, cp=c.cp, ep=c.ep, dp=c.dp, micro_batch=c.micro_batch, sp=c.sp,
                 gpus_per_node=sc.hardware.gpus_per_node)
    first, last = (_stage(sc, c, eff, lay, r) for r in (0, c.pp - 1))
    pp_one = _pp_comm_s(sc, c, eff)
    t_first = sum(v for k, v in first.items() if k != "cp_hidden") + pp_one
    t_last = sum(v for k, v in last.items() if k != "cp_hidden") + pp_one
    last_worse = t_last > t_first
    worst: dict[str, Num] = {k: np.where(last_worse, last[k], first[k]) for k in first}
    t_max = np.maximum(t_first, t_last)
    t_mean = np.where(c.pp > 1, (t_first + t_last) / 2, t_first)
    m = c.micro_batches
    pipe = pipeline_time_s(stage_max_s=t_max, stage_mean_s=t_mean, micro_batches=m, pp=c.pp, virtual_stages=c.virtual_stages)
    stages = [stage_params(sc, c, r) for r in (0, c.pp - 1)]
    params = np.maximum(stages[0].total, stages[1].total)
    trainable = np.maximum(*(trainable_params(sc, c, sp_) for sp_ in stages))
    window = worst["compute"] - worst["cp_hidden"]  # compute time not already hiding ring-attention exchanges
    dp_exposed, optimizer = _dp_and_optimizer_s(sc, c, eff, params, trainable, window * 2 / 3, window)
    out = {"compute": m * worst["compute"], "recompute": m * worst["recompute"], "tp_comm": m * worst["tp_comm"],
           "cp_comm": m * worst["cp_comm"], "ep_comm": m * worst["ep_comm"], "pp_comm": m * pp_one,
           "bubble": pipe - m * t_max, "dp_comm": dp_exposed, "optimizer": optimizer}
    if not np.ndim(c.tp):
        out = {k: float(v) for k, v in out.items()}
    return StepTime(**out, efficiencies=eff)
