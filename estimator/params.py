"""Parameter counts, exact, per component. Formulas are array-safe (ints, floats or numpy arrays).

Ref: Vaswani et al. 2017 (layer anatomy); Narayanan et al. 2021 Eq. 2 (GPT closed form, used as a
cross-check in the tests); the Hugging Face modules of GPT-2, BERT, T5, Llama and Mixtral, whose
`sum(p.numel())` these counts reproduce exactly (tests/test_params.py, tests/calibration).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from typing import Any

from estimator.specs.model import ModelSpec

Num = Any  # int | float | numpy array: the formulas are pure arithmetic


def attention_params(*, d_model: Num, n_heads: Num, n_kv_heads: Num, d_head: Num, bias: Num) -> Num:
    """Q (h·a·d), K and V (h·g·d each), output (a·d·h), plus biases (a·d + 2·g·d + h) if `bias`.

    Ref: Vaswani et al. 2017 Sec. 3.2.2; grouped-query K/V, Ainslie et al. 2023 (arXiv:2305.13245).
    """
    q_dim, kv_dim = n_heads * d_head, n_kv_heads * d_head
    return d_model * q_dim + 2 * d_model * kv_dim + q_dim * d_model + bias * (q_dim + 2 * kv_dim + d_model)


def ffn_params(*, d_model: Num, d_ff: Num, gated: Num, bias: Num) -> Num:
    """2·h·f (+ f + h biases) for GELU/ReLU; 3·h·f (+ 2f + h) for gated SwiGLU/GeGLU.

    Ref: Vaswani et al. 2017 Sec. 3.3; Shazeer 2020, "GLU Variants Improve Transformer" (arXiv:2002.05202).
    """
    return (2 + gated) * d_model * d_ff + bias * ((1 + gated) * d_ff + d_model)


def norm_params(*, d_model: Num, rms: Num, bias: Num) -> Num:
    """LayerNorm: h weights (+ h biases); RMSNorm: h weights (Zhang & Sennrich 2019)."""
    return d_model * (1 + bias * (1 - rms))


def router_params(*, d_model: Num, n_experts: Num) -> Num:
    """MoE router: one h×E linear without bias (Fedus et al. 2021; Mixtral)."""
    return d_model * n_experts


def embedding_params(*, vocab_size: Num, d_model: Num) -> Num:
    """Token embedding table V·h (also the size of an untied output head)."""
    return vocab_size * d_model


def relative_position_params(*, buckets: Num, n_heads: Num) -> Num:
    """T5 relative attention bias: buckets × heads, once per stack (Raffel et al. 2020 Sec. 2.1)."""
    return buckets * n_heads


def pooler_params(*, d_model: Num) -> Num:
    """BERT pooler: dense h×h with bias (Devlin et al. 2019, Sec. 3; HF BertPooler)."""
    return d_model * d_model + d_model


def nsp_head_params(*, d_model: Num) -> Num:
    """BERT next-sentence classifier: h×2 with bias (HF BertOnlyNSPHead)."""
    return 2 * d_model + 2


@dataclass(frozen=True)
class LayerParams:
    """Parameters of one transformer layer, split by how tensor parallelism treats them."""

    attention: float
    ffn: float  # dense FFN (or shared experts)
    experts: float  # routed experts, all of them
    experts_active: float  # routed experts a token uses (top_k)
    router: float
    norms: float
    tp_replicated: float  # norms, router, row-parallel output biases: copied on every tp rank

    @property
    def total(self) -> float:
        return self.attention + self.ffn + self.experts + self.router + self.norms

    @property
    def active(self) -> float:
        return self.attention + self.ffn + self.experts_active + self.router + self.norms


@functools.lru_cache(maxsize=256)
def layer_params(model: ModelSpec, *, cross_attention: bool = False) -> LayerParams:
    """One layer: self-attention (+ cross-attention for enc-dec decoder layers), FFN or MoE, norms."""
    m = model
    attn_one = attention_params(d_model=m.d_model, n_heads=m.n_heads, n_kv_heads=m.n_kv_heads, d_head=m.d_head, bias=m.bias)
    n_attn = 2 if cross_attention else 1
    norm_one = norm_params(d_model=m.d_model, rms=m.norm == "rmsnorm", bias=m.bias)
    norms = (3 if cross_attention else 2) * norm_one
    one_ffn = ffn_params(d_model=m.d_model, d_ff=m.d_ff_expert if m.is_moe else m.d_ff, gated=m.gated_ffn, bias=m.bias)
    if m.is_moe:
        ffn, experts = m.n_shared_experts * one_ffn, m.n_experts * one_ffn
        experts_active, router = m.top_k * one_ffn, router_params(d_model=m.d_model, n_experts=m.n_experts)
    else:
        ffn, experts, experts_active, router = one_ffn, 0, 0, 0
    row_biases = m.bias * m.d_model * (n_attn + (m.n_shared_experts if m.is_moe else 1))
    return LayerParams(
        attention=n_attn * attn_one, ffn=ffn, experts=experts, experts_active=experts_active, router=router,
        norms=norms, tp_replicated=norms + router + row_biases,
    )


@dataclass(frozen=True)
class ParamCounts:
    """Whole-model parameters by component (each counted once, as `sum(p.numel())` counts them)."""

    embedding: float  # token (+ token-type) embeddings and the embedding norm
    position: float  # learned positions or relative-attention biases
    attention: float
    ffn: float
    experts: float
    router: float
    norms: float  # per-layer norms and final norms
    output_head: float  # untied LM head, or the MLM head (transform, norm, bias, untied decoder)
    pooler: float
    nsp_head: float
    experts_active: float

    @property
    def total(self) -> float:
        return (self.embedding + self.position + self.attention + self.ffn + self.experts + self.router
                + self.norms + self.output_head + self.pooler + self.nsp_head)

    @property
    def active(self) -> float:
        """Parameters one token uses: routed experts counted top_k times, not n_experts."""
        return self.total - self.experts + self.experts_active

    @property
    def non_embedding(self) -> float:
        """Kaplan et al. 2020's N: everything but the embedding and position tables."""
        return self.total - self.embedding - self.position

    def as_dict(self) -> dict[str, float]:
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "total": self.total, "active": self.active}


