"""The model as a stack: embedding ops on the first pipeline stage, layer kinds with counts per stage, and
the head (final norms, logits and loss, BERT's MLM/pooler/NSP heads) on the last stage.

`sample_ops` evaluates the ledger for one training sample on one GPU with no parallelism: the whole model's
parameters and FLOPs. `stage_ops` evaluates it for one micro-batch on one GPU of one pipeline stage: the
time model's and the memory model's input. The same op functions serve both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from estimator.ledger.layers import Weights, gemm_bytes, gemm_op, layer_ops, norm_op
from estimator.ledger.ops import Op
from estimator.ledger.work import Work
from estimator.num import Flag, Num, clip, maximum, where
from estimator.params import (
    embedding_params,
    nsp_head_params,
    pooler_params,
    relative_position_params,
)
from estimator.specs.model import ModelSpec


@dataclass(frozen=True)
class SampleShape:
    """Token counts of one training sample.

    `logit_positions`: positions whose vocabulary logits are computed (every position for causal LM, the
    masked fraction when an MLM gathers them, the decoder's for an encoder-decoder). `nsp_sequences`: 1 when
    the sample also goes through BERT's pooler and next-sentence head.
    """

    encoder_tokens: float  # the decoder-only model's tokens; the encoder's input for an encoder-decoder
    decoder_tokens: float  # 0 unless encoder-decoder
    logit_positions: float
    nsp_sequences: float = 0.0


@dataclass(frozen=True)
class StageStack:
    """The layers one pipeline stage holds, and whether it holds the embedding (first) and head (last)."""

    encoder_layers: Num  # the decoder-only model's layers; the encoder's for an encoder-decoder
    decoder_layers: Num  # an encoder-decoder's decoder (cross-attention) layers
    first: Flag
    last: Flag


def even_stage(model: ModelSpec, *, pp: Num, rank: Num) -> StageStack:
    """Stage `rank` of `pp` equal stages: encoder layers first, then decoder layers (Megatron-LM's order)."""
    per_stage = model.total_layers // pp
    first_layer = rank * per_stage
    n_dec = (
        clip(first_layer + per_stage - maximum(first_layer, model.n_layers), 0, per_stage)
        if model.n_decoder_layers
        else 0
    )
    return StageStack(
        encoder_layers=per_stage - n_dec, decoder_layers=n_dec, first=rank == 0, last=rank == pp - 1
    )


def embedding_ops(model: ModelSpec, w: Work, shape: SampleShape) -> list[Op]:
    """Token (and token-type) embeddings with their norm, positions: a lookup that reads and writes b·s·h
    per stack; the table is split over tp (vocabulary-parallel, Shoeybi et al. 2019 Sec. 3)."""
    table = embedding_params(vocab_size=model.vocab_size, d_model=model.d_model)
    types = model.type_vocab_size * model.d_model
    stacks = 2 if model.architecture == "encoder-decoder" else 1
    looked_up = w.batch * (shape.encoder_tokens + shape.decoder_tokens) / w.cp
    ops = [
        Op(
            "embedding",
            "elementwise",
            "elementwise",
            bytes=2 * w.act_bytes * looked_up * model.d_model,
            params=table + types,
            params_local=table / w.tp + types,
            param_group="embedding",
        )
    ]
    if model.embedding_norm:
        ops.append(replace(norm_op("embedding_norm", model, w), param_group="embedding"))
    if model.position == "learned":
        p: Num = model.max_seq_len * model.d_model
    elif model.position == "relative":
        p = stacks * relative_position_params(buckets=model.relative_attention_buckets, n_heads=model.n_heads)
    else:
        p = 0.0
    if p:
        ops.append(Op("positions", "elementwise", "none", params=p, params_local=p, param_group="position"))
    return ops


def head_ops(model: ModelSpec, w: Work, shape: SampleShape) -> list[Op]:
    """Final norm(s), the output layer (logits over V/t) and the fp32 cross-entropy, or no LM head;
    BERT's MLM transform, pooler and NSP classifier. A tied output layer shares the embedding table on one
    stage; with pp > 1 the last stage keeps a copy of it (as Megatron-LM does)."""
    t = w.tp
    stacks = 2 if model.architecture == "encoder-decoder" else 1
    ops: list[Op] = []
    if model.final_norm:
        ops += [replace(norm_op(f"final_norm{i}", model, w), bytes=0.0, flops=0.0) for i in range(stacks)]
    positions = w.batch * shape.logit_positions / w.cp
    if (
        model.output_head == "mlm"
    ):  # dense h×h, norm and a V bias on the predicted positions (replicated over tp)
        transform = (
            model.d_model * model.d_model + model.bias * model.d_model + norm_op("mlm_norm", model, w).params
        )
        head = transform + model.bias * model.vocab_size
        ops.append(
            gemm_op(
                "mlm_transform",
                w,
                (positions, model.d_model, model.d_model),
                weights=Weights(head, head, "output_head"),
                trainable=False,
            )
        )
    if model.output_head != "none":
        table = embedding_params(vocab_size=model.vocab_size, d_model=model.d_model)
        own = 0.0 if model.tie_embeddings else table
        local = table / t if not model.tie_embeddings else where(w.pp > 1, table / t, 0.0)
        saved = {
            "logits_fp32": 4.0 * positions * model.vocab_size / t,
            "output_input": w.act_bytes * w.tokens * model.d_model * w.outside_tp,
        }
        ops += [
            gemm_op(
                "logits",
                w,
                (positions, model.d_model, model.vocab_size / t),
                weights=Weights(own, local, "output_head"),
                saved=saved,
                trainable=False,
            ),
            Op(
                "cross_entropy",
                "elementwise",
                "elementwise",
                bytes=(w.act_bytes + 4) * positions * model.vocab_size / t,
            ),
        ]
    nsp = w.batch * shape.nsp_sequences
    if model.pooler:
        p = pooler_params(d_model=model.d_model)
        ops.append(
            gemm_op(
                "pooler",
                w,
                (nsp, model.d_model, model.d_model),
                weights=Weights(p, p, "pooler"),
                trainable=False,
            )
        )
    if model.nsp_head:
        p = nsp_head_params(d_model=model.d_model)
        ops.append(
            gemm_op(
                "nsp_head", w, (nsp, model.d_model, 2), weights=Weights(p, p, "nsp_head"), trainable=False
            )
        )
    return ops


def layer_works(
    model: ModelSpec, base: Work, shape: SampleShape, causal_fraction: float
) -> tuple[Work, Work]:
    """The work of an encoder (or decoder-only) layer and of an encoder-decoder's decoder layer: their
    lengths, split over cp, with the causal share applying to decoder self-attention only."""
    enc_causal = causal_fraction if model.architecture == "decoder" else 1.0
    enc = replace(
        base, q_len=shape.encoder_tokens / base.cp, kv_len=shape.encoder_tokens, causal_fraction=enc_causal
    )
    dec_len = max(shape.decoder_tokens, 1.0)
    dec = replace(base, q_len=dec_len / base.cp, kv_len=dec_len, causal_fraction=causal_fraction)
    return enc, dec


@dataclass(frozen=True)
class StageOps:
    """The ops of one pipeline stage for one micro-batch: per-layer ops with the number of such layers,
    and the stage's own ops (embedding on the first stage, head on the last, scaled by 0/1)."""

    layers: tuple[tuple[Num, tuple[Op, ...]], ...]
    extras: tuple[tuple[Flag, tuple[Op, ...]], ...]


def stage_ops(
    model: ModelSpec, base: Work, shape: SampleShape, stack: StageStack, causal_fraction: float
) -> StageOps:
    """Everything one GPU of one stage runs for one micro-batch of `base.batch` sequences."""
    enc, dec = layer_works(model, base, shape, causal_fraction)
    layers: list[tuple[Num, tuple[Op, ...]]] = [(stack.encoder_layers, tuple(layer_ops(model, enc)))]
    if model.n_decoder_layers:
        layers.append((stack.decoder_layers, tuple(layer_ops(model, dec, cross_kv_len=shape.encoder_tokens))))
    head_work = dec if model.architecture == "encoder-decoder" else enc
    extras = (
        (stack.first, tuple(embedding_ops(model, enc, shape))),
        (stack.last, tuple(head_ops(model, head_work, shape))),
    )
    return StageOps(layers=tuple(layers), extras=extras)


def sample_ops(
    model: ModelSpec, shape: SampleShape, *, causal_fraction: float, base: Work | None = None
) -> StageOps:
    """The whole model for one sample on one GPU (no parallelism): every layer, the embedding and the head."""
    w = base or Work(batch=1, q_len=shape.encoder_tokens, kv_len=shape.encoder_tokens)
    w = replace(w, tp=1, cp=1, ep=1, sp=0, pp=1, batch=1)
    stack = StageStack(
        encoder_layers=model.n_layers, decoder_layers=model.n_decoder_layers, first=True, last=True
    )
    return stage_ops(model, w, shape, stack, causal_fraction)


__all__ = [
    "SampleShape",
    "StageOps",
    "StageStack",
    "embedding_ops",
    "even_stage",
    "gemm_bytes",
    "head_ops",
    "layer_works",
    "sample_ops",
    "stage_ops",
]
