"""FLOPs, 2 per multiply-add, per component: forward, backward, recomputation; model vs hardware.

Ref: Kaplan et al. 2020 Sec. 2.1 (per-token forward ≈ 2N + 2·L·s·d_attn); Narayanan et al. 2021 Eq. 3;
Korthikanti et al. 2022 Eq. 7–8 and Appendix A; Chowdhery et al. 2022 (PaLM) App. B. Only matrix
multiplies count towards model and hardware FLOPs, as in all of these; norms are listed apart.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from estimator.specs.model import ModelSpec

Num = Any


def linear_flops(*, tokens: Num, d_in: Num, d_out: Num) -> Num:
    """2·tokens·d_in·d_out: one multiply and one add per weight per token (Scaling Book, "Counting Dots")."""
    return 2 * tokens * d_in * d_out


def attention_matmul_flops(*, q_tokens: Num, kv_tokens: Num, n_heads: Num, d_head: Num, causal_fraction: Num) -> Num:
    """One of the two attention-core matmuls, QKᵀ or softmax·V: 2·q·kv·a·d × the counted fraction.

    `causal_fraction` is 1 to count the whole score matrix (Narayanan et al. 2021; PaLM App. B) or 0.5
    to count only the causal triangle (newer Megatron-LM); it is a counting convention.
    """
    return 2 * q_tokens * kv_tokens * n_heads * d_head * causal_fraction


def norm_flops(*, tokens: Num, d_model: Num, rms: Num) -> Num:
    """Element-wise work of one norm: 5 per element with affine LayerNorm, 4 for RMSNorm, as fvcore's
    `norm_flop_counter` counts them (fvcore/nn/jit_handles.py). Not part of model FLOPs."""
    return tokens * d_model * (5 - rms)


def training_flops_6nd(*, params: Num, tokens: Num) -> Num:
    """6·N·D (Kaplan et al. 2020 Sec. 2.1; GPT-3 App. D). A cross-check, not the estimator's count."""
    return 6 * params * tokens


def megatron_flops_eq3(*, batch: Num, seq_len: Num, n_layers: Num, d_model: Num, vocab_size: Num) -> Num:
    """F = 96·B·s·l·h²·(1 + s/(6h) + V/(16·l·h)) per iteration with full recompute (Narayanan et al. 2021, Eq. 3)."""
    h = d_model
    return 96 * batch * seq_len * n_layers * h**2 * (1 + seq_len / (6 * h) + vocab_size / (16 * n_layers * h))


def korthikanti_model_flops_eq7(*, batch: Num, seq_len: Num, n_layers: Num, d_model: Num, vocab_size: Num) -> Num:
    """Model FLOPs 72·B·L·s·h²·(1 + s/(6h) + V/(12·h·L)) (Korthikanti et al. 2022, Eq. 7)."""
    h = d_model
    return 72 * batch * n_layers * seq_len * h**2 * (1 + seq_len / (6 * h) + vocab_size / (12 * h * n_layers))


def korthikanti_selective_flops_eq8(*, batch: Num, seq_len: Num, n_layers: Num, d_model: Num, vocab_size: Num) -> Num:
    """Hardware FLOPs with selective recompute, 72·B·L·s·h²·(1 + s/(3h) + V/(12·h·L)) (Eq. 8).

    Eq. 8 adds s/(6h), i.e. three times the attention core's forward FLOPs; one recomputed forward
    adds only s/(18h). The estimator counts the one forward it actually recomputes.
    """
    h = d_model
    return 72 * batch * n_layers * seq_len * h**2 * (1 + seq_len / (3 * h) + vocab_size / (12 * h * n_layers))


@dataclass(frozen=True)
class ForwardFlops:
    """Forward FLOPs of one sequence (one sample), by component. `norms` are not matmuls."""

    qkv_proj: float
    attn_scores: float
    attn_values: float
    out_proj: float
    ffn: float
    router: float
    logits: float
    heads: float  # BERT MLM transform, pooler, NSP classifier
    norms: float

    @property
    def attention_core(self) -> float:
        return self.attn_scores + self.attn_values

    @property
    def layers(self) -> float:
        """Matmul FLOPs inside the transformer layers (what full recomputation repeats)."""
        return self.qkv_proj + self.attn_scores + self.attn_values + self.out_proj + self.ffn + self.router

    @property
    def matmul(self) -> float:
        return self.layers + self.logits + self.heads

    def as_dict(self) -> dict[str, float]:
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "matmul": self.matmul}


