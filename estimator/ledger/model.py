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
from estimator.num import Flag, Num, maximum, minimum, where
from estimator.params import (
    embedding_params,
    linear_params,
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
    """The layers one pipeline stage holds, by kind, and whether it holds the embedding (first) and the head
    (last, with the multi-token-prediction modules). An encoder-decoder's decoder layers carry
    cross-attention; an MoE model's layers are dense or MoE by position (ModelSpec.moe_layers_before)."""

    dense: Num  # self-attention layers with a dense FFN (the encoder's, or a decoder-only model's)
    moe: Num  # self-attention layers with an MoE FFN
    cross_dense: Num = 0  # an encoder-decoder's decoder layers (with cross-attention)
    cross_moe: Num = 0
    first: Flag = True
    last: Flag = True

    @property
    def layers(self) -> Num:
        return self.dense + self.moe + self.cross_dense + self.cross_moe


def _moe_before(model: ModelSpec, n: Num) -> Num:
    """`ModelSpec.moe_layers_before`, array-safe: MoE layers among the first n layers of a stack."""
    if not model.is_moe:
        return 0
    f, start = model.moe_layer_freq, model.first_k_dense
    return maximum((n + f - 1) // f - (start + f - 1) // f, 0) * (n > start)


def layer_range(model: ModelSpec, start: Num, end: Num, *, first: Flag, last: Flag) -> StageStack:
    """The stage holding layers [start, end) of the whole stack (encoder layers first, then the decoder's,
    Megatron-LM's order)."""
    n_enc = model.n_layers
    enc_start, enc_end = minimum(start, n_enc), minimum(end, n_enc)
    if model.n_decoder_layers:
        dec_start, dec_end = maximum(start - n_enc, 0), maximum(end - n_enc, 0)
        dec_moe = _moe_before(model, dec_end) - _moe_before(model, dec_start)
        cross_dense, cross_moe = dec_end - dec_start - dec_moe, dec_moe
    else:
        cross_dense, cross_moe = 0, 0
    moe = _moe_before(model, enc_end) - _moe_before(model, enc_start)
    return StageStack(
        dense=enc_end - enc_start - moe,
        moe=moe,
        cross_dense=cross_dense,
        cross_moe=cross_moe,
        first=first,
        last=last,
    )


def even_stage(model: ModelSpec, *, pp: Num, rank: Num) -> StageStack:
    """Stage `rank` of `pp` equal stages (array-safe in pp and rank)."""
    per_stage = model.total_layers // pp
    return layer_range(model, rank * per_stage, (rank + 1) * per_stage, first=rank == 0, last=rank == pp - 1)


def stages_of(model: ModelSpec, stage_layers: list[int]) -> list[StageStack]:
    """Every stage of an explicit (possibly uneven) partition: `stage_layers[r]` layers on stage r."""
    out, start = [], 0
    for r, n in enumerate(stage_layers):
        out.append(layer_range(model, start, start + n, first=r == 0, last=r == len(stage_layers) - 1))
        start += n
    return out


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
        p: Num = (model.max_seq_len + model.position_offset) * model.d_model
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
                high_precision=True,
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
                high_precision=True,
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
                high_precision=True,
            )
        )
    if model.nsp_head:
        p = nsp_head_params(d_model=model.d_model)
        ops.append(
            gemm_op(
                "nsp_head",
                w,
                (nsp, model.d_model, 2),
                weights=Weights(p, p, "nsp_head"),
                trainable=False,
                high_precision=True,
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


def mtp_ops(model: ModelSpec, w: Work, shape: SampleShape) -> list[Op]:
    """One multi-token-prediction module (DeepSeek-V3 Sec. 2.2), besides its transformer block: the RMSNorms
    of the previous depth's hidden state and of the next token's embedding, the projection of their
    concatenation (2h → h), and the shared output head's logits and loss on its own prediction."""
    proj = linear_params(d_in=2 * model.d_model, d_out=model.d_model, bias=False)
    norms = [replace(norm_op(f"mtp_norm{i}", model, w), param_group="mtp") for i in range(2)]
    head = [op for op in head_ops(model, w, shape) if op.name in ("logits", "cross_entropy")]
    return [
        *norms,
        gemm_op(
            "mtp_proj",
            w,
            (w.tokens, 2 * model.d_model, model.d_model / w.tp),
            weights=Weights(proj, proj / w.tp, "mtp"),
            trainable=False,
        ),
        *(replace(op, name=f"mtp_{op.name}", params=0.0, params_local=0.0, param_group="") for op in head),
    ]


def _kinds(
    model: ModelSpec, stack: StageStack, enc: Work, dec: Work, cross_len: float
) -> list[tuple[Num, tuple[Op, ...]]]:
    out: list[tuple[Num, tuple[Op, ...]]] = []
    mixed = model.is_moe and (model.first_k_dense > 0 or model.moe_layer_freq > 1)
    for moe, count in ((False, stack.dense), (True, stack.moe)):
        if moe == model.is_moe or mixed:
            out.append((count, tuple(layer_ops(model, enc, moe=moe))))
    if model.n_decoder_layers:
        for moe, count in ((False, stack.cross_dense), (True, stack.cross_moe)):
            if moe == model.is_moe or mixed:
                out.append((count, tuple(layer_ops(model, dec, cross_kv_len=cross_len, moe=moe))))
    return out


def stage_ops(
    model: ModelSpec, base: Work, shape: SampleShape, stack: StageStack, causal_fraction: float
) -> StageOps:
    """Everything one GPU of one stage runs for one micro-batch of `base.batch` sequences. The MTP modules
    sit on the last stage (their blocks counted as layers of the main stack's last kind)."""
    enc, dec = layer_works(model, base, shape, causal_fraction)
    layers = _kinds(model, stack, enc, dec, shape.encoder_tokens)
    head_work = dec if model.architecture == "encoder-decoder" else enc
    extras: list[tuple[Flag, tuple[Op, ...]]] = [
        (stack.first, tuple(embedding_ops(model, enc, shape))),
        (stack.last, tuple(head_ops(model, head_work, shape))),
    ]
    if model.mtp_depth:
        last_moe = model.moe_layers_before(model.n_layers) > model.moe_layers_before(model.n_layers - 1)
        block = tuple(
            replace(op, param_group="mtp" if op.param_group else "")
            for op in layer_ops(model, enc, moe=last_moe)
        )
        layers.append((stack.last * model.mtp_depth, block))
        extras.append((stack.last * model.mtp_depth, tuple(mtp_ops(model, enc, shape))))
    return StageOps(layers=tuple(layers), extras=tuple(extras))


def sample_ops(
    model: ModelSpec, shape: SampleShape, *, causal_fraction: float, base: Work | None = None
) -> StageOps:
    """The whole model for one sample on one GPU (no parallelism): every layer, the embedding and the head."""
    w = base or Work(batch=1, q_len=shape.encoder_tokens, kv_len=shape.encoder_tokens)
    w = replace(w, tp=1, cp=1, ep=1, sp=0, pp=1, batch=1)
    return stage_ops(
        model, w, shape, layer_range(model, 0, model.total_layers, first=True, last=True), causal_fraction
    )


__all__ = [
    "SampleShape",
    "StageOps",
    "StageStack",
    "embedding_ops",
    "even_stage",
    "gemm_bytes",
    "head_ops",
    "layer_range",
    "layer_works",
    "sample_ops",
    "stage_ops",
    "stages_of",
]
