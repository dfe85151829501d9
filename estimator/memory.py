"""Memory per GPU: model states under ZeRO/FSDP and tp/pp/ep sharding, activations, overheads.

Ref: Rajbhandari et al. 2020 (ZeRO) Sec. 3 and Fig. 1: K = 12 bytes/param of fp32 optimizer state
(master weights, momentum, variance) for mixed-precision Adam; stage 1 shards it over data-parallel
ranks, stage 2 also the gradients, stage 3 also the weights. Korthikanti et al. 2022 Sec. 4 for
activations, pipeline in-flight micro-batches (Eq. 5) and the first/last-stage extras (Sec. 4.3).
Every function takes `Columns`: scalars for one estimate, arrays for the planner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from estimator.activations import ActShape, inflight_chunks, layer_activation_terms, stored_layer_bytes
from estimator.columns import Columns
from estimator.finetune import NF4_BYTES_PER_PARAM, layer_lora_params
from estimator.params import layer_params, norm_params, output_head_params
from estimator.specs.precision import OPTIMIZERS, optimizer_bytes_per_param
from estimator.specs.scenario import Scenario
from estimator.training_shape import sequence_shape

Num = Any


def sharded(*, total: Num, shards: Num, active: Num) -> Num:
    """`total` divided over `shards` where the sharding is `active` (array-safe; active is 0/1)."""
    return total / (1 + active * (shards - 1))


def zero_model_state_bytes(*, params: Num, weight_bytes: Num, grad_bytes: Num, optimizer_bytes: Num,
                           zero_stage: Num, dp: Num) -> tuple[Num, Num, Num]:
    """Weights, gradients and optimizer states per GPU under ZeRO stage 0–3 over `dp` ranks.

    Ref: Rajbhandari et al. 2020, Sec. 5 and Fig. 1: Ψ·(2 + 2 + K) bytes, stage 1 divides K·Ψ by N_d,
    stage 2 also the 2Ψ of gradients, stage 3 (= FSDP full-shard) also the 2Ψ of weights.
    """
    return (weight_bytes * sharded(total=params, shards=dp, active=zero_stage >= 3),
            grad_bytes * sharded(total=params, shards=dp, active=zero_stage >= 2),
            optimizer_bytes * sharded(total=params, shards=dp, active=zero_stage >= 1))


@dataclass(frozen=True)
class StageParams:
    """Parameters held by one GPU of one pipeline stage, split by how ZeRO shards them."""

    dense: Num  # sharded by ZeRO over dp·cp
    experts: Num  # sharded by ZeRO over dp·cp/ep
    layers: Num  # transformer layers in the stage
    decoder_layers: Num  # of which decoder layers of an encoder-decoder

    @property
    def total(self) -> Num:
        return self.dense + self.experts


def stage_params(sc: Scenario, c: Columns, rank: Num) -> StageParams:
    """Parameters on one GPU of pipeline stage `rank` (0 = first, pp−1 = last).

    Layers are split evenly; the first stage also holds the embeddings (vocabulary split over tp,
    Shoeybi et al. 2019 Sec. 3) and positions; the last holds the final norm and the output head (a
    copy of tied embeddings when pp > 1, as Megatron-LM keeps one).
    """
    m = sc.model
    per_stage = m.total_layers // c.pp
    first_layer = rank * per_stage
    n_dec = np.clip(first_layer + per_stage - np.maximum(first_layer, m.n_layers), 0, per_stage) if m.n_decoder_layers else 0
    n_enc = per_stage - n_dec
    dense = experts = 0.0
    for count, lp in ((n_enc, layer_params(m)), (n_dec, layer_params(m, cross_attention=True))):
        dense = dense + count * ((lp.total - lp.experts - lp.tp_replicated) / c.tp + lp.tp_replicated)
        experts = experts + count * lp.experts / (c.tp * c.ep)
    norm = norm_params(d_model=m.d_model, rms=m.norm == "rmsnorm", bias=m.bias)
    table = m.vocab_size * m.d_model
    first = rank == 0
    last = rank == c.pp - 1
    embed = (table / c.tp + m.type_vocab_size * m.d_model + m.embedding_norm * norm
             + (m.max_seq_len * m.d_model if m.position == "learned" else 0)
             + (m.relative_attention_buckets * m.n_heads * (1 + (m.n_decoder_layers > 0)) if m.position == "relative" else 0))
    head_extra = output_head_params(m) - (0 if m.tie_embeddings else table)
    head_table = table / c.tp if not m.tie_embeddings else np.where(c.pp > 1, table / c.tp, 0.0)
    head = (m.final_norm * norm * (2 if m.n_decoder_layers else 1) + head_extra + head_table
            + (m.d_model * m.d_model + m.d_model) * m.pooler + (2 * m.d_model + 2) * m.nsp_head)
    dense = dense + first * embed + last * head
    return StageParams(dense=dense, experts=experts, layers=per_stage, decoder_layers=n_dec)


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes per GPU on the worst pipeline stage, by part, and what decided it."""

    weights: Num
    gradients: Num
    optimizer: Num
    activations: Num
    other: Num
    capacity: float
    stage: Num  # 0: the first stage is the worst (or the only one), 1: the last
    params_on_gpu: Num
    activation_terms: dict[str, float] = field(default_factory=dict)  # one layer, one micro-batch (scalar path)

    @property
    def total(self) -> Num:
        return self.weights + self.gradients + self.optimizer + self.activations + self.other

    @property
    def fits(self) -> Num:
        return self.total <= self.capacity

    def as_dict(self) -> dict[str, float]:
        return {"weights": float(self.weights), "gradients": float(self.gradients), "optimizer": float(self.optimizer),
                "activations": float(self.activations), "other": float(self.other), "total": float(self.total)}


