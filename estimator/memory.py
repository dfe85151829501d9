"""Memory per GPU: model states under ZeRO/FSDP and tp/pp/ep sharding, activations, overheads.

Ref: Rajbhandari et al. 2020 (ZeRO) Sec. 3 and Fig. 1: K = 12 bytes/param of fp32 optimizer state
(master weights, momentum, variance) for mixed-precision Adam; stage 1 shards it over data-parallel
ranks, stage 2 also the gradients, stage 3 also the weights. Korthikanti et al. 2022 Sec. 4 for
activations, pipeline in-flight micro-batches (Eq. 5) and the first/last-stage extras (Sec. 4.3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from estimator.activations import ActShape, inflight_chunks, layer_activation_terms, stored_layer_bytes
from estimator.params import LayerParams, layer_params, output_head_params
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

    dense: float  # sharded by ZeRO over dp·cp
    experts: float  # sharded by ZeRO over dp·cp/ep
    layers: int  # transformer layers in the stage
    decoder_layers: int  # of which decoder layers of an encoder-decoder

    @property
    def total(self) -> float:
        return self.dense + self.experts


def _per_gpu_layer(lp: LayerParams, tp: int, ep: int) -> tuple[float, float]:
    sharded_part = lp.total - lp.experts - lp.tp_replicated
    return sharded_part / tp + lp.tp_replicated, lp.experts / (tp * ep)


def stage_params(sc: Scenario, rank: int) -> StageParams:
    """Parameters on one GPU of pipeline stage `rank` (0 = first, pp−1 = last).

    Layers are split evenly; the first stage also holds the embeddings (vocabulary split over tp,
    Shoeybi et al. 2019 Sec. 3) and positions; the last holds the final norm and the output head (a
    copy of tied embeddings when pp > 1, as Megatron-LM keeps one).
    """
    m, p = sc.model, sc.parallelism
    per_stage = m.total_layers // p.pp
    first_layer = rank * per_stage
    n_dec = max(0, first_layer + per_stage - max(first_layer, m.n_layers)) if m.n_decoder_layers else 0
    n_enc = per_stage - n_dec
    enc_d, enc_e = _per_gpu_layer(layer_params(m), p.tp, p.ep)
    dec_d, dec_e = _per_gpu_layer(layer_params(m, cross_attention=True), p.tp, p.ep)
    dense = n_enc * enc_d + n_dec * dec_d
    experts = n_enc * enc_e + n_dec * dec_e
    norm = m.d_model * (1 + m.bias * (m.norm == "layernorm"))
    table = m.vocab_size * m.d_model / p.tp
    if rank == 0:
        dense += table + m.type_vocab_size * m.d_model + m.embedding_norm * norm
        dense += m.max_seq_len * m.d_model if m.position == "learned" else 0
        dense += m.relative_attention_buckets * m.n_heads * (1 + (m.n_decoder_layers > 0)) if m.position == "relative" else 0
    if rank == p.pp - 1:
        dense += m.final_norm * norm * (2 if m.n_decoder_layers else 1)
        head = output_head_params(m) - (0 if m.tie_embeddings else m.vocab_size * m.d_model)
        untied_or_copy = m.vocab_size * m.d_model if not m.tie_embeddings else (m.vocab_size * m.d_model if p.pp > 1 else 0)
        dense += head + untied_or_copy / p.tp
        dense += (m.d_model * m.d_model + m.d_model) * m.pooler + (2 * m.d_model + 2) * m.nsp_head
    return StageParams(dense=float(dense), experts=float(experts), layers=per_stage, decoder_layers=n_dec)


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes per GPU on the worst pipeline stage, by part, and what decided it."""

    weights: float
    gradients: float
    optimizer: float
    activations: float
    other: float
    capacity: float
    stage: str  # "first", "last" or "only": the stage whose total is reported
    params_on_gpu: float
    activation_terms: dict[str, float] = field(default_factory=dict)  # one layer, one micro-batch

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations + self.other

    @property
    def fits(self) -> bool:
        return self.total <= self.capacity

    def as_dict(self) -> dict[str, float]:
        return {"weights": self.weights, "gradients": self.gradients, "optimizer": self.optimizer,
                "activations": self.activations, "other": self.other, "total": self.total}