@dataclass(frozen=True)
class SequenceShape:
    """Token counts of one training sample.

    `logit_positions`: positions whose vocabulary logits are computed. `causal_fraction`: the counted
    fraction of causal score matrices (encoder self-attention and cross-attention are never causal).
    """

    encoder_tokens: int  # the decoder-only model's tokens; the encoder's input for enc-dec
    decoder_tokens: int  # 0 unless encoder-decoder
    logit_positions: float
    causal_fraction: float
    sequences_with_nsp: float = 0.0


def self_layer_flops(model: ModelSpec, tokens: float, frac: float) -> dict[str, float]:
    """Forward FLOPs of one layer's self-attention and FFN (or MoE) over `tokens` tokens of one sequence."""
    m = model
    q_dim, kv_dim = m.n_heads * m.d_head, m.n_kv_heads * m.d_head
    d_ff = m.d_ff_expert if m.is_moe else m.d_ff
    n_ffn = (m.top_k + m.n_shared_experts) if m.is_moe else 1
    return dict(
        qkv_proj=linear_flops(tokens=tokens, d_in=m.d_model, d_out=q_dim + 2 * kv_dim),
        attn_scores=attention_matmul_flops(q_tokens=tokens, kv_tokens=tokens, n_heads=m.n_heads, d_head=m.d_head, causal_fraction=frac),
        attn_values=attention_matmul_flops(q_tokens=tokens, kv_tokens=tokens, n_heads=m.n_heads, d_head=m.d_head, causal_fraction=frac),
        out_proj=linear_flops(tokens=tokens, d_in=q_dim, d_out=m.d_model),
        ffn=n_ffn * (2 + m.gated_ffn) * linear_flops(tokens=tokens, d_in=m.d_model, d_out=d_ff),
        router=linear_flops(tokens=tokens, d_in=m.d_model, d_out=m.n_experts) if m.is_moe else 0.0,
        norms=2 * norm_flops(tokens=tokens, d_model=m.d_model, rms=m.norm == "rmsnorm"),
    )


def cross_attention_flops(model: ModelSpec, dec_tokens: float, enc_tokens: float) -> dict[str, float]:
    """Cross-attention of one decoder layer: Q from decoder tokens, K and V from every encoder token."""
    m = model
    q_dim, kv_dim = m.n_heads * m.d_head, m.n_kv_heads * m.d_head
    core = attention_matmul_flops(q_tokens=dec_tokens, kv_tokens=enc_tokens, n_heads=m.n_heads, d_head=m.d_head, causal_fraction=1.0)
    return dict(
        qkv_proj=linear_flops(tokens=dec_tokens, d_in=m.d_model, d_out=q_dim) + linear_flops(tokens=enc_tokens, d_in=m.d_model, d_out=2 * kv_dim),
        attn_scores=core, attn_values=core, out_proj=linear_flops(tokens=dec_tokens, d_in=q_dim, d_out=m.d_model),
        ffn=0.0, router=0.0, norms=norm_flops(tokens=dec_tokens, d_model=m.d_model, rms=m.norm == "rmsnorm"),
    )


def forward_flops(model: ModelSpec, shape: SequenceShape) -> ForwardFlops:
    """Forward FLOPs of one sample through the whole model."""
    m = model
    totals = dict.fromkeys(("qkv_proj", "attn_scores", "attn_values", "out_proj", "ffn", "router", "norms"), 0.0)
    if m.architecture == "encoder-decoder":
        parts = [(m.n_layers, self_layer_flops(m, shape.encoder_tokens, 1.0)),
                 (m.n_decoder_layers, self_layer_flops(m, shape.decoder_tokens, shape.causal_fraction)),
                 (m.n_decoder_layers, cross_attention_flops(m, shape.decoder_tokens, shape.encoder_tokens))]
    else:
        frac = shape.causal_fraction if m.architecture == "decoder" else 1.0
        parts = [(m.n_layers, self_layer_flops(m, shape.encoder_tokens, frac))]
    for count, layer in parts:
        for key, value in layer.items():
            totals[key] += count * value
    heads = 0.0
    if m.output_head == "mlm":  # dense h×h transform on the predicted positions
        heads += linear_flops(tokens=shape.logit_positions, d_in=m.d_model, d_out=m.d_model)
    if m.pooler or m.nsp_head:
        heads += shape.sequences_with_nsp * (linear_flops(tokens=1, d_in=m.d_model, d_out=m.d_model) * m.pooler
                                             + linear_flops(tokens=1, d_in=m.d_model, d_out=2) * m.nsp_head)
    logits = linear_flops(tokens=shape.logit_positions, d_in=m.d_model, d_out=m.vocab_size) if m.output_head != "none" else 0.0
    return ForwardFlops(logits=float(logits), heads=float(heads), **{k: float(v) for k, v in totals.items()})