def output_head_params(model: ModelSpec) -> float:
    """The output head: untied LM head V·h; BERT's MLM head (dense h×h, norm, V bias, decoder if untied)."""
    m = model
    untied = 0 if m.tie_embeddings else embedding_params(vocab_size=m.vocab_size, d_model=m.d_model)
    if m.output_head == "lm":
        return float(untied)
    if m.output_head == "mlm":
        transform = m.d_model * m.d_model + m.bias * m.d_model + norm_params(d_model=m.d_model, rms=m.norm == "rmsnorm", bias=m.bias)
        return float(transform + m.bias * m.vocab_size + untied)
    return 0.0


def count_params(model: ModelSpec) -> ParamCounts:
    """All parameters of `model`, by component."""
    m = model
    enc, dec = layer_params(m), layer_params(m, cross_attention=True)
    n_enc, n_dec = m.n_layers, m.n_decoder_layers
    final_norm = norm_params(d_model=m.d_model, rms=m.norm == "rmsnorm", bias=m.bias)
    n_stacks = 2 if m.architecture == "encoder-decoder" else 1
    if m.position == "learned":
        position = m.max_seq_len * m.d_model
    elif m.position == "relative":
        position = n_stacks * relative_position_params(buckets=m.relative_attention_buckets, n_heads=m.n_heads)
    else:
        position = 0
    embedding = (embedding_params(vocab_size=m.vocab_size, d_model=m.d_model) + m.type_vocab_size * m.d_model
                 + (final_norm if m.embedding_norm else 0))

    def both(attr: str) -> float:
        return float(n_enc * getattr(enc, attr) + n_dec * getattr(dec, attr))

    return ParamCounts(
        embedding=float(embedding), position=float(position), attention=both("attention"), ffn=both("ffn"),
        experts=both("experts"), router=both("router"),
        norms=both("norms") + (n_stacks * final_norm if m.final_norm else 0),
        output_head=output_head_params(m), pooler=float(pooler_params(d_model=m.d_model) if m.pooler else 0),
        nsp_head=float(nsp_head_params(d_model=m.d_model) if m.nsp_head else 0), experts_active=both("experts_active"),
    )


def megatron_params_eq2(*, n_layers: Num, d_model: Num, vocab_size: Num, seq_len: Num) -> Num:
    """Closed form N = 12·l·h²·(1 + 13/(12h) + (V+s)/(12·l·h)) (Narayanan et al. 2021, Eq. 2). Cross-check only."""
    h, n = d_model, n_layers
    return 12 * n * h**2 * (1 + 13 / (12 * h) + (vocab_size + seq_len) / (12 * n * h))