def _model_states(sc: Scenario, sp_: StageParams) -> tuple[float, float, float]:
    """ZeRO shards dense parameters over dp·cp ranks and expert parameters over dp·cp/ep ranks."""
    p, prec = sc.parallelism, sc.precision_policy
    shards = sc.dp * p.cp
    per_param = dict(weight_bytes=prec.weight_bytes, grad_bytes=prec.grad_bytes,
                     optimizer_bytes=optimizer_bytes_per_param(prec, OPTIMIZERS[sc.training.optimizer]),
                     zero_stage=p.effective_zero_stage)
    dense = zero_model_state_bytes(params=sp_.dense, dp=shards, **per_param)
    experts = zero_model_state_bytes(params=sp_.experts, dp=max(shards // p.ep, 1), **per_param)
    return float(dense[0] + experts[0]), float(dense[1] + experts[1]), float(dense[2] + experts[2])


def _layer_shapes(sc: Scenario) -> tuple[ActShape, ActShape, int]:
    """Activation shapes of encoder (or only) layers and decoder layers, and the decoder length."""
    p, t = sc.parallelism, sc.training
    shape = sequence_shape(sc)
    act = sc.precision_policy.activation_bytes
    enc_len = shape.encoder_tokens
    enc = ActShape(p.micro_batch, enc_len / p.cp, enc_len, p.tp, int(p.sequence_parallel), act, t.flash_attention)
    dec_len = shape.decoder_tokens
    dec = ActShape(p.micro_batch, max(dec_len, 1) / p.cp, max(dec_len, 1), p.tp, int(p.sequence_parallel), act, t.flash_attention)
    return enc, dec, dec_len


def _stage_activations(sc: Scenario, rank: int, sp_: StageParams) -> tuple[float, dict[str, float]]:
    m, p = sc.model, sc.parallelism
    enc, dec, dec_len = _layer_shapes(sc)
    recompute = p.recompute
    enc_terms = layer_activation_terms(m, enc)
    dec_terms = layer_activation_terms(m, dec, cross_kv_len=enc.kv_len) if dec_len else {}
    n_dec = sp_.decoder_layers
    n_enc = sp_.layers - n_dec

    def stored(terms: dict[str, float], shape: ActShape) -> float:
        layer_input = shape.act_bytes * shape.tokens * m.d_model * shape.outside_tp
        return float(stored_layer_bytes(terms, recompute=recompute, layer_input_bytes=layer_input))

    per_chunk = n_enc * stored(enc_terms, enc) + n_dec * (stored(dec_terms, dec) if dec_terms else 0.0)
    chunks = inflight_chunks(schedule=p.effective_schedule, pp=p.pp, micro_batches=sc.micro_batches,
                             virtual_stages=p.virtual_stages, rank=rank)
    total = per_chunk / p.virtual_stages * chunks
    if dec_len and n_dec:  # the encoder output every cross-attention reads, once per micro-batch in flight
        total += enc.act_bytes * enc.tokens * m.d_model * chunks / p.virtual_stages
    if recompute == "full":  # the layer being recomputed during backward holds all of its tensors
        work = dec_terms if n_dec else enc_terms
        total += sum(work.values())
    if rank == p.pp - 1:
        total += _logits_bytes(sc, dec if dec_len else enc)
    terms = dec_terms if n_dec and not n_enc else enc_terms
    return total, {k: float(v) for k, v in terms.items()}


def _logits_bytes(sc: Scenario, shape: ActShape) -> float:
    """Last stage: fp32 logits for the loss, 4·s·b·V/t (Korthikanti Sec. 4.3), plus the output layer's input."""
    m = sc.model
    if m.output_head == "none":
        return 0.0
    positions = sequence_shape(sc).logit_positions * shape.batch / sc.parallelism.cp
    return float(4.0 * positions * m.vocab_size / shape.tp + shape.act_bytes * shape.tokens * m.d_model * shape.outside_tp)


def memory_per_gpu(sc: Scenario) -> MemoryBreakdown:
    """Memory of the worst pipeline stage (first or last), by part."""
    p, prec = sc.parallelism, sc.precision_policy
    stages: list[MemoryBreakdown] = []
    for rank in [0] if p.pp == 1 else [0, p.pp - 1]:
        sp_ = stage_params(sc, rank)
        weights, grads, opt = _model_states(sc, sp_)
        acts, terms = _stage_activations(sc, rank, sp_)
        other = sc.assumptions.framework_overhead_bytes
        if p.effective_zero_stage == 3:  # two layers gathered at a time (current + prefetch)
            lp = layer_params(sc.model, cross_attention=sp_.decoder_layers > 0)
            other += 2 * prec.weight_bytes * lp.total / p.tp
        stage = "only" if p.pp == 1 else ("first" if rank == 0 else "last")
        stages.append(MemoryBreakdown(weights, grads, opt, acts, other, sc.hardware.memory_bytes, stage, sp_.total, terms))
    return max(stages, key=lambda mb: mb.total)