def trainable_params(sc: Scenario, c: Columns, sp_: StageParams) -> Num:
    """Parameters with gradients and optimizer states on one GPU: all of them, or only the adapters of a
    frozen base (LoRA/QLoRA; adapters split over tp like the matrices they adapt)."""
    ft = sc.finetune
    if ft is None or not ft.frozen_base:
        return sp_.total
    return sp_.layers * layer_lora_params(sc.model, ft) / c.tp


def _model_states(sc: Scenario, c: Columns, sp_: StageParams) -> tuple[Num, Num, Num]:
    """ZeRO shards dense parameters over dp·cp ranks and expert parameters over dp·cp/ep ranks. A frozen
    base keeps its weights only (16-bit, or 4-bit NF4 for QLoRA); its adapters have the full states."""
    prec = sc.precision_policy
    shards = c.dp * c.cp
    opt_bytes = optimizer_bytes_per_param(prec, OPTIMIZERS[sc.training.optimizer])
    ft = sc.finetune
    if ft is not None and ft.frozen_base:
        base_bytes = NF4_BYTES_PER_PARAM if ft.method == "qlora" else prec.weight_bytes
        adapters = trainable_params(sc, c, sp_)
        w, g, o = zero_model_state_bytes(params=adapters, weight_bytes=prec.weight_bytes, grad_bytes=prec.grad_bytes,
                                         optimizer_bytes=opt_bytes, zero_stage=c.zero, dp=shards)
        base = base_bytes * (sharded(total=sp_.dense, shards=shards, active=np.asarray(c.zero) >= 3)
                             + sharded(total=sp_.experts, shards=np.maximum(shards // c.ep, 1), active=np.asarray(c.zero) >= 3))
        return base + w, g, o
    per_param = dict(weight_bytes=prec.weight_bytes, grad_bytes=prec.grad_bytes, optimizer_bytes=opt_bytes, zero_stage=c.zero)
    dense = zero_model_state_bytes(params=sp_.dense, dp=shards, **per_param)
    experts = zero_model_state_bytes(params=sp_.experts, dp=np.maximum(shards // c.ep, 1), **per_param)
    return dense[0] + experts[0], dense[1] + experts[1], dense[2] + experts[2]


def layer_shapes(sc: Scenario, c: Columns) -> tuple[ActShape, ActShape, int]:
    """Activation shapes of encoder (or only) layers and decoder layers, and the decoder length."""
    shape = sequence_shape(sc)
    act, flash = sc.precision_policy.activation_bytes, sc.training.flash_attention
    enc_len, dec_len = shape.encoder_tokens, shape.decoder_tokens
    enc = ActShape(c.micro_batch, enc_len / c.cp, enc_len, c.tp, c.sp, act, flash)
    dec = ActShape(c.micro_batch, max(dec_len, 1) / c.cp, max(dec_len, 1), c.tp, c.sp, act, flash)
    return enc, dec, dec_len


def _stored(terms: dict[str, Num], shape: ActShape, d_model: int, recompute: Num) -> Num:
    """What one layer keeps under recompute code 0/1/2 (none/selective/full), array-safe."""
    layer_input = shape.act_bytes * shape.tokens * d_model * shape.outside_tp
    options = [stored_layer_bytes(terms, recompute=r, layer_input_bytes=layer_input) for r in ("none", "selective", "full")]
    return np.choose(np.asarray(recompute), options) if np.ndim(recompute) else options[int(recompute)]


def _stage_activations(sc: Scenario, c: Columns, rank: Num, sp_: StageParams) -> tuple[Num, dict[str, Num]]:
    m = sc.model
    enc, dec, dec_len = layer_shapes(sc, c)
    enc_terms = layer_activation_terms(m, enc)
    dec_terms = layer_activation_terms(m, dec, cross_kv_len=enc.kv_len) if dec_len else {}
    n_dec = sp_.decoder_layers
    n_enc = sp_.layers - n_dec
    per_chunk = n_enc * _stored(enc_terms, enc, m.d_model, c.recompute)
    if dec_terms:
        per_chunk = per_chunk + n_dec * _stored(dec_terms, dec, m.d_model, c.recompute)
    chunks = np.choose(np.asarray(c.schedule), [
        inflight_chunks(schedule=s, pp=c.pp, micro_batches=c.micro_batches, virtual_stages=c.virtual_stages, rank=rank)
        for s in ("1f1b", "interleaved", "gpipe")]) if np.ndim(c.schedule) else inflight_chunks(
        schedule=("1f1b", "interleaved", "gpipe")[int(c.schedule)], pp=c.pp, micro_batches=c.micro_batches,
        virtual_stages=c.virtual_stages, rank=rank)
    total = per_chunk / c.virtual_stages * chunks
    if dec_len:  # the encoder output every cross-attention reads, once per micro-batch in flight
        total = total + (n_dec > 0) * enc.act_bytes * enc.tokens * m.d_model * chunks / c.virtual_stages
    # the layer being recomputed during backward holds all of its tensors
    work = dec_terms if (dec_terms and m.n_layers < m.total_layers) else enc_terms
    total = total + (np.asarray(c.recompute) == 2) * sum(work.values())
    total = total + (rank == c.pp - 1) * _logits_bytes(sc, dec if dec_len else enc)
    return total, enc_terms


def _logits_bytes(sc: Scenario, shape: ActShape) -> Num:
    """Last stage: fp32 logits for the loss, 4·s·b·V/t (Korthikanti Sec. 4.3), plus the output layer's input."""
    m = sc.model
    if m.output_head == "none":
        return 0.0
    positions = sequence_shape(sc).logit_positions * shape.batch / (shape.kv_len / shape.q_len)
    return 4.0 * positions * m.vocab_size / shape.tp + shape.act_bytes * shape.tokens * m.d_model * shape.outside_tp


def memory_per_gpu(sc: Scenario, c: Columns | None = None) -> MemoryBreakdown:
    """Memory of the worst pipeline stage (first or last), by part."""
    c = c or Columns.from_scenario(sc)
    prec = sc.precision_policy
    stages = []
    for rank in (0, c.pp - 1):
        sp_ = stage_params(sc, c, rank)
        weights, grads, opt = _model_states(sc, c, sp_)
        acts, terms = _stage_activations(sc, c, rank, sp_)
        layer_total = layer_params(sc.model, cross_attention=sc.model.n_decoder_layers > 0).total / c.tp
        other = sc.assumptions.framework_overhead_bytes + (np.asarray(c.zero) == 3) * 2 * prec.weight_bytes * layer_total
        if sc.finetune is not None and sc.finetune.method == "qlora":  # one layer dequantised to 16 bits at a time
            other = other + prec.weight_bytes * layer_total
        stages.append((weights, grads, opt, acts, other, sp_.total, terms))
    first, last = stages
    last_worse = sum(last[:5]) > sum(first[:5])
    pick = [np.where(last_worse, b, a) for a, b in zip(first[:6], last[:6], strict=True)]
    terms = {k: float(v) for k, v in first[6].items()} if not np.ndim(c.tp) else {}
    if not np.ndim(c.tp):
        pick = [float(x) for x in pick]
    return MemoryBreakdown(pick[0], pick[1], pick[2], pick[3], pick[4], sc.hardware.memory_bytes,
                           np.where(last_worse, 1, 0) if np.ndim(c.tp) else int(last_worse), pick[5], terms)