def matmul_sum(layer: dict[str, float]) -> float:
    """The matmul FLOPs of a per-layer breakdown (everything but its norms)."""
    return float(sum(v for k, v in layer.items() if k != "norms"))


def t5_span_corruption_lengths(inputs_length: int, noise_density: float, mean_span: float) -> tuple[int, int]:
    """Raw tokens and target length for T5 span corruption so that the input is `inputs_length` long.

    Ref: Raffel et al. 2020 Sec. 3.1.4; the `random_spans_helper` of the T5 code (each noise span becomes
    one sentinel in the input and one in the target, plus one EOS each). 512, 0.15, 3 → (568, 114).
    T5's helper steps one raw token at a time; the input length it tracks is non-decreasing in the raw
    length (each extra token adds 0 or 1 input tokens), so a bisection finds the same largest raw length.
    """
    def lengths(tokens: int) -> tuple[int, int]:
        noise = int(round(tokens * noise_density))
        spans = int(round(noise / mean_span))
        return tokens - noise + spans + 1, noise + spans + 1

    lo = inputs_length - 1  # lengths(lo)[0] <= inputs_length always holds
    hi = lo + 1
    while lengths(hi)[0] <= inputs_length:  # doubling: about log2(1 / (1 − density)) steps
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if lengths(mid)[0] <= inputs_length else (lo, mid)
    return lo, lengths(lo)[1]


@dataclass(frozen=True)
class StepFlops:
    """FLOPs of one optimizer step (the whole global batch, all GPUs)."""

    forward: float  # matmul FLOPs of one forward pass over the global batch
    backward: float  # 2 × forward (gradients w.r.t. inputs and weights)
    recompute: float  # forward work repeated by activation recomputation
    norms: float  # element-wise norm work, forward only, outside the model-FLOPs convention

    @property
    def model(self) -> float:
        """Model FLOPs (PaLM App. B): forward + backward, no recomputation."""
        return self.forward + self.backward

    @property
    def hardware(self) -> float:
        """Hardware FLOPs: model FLOPs plus what recomputation repeats (HFU's numerator)."""
        return self.model + self.recompute


def step_flops(fwd: ForwardFlops, *, sequences: Num, recompute: str, flash: bool = False, frozen_base: bool = False,
               adapter_flops: Num = 0.0) -> StepFlops:
    """Scale one sample's forward FLOPs to a step; backward = 2 × forward for every matmul.

    Recomputation: "full" repeats the forward of every transformer layer (not the logits), as
    Narayanan et al. 2021 Eq. 3 counts it; "selective" repeats the attention core only (QKᵀ, softmax,
    ·V; Korthikanti et al. 2022 Sec. 5). FlashAttention's backward recomputes QKᵀ from the saved Q and K
    (Dao et al. 2022, Alg. 4; torch.utils.flop_counter counts it too), which adds the score matmul
    whatever the policy; with FlashAttention there is no s×s tensor for "selective" to drop, so it
    adds nothing more. With a frozen base (LoRA, QLoRA) the weight matmuls need only their input
    gradient in backward (1× forward, no weight gradient), the attention core still 2×, and the
    `adapter_flops` (forward FLOPs of the adapters per sample) train in full.
    """
    if flash:
        extra = fwd.attn_scores + (fwd.layers if recompute == "full" else 0.0)
    else:
        extra = {"none": 0.0, "selective": fwd.attention_core, "full": fwd.layers}[recompute]
    if frozen_base:
        backward = sequences * (fwd.matmul + fwd.attention_core + 2 * adapter_flops)
        extra = extra + (adapter_flops if recompute == "full" else 0.0)
    else:
        backward = 2 * sequences * fwd.matmul
    return StepFlops(forward=sequences * (fwd.matmul + adapter_flops), backward=backward,
                     recompute=sequences * extra, norms=sequences * fwd.norms)
