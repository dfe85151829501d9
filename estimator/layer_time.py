"""Time of one transformer layer for one micro-batch on one GPU: GEMMs, attention core and element-wise
kernels by roofline, and the tensor-, context- and expert-parallel communication on the critical path.

Shapes are those of Megatron-LM's layer (Shoeybi et al. 2019; Korthikanti et al. 2022): column-parallel
QKV and FC1, row-parallel output and FC2, fused bias-GeLU, bias-dropout-add and scale-mask-softmax
kernels. Numeric layout fields may be numpy arrays (the planner evaluates a grid at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from estimator.comms import collective_time_s, intra_node
from estimator.finetune import DEQUANT_BYTES_PER_PARAM, adapted_matrices
from estimator.flops import attention_matmul_flops, linear_flops
from estimator.params import layer_params
from estimator.roofline import Efficiencies
from estimator.specs.model import ModelSpec
from estimator.specs.workload import FinetuneSpec

Num = Any


@dataclass(frozen=True)
class Layout:
    """Numeric parallel layout (scalars or equal-shaped arrays). sp is 0/1."""

    tp: Num
    cp: Num
    ep: Num
    dp: Num
    micro_batch: Num
    sp: Num
    gpus_per_node: Num


def _gemm(eff: Efficiencies, m: Num, k: Num, n: Num, act_bytes: Num) -> Num:
    """One GEMM (m×k)·(k×n): FLOPs by `flops.linear_flops`, bytes = both inputs and the output."""
    flops = linear_flops(tokens=m, d_in=k, d_out=n)
    return eff.gemm_time_s(flops, act_bytes * (m * k + k * n + m * n))


@dataclass(frozen=True)
class LayerTime:
    """Seconds per layer per micro-batch on one GPU, forward and backward, by kind."""

    gemm_fwd: Num
    attention_fwd: Num  # attention core (QKᵀ, softmax, dropout, ·V) or the fused flash kernel
    elementwise_fwd: Num
    tp_comm_fwd: Num
    cp_comm_fwd: Num
    ep_comm_fwd: Num
    gemm_bwd: Num
    attention_bwd: Num
    elementwise_bwd: Num
    tp_comm_bwd: Num
    cp_comm_bwd: Num
    ep_comm_bwd: Num
    cp_hidden: Num = 0.0  # compute time already used to hide ring-attention exchanges (fwd + bwd)

    @property
    def forward(self) -> Num:
        return self.gemm_fwd + self.attention_fwd + self.elementwise_fwd + self.tp_comm_fwd + self.cp_comm_fwd + self.ep_comm_fwd

    @property
    def backward(self) -> Num:
        return (self.gemm_bwd + self.attention_bwd + self.elementwise_bwd + self.tp_comm_bwd + self.cp_comm_bwd
                + self.ep_comm_bwd)


def _attention(model: ModelSpec, lay: Layout, eff: Efficiencies, *, q_len: Num, kv_len: Num, causal_fraction: float,
               flash: bool, act_bytes: Num) -> tuple[Num, Num]:
    """(forward, backward) seconds of the attention core for one micro-batch on one GPU.

    Unfused (Megatron's scale-mask-softmax + dropout): QKᵀ and ·V batched GEMMs over a/t heads, with the
    full s×s score matrix computed even when causal, and the softmax and dropout reading and writing it;
    backward runs each GEMM twice and the element-wise kernels once more. Fused (FlashAttention, Dao et
    al. 2022): one kernel whose causal variant skips masked blocks, backward 2.5× the forward FLOPs
    (it recomputes QKᵀ).
    """
    m = model
    heads = m.n_heads / lay.tp
    b = lay.micro_batch
    if flash:
        flops = 2 * attention_matmul_flops(q_tokens=b * q_len, kv_tokens=kv_len, n_heads=heads, d_head=m.d_head,
                                           causal_fraction=causal_fraction)
        io = act_bytes * b * (2 * q_len * heads + 2 * kv_len * m.n_kv_heads / lay.tp) * m.d_head
        fwd = eff.attention_time_s(flops, io)
        return fwd, eff.attention_time_s(2.5 * flops, 2 * io)
    one = attention_matmul_flops(q_tokens=b * q_len, kv_tokens=kv_len, n_heads=heads, d_head=m.d_head, causal_fraction=1.0)
    io = act_bytes * b * heads * (q_len * kv_len + (q_len + kv_len) * m.d_head)
    gemms = 2 * eff.attention_time_s(one, io)
    scores = b * heads * q_len * kv_len
    dropout = m.dropout > 0
    softmax_bytes = 2 * act_bytes * scores + (2 * act_bytes + 1) * scores * dropout
    fwd = gemms + eff.memory_time_s(softmax_bytes)
    bwd = 2 * gemms + eff.memory_time_s(1.5 * softmax_bytes)
    return fwd, bwd


def _elementwise_bytes(model: ModelSpec, lay: Layout, tokens: Num, act_bytes: Num, norms: int) -> Num:
    """Bytes the fused element-wise kernels of one layer move in the forward pass.

    Norms read and write the hidden state; bias-dropout-add reads two, writes one, plus a 1-byte mask;
    bias-GeLU reads and writes the FC1 output (SwiGLU reads two halves, writes one); RoPE rewrites Q and K.
    Outside the tensor-parallel region tensors are split by tp only with sequence parallelism.
    """
    m = model
    hidden = tokens * m.d_model / (lay.sp * lay.tp + (1 - lay.sp))
    mask = 1 if m.dropout > 0 else 0
    per_norm = 2 * act_bytes * hidden
    adds = 2 * (3 * act_bytes + mask) * hidden
    d_ff = m.d_ff_expert if m.is_moe else m.d_ff
    copies = (m.top_k + m.n_shared_experts) if m.is_moe else 1
    act = copies * act_bytes * tokens * d_ff / lay.tp * (3 if m.gated_ffn else 2)
    rope = 2 * act_bytes * tokens * (m.n_heads + m.n_kv_heads) * m.d_head / lay.tp if m.position == "rope" else 0
    return norms * per_norm + adds + act + rope


def _finetune_s(model: ModelSpec, lay: Layout, eff: Efficiencies, ft: FinetuneSpec, tokens: Num,
                act_bytes: Num, cross: bool) -> tuple[Num, Num]:
    """(adapter GEMM seconds, QLoRA dequantisation seconds) of one layer's forward pass.

    Adapters: x·A (d_in → r) then ·B (r → d_out) per adapted matrix, split over tp like the matrix.
    QLoRA: each frozen 4-bit weight is read and written back as 16 bits before its matmul.
    """
    adapters = 0.0
    for d_in, d_out, copies in adapted_matrices(model, ft.targets):
        rows = tokens * ((model.top_k + model.n_shared_experts) / copies if copies > 1 else 1.0)
        adapters = adapters + copies * (_gemm(eff, rows, d_in, ft.rank, act_bytes) + _gemm(eff, rows, ft.rank, d_out / lay.tp, act_bytes))
    dequant = 0.0
    if ft.method == "qlora":
        dequant = eff.memory_time_s(DEQUANT_BYTES_PER_PARAM * layer_params(model, cross_attention=cross).total / lay.tp)
    return adapters, dequant


@dataclass(frozen=True)
class LayerJob:
    """What one layer computes: its sequence length, the counted causal fraction a fused kernel skips,
    the kernels (flash), the activation width, the encoder length a cross-attention reads, fine-tuning."""

    seq_len: Num
    causal_fraction: float
    flash: bool
    act_bytes: Num
    cross_kv_len: Num = 0
    finetune: FinetuneSpec | None = None


def layer_time(model: ModelSpec, lay: Layout, eff: Efficiencies, job: LayerJob) -> LayerTime:
    """Forward and backward time of one layer (self-attention, cross-attention when `cross_kv_len`, FFN).

    With a frozen base (LoRA, QLoRA) the weight GEMMs compute only input gradients in backward (1× their
    forward), the adapters train in full, and QLoRA dequantises every weight in each pass.
    """
    seq_len, causal_fraction, flash, act_bytes = job.seq_len, job.causal_fraction, job.flash, job.act_bytes
    cross_kv_len, finetune = job.cross_kv_len, job.finetune
    m, b = model, lay.micro_batch
    q_len = seq_len / lay.cp
    tokens = b * q_len
    t = lay.tp
    q_dim, kv_dim = m.n_heads * m.d_head, m.n_kv_heads * m.d_head
    d_ff = m.d_ff_expert if m.is_moe else m.d_ff
    routed = tokens * ((m.top_k + m.n_shared_experts) if m.is_moe else 1)
    per_expert = routed * lay.ep / m.n_experts if m.is_moe else routed  # tokens each local expert GEMM sees
    experts_here = routed / per_expert
    ffn = experts_here * (_gemm(eff, per_expert, m.d_model, (1 + m.gated_ffn) * d_ff / t, act_bytes)
                          + _gemm(eff, per_expert, d_ff / t, m.d_model, act_bytes))
    gemm = (_gemm(eff, tokens, m.d_model, (q_dim + 2 * kv_dim) / t, act_bytes)
            + _gemm(eff, tokens, q_dim / t, m.d_model, act_bytes) + ffn
            + (_gemm(eff, tokens, m.d_model, m.n_experts, act_bytes) if m.is_moe else 0.0))
    att_f, att_b = _attention(m, lay, eff, q_len=q_len, kv_len=seq_len, causal_fraction=causal_fraction, flash=flash,
                              act_bytes=act_bytes)
    norms = 2
    if cross_kv_len:
        gemm = gemm + _gemm(eff, tokens, m.d_model, q_dim / t, act_bytes) + _gemm(eff, b * cross_kv_len, m.d_model, 2 * kv_dim / t, act_bytes) \
            + _gemm(eff, tokens, q_dim / t, m.d_model, act_bytes)
        cf, cb = _attention(m, lay, eff, q_len=q_len, kv_len=cross_kv_len, causal_fraction=1.0, flash=flash,
                            act_bytes=act_bytes)
        att_f, att_b, norms = att_f + cf, att_b + cb, 3
    elem = eff.memory_time_s(_elementwise_bytes(m, lay, tokens, act_bytes, norms))
    gemm_bwd = 2 * gemm
    if finetune is not None and finetune.frozen_base:
        adapters, dequant = _finetune_s(m, lay, eff, finetune, tokens, act_bytes, bool(cross_kv_len))
        gemm, gemm_bwd, elem = gemm + adapters, gemm + 2 * adapters, elem + dequant
    cp_f, hid_f = _cp_comm(m, lay, eff, tokens, act_bytes, att_f)
    cp_b, hid_b = _cp_comm(m, lay, eff, tokens, act_bytes, att_b, grads=True)
    return LayerTime(gemm_fwd=gemm, attention_fwd=att_f, elementwise_fwd=elem,
                     tp_comm_fwd=_tp_comm(m, lay, eff, tokens, act_bytes, 3 if cross_kv_len else 2),
                     cp_comm_fwd=cp_f, ep_comm_fwd=_ep_comm(m, lay, eff, tokens, act_bytes),
                     gemm_bwd=gemm_bwd, attention_bwd=att_b, elementwise_bwd=2 * elem,
                     tp_comm_bwd=_tp_comm(m, lay, eff, tokens, act_bytes, 3 if cross_kv_len else 2),
                     cp_comm_bwd=cp_b, ep_comm_bwd=_ep_comm(m, lay, eff, tokens, act_bytes), cp_hidden=hid_f + hid_b)


def _tp_comm(model: ModelSpec, lay: Layout, eff: Efficiencies, tokens: Num, act_bytes: Num, blocks: int) -> Num:
    """One all-reduce of the b·s·h activations per block (attention, MLP), or with sequence parallelism an
    all-gather plus a reduce-scatter of the same total volume (Korthikanti et al. 2022 Sec. 4.2.2); on
    the critical path, as in Megatron-LM."""
    alpha, beta = eff.link(intra_node(stride=1, size=lay.tp, gpus_per_node=lay.gpus_per_node))
    payload = act_bytes * tokens * model.d_model
    ar = collective_time_s(collective="all_reduce", n=lay.tp, payload_bytes=payload, alpha_s=alpha, bandwidth_bytes_per_s=beta)
    ag = collective_time_s(collective="all_gather", n=lay.tp, payload_bytes=payload, alpha_s=alpha, bandwidth_bytes_per_s=beta)
    rs = collective_time_s(collective="reduce_scatter", n=lay.tp, payload_bytes=payload, alpha_s=alpha, bandwidth_bytes_per_s=beta)
    if isinstance(lay.sp, int | bool):
        return blocks * (ag + rs if lay.sp else ar)
    return blocks * np.where(lay.sp, ag + rs, ar)


def _cp_comm(model: ModelSpec, lay: Layout, eff: Efficiencies, tokens: Num, act_bytes: Num, attention_s: Num,
             grads: bool = False) -> tuple[Num, Num]:
    """(exposed, hidden) seconds of ring attention (Liu et al. 2023): cp−1 exchanges of the local K and V
    (and their gradients in backward), each overlapped with one block of attention compute. The hidden
    part uses compute time no other communication may use again."""
    alpha, beta = eff.link(intra_node(stride=lay.tp, size=lay.cp, gpus_per_node=lay.gpus_per_node))
    kv = 2 * act_bytes * tokens * model.n_kv_heads * model.d_head / lay.tp * (2 if grads else 1)
    raw = (lay.cp - 1) * (alpha + kv / beta)
    window = attention_s * (lay.cp - 1) / lay.cp
    exposed = np.maximum(0.0, raw - window)
    hidden = np.minimum(raw, window)
    if isinstance(lay.cp, np.ndarray):
        return np.where(lay.cp > 1, exposed, 0.0), np.where(lay.cp > 1, hidden, 0.0)
    return (float(exposed), float(hidden)) if lay.cp > 1 else (0.0, 0.0)


def _ep_comm(model: ModelSpec, lay: Layout, eff: Efficiencies, tokens: Num, act_bytes: Num) -> Num:
    """Two all-to-alls (dispatch, combine) of the routed tokens per MoE layer (Lepikhin et al. 2020)."""
    if not model.is_moe:
        return 0.0
    alpha, beta = eff.link(intra_node(stride=lay.tp * lay.cp, size=lay.ep, gpus_per_node=lay.gpus_per_node))
    payload = act_bytes * tokens * model.top_k * model.d_model
    return 2 * collective_time_s(collective="all_to_all", n=lay.ep, payload_bytes=payload, alpha_s=alpha,
                                 bandwidth_bytes_per_s=beta)
