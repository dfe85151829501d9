"""Parameter counts, exact, per component. Formulas are array-safe (ints, floats or numpy arrays).

Ref: Vaswani et al. 2017 (layer anatomy); Narayanan et al. 2021 Eq. 2 (GPT closed form, used as a
cross-check in the tests); the Hugging Face modules of GPT-2, BERT, T5, Llama and Mixtral, whose
`sum(p.numel())` these counts reproduce exactly (tests/test_params.py, tests/calibration).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields

from estimator.num import Num
from estimator.specs.model import ModelSpec


def linear_params(*, d_in: Num, d_out: Num, bias: Num) -> Num:
    """A d_in × d_out weight (+ d_out biases if `bias`): one GEMM's parameters (nn.Linear)."""
    return d_in * d_out + bias * d_out


def attention_params(*, d_model: Num, n_heads: Num, n_kv_heads: Num, d_head: Num, bias: Num) -> Num:
    """Q (h·a·d), K and V (h·g·d each), output (a·d·h), plus biases (a·d + 2·g·d + h) if `bias`.

    Ref: Vaswani et al. 2017 Sec. 3.2.2; grouped-query K/V, Ainslie et al. 2023 (arXiv:2305.13245).
    """
    q_dim, kv_dim = n_heads * d_head, n_kv_heads * d_head
    return linear_params(d_in=d_model, d_out=q_dim + 2 * kv_dim, bias=bias) + linear_params(
        d_in=q_dim, d_out=d_model, bias=bias
    )


def ffn_params(*, d_model: Num, d_ff: Num, gated: Num, bias: Num) -> Num:
    """2·h·f (+ f + h biases) for GELU/ReLU; 3·h·f (+ 2f + h) for gated SwiGLU/GeGLU.

    Ref: Vaswani et al. 2017 Sec. 3.3; Shazeer 2020, "GLU Variants Improve Transformer" (arXiv:2002.05202).
    """
    return linear_params(d_in=d_model, d_out=(1 + gated) * d_ff, bias=bias) + linear_params(
        d_in=d_ff, d_out=d_model, bias=bias
    )


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
class ParamCounts:
    """Whole-model parameters by group (each counted once, as `sum(p.numel())` counts them)."""

    embedding: float  # token (+ token-type) embeddings and the embedding norm
    position: float  # learned positions or relative-attention biases
    attention: float
    ffn: float  # dense FFNs and shared experts
    experts: float  # routed experts, all of them
    router: float
    norms: float  # per-layer norms and final norms
    output_head: float  # untied LM head, or the MLM head (transform, norm, bias, untied decoder)
    pooler: float
    nsp_head: float
    experts_active: float  # routed experts one token uses (top_k of them)
    mtp: float = 0.0  # multi-token prediction modules: trained, not part of the model that is served

    @property
    def total_with_mtp(self) -> float:
        return self.total + self.mtp

    @property
    def total(self) -> float:
        return (
            self.embedding
            + self.position
            + self.attention
            + self.ffn
            + self.experts
            + self.router
            + self.norms
            + self.output_head
            + self.pooler
            + self.nsp_head
        )

    @property
    def active(self) -> float:
        """Parameters one token uses: routed experts counted top_k times, not n_experts."""
        return self.total - self.experts + self.experts_active

    @property
    def non_embedding(self) -> float:
        """Kaplan et al. 2020's N: everything but the embedding and position tables."""
        return self.total - self.embedding - self.position

    def as_dict(self) -> dict[str, float]:
        return {
            **{f.name: getattr(self, f.name) for f in fields(self)},
            "total": self.total,
            "active": self.active,
        }


@functools.lru_cache(maxsize=256)
def count_params(model: ModelSpec) -> ParamCounts:
    """All parameters of `model`, by group: the sum of the ledger's ops (estimator.ledger), each of which
    owns its weights by the functions above."""
    from estimator.ledger.account import params_by_group
    from estimator.ledger.model import SampleShape, sample_ops

    shape = SampleShape(
        encoder_tokens=1.0, decoder_tokens=1.0 if model.n_decoder_layers else 0.0, logit_positions=1.0
    )
    ledger = sample_ops(model, shape, causal_fraction=1.0)
    groups = params_by_group(ledger)
    active = params_by_group(ledger, active=True)
    names = (
        "embedding",
        "position",
        "attention",
        "ffn",
        "experts",
        "router",
        "norms",
        "output_head",
        "pooler",
        "nsp_head",
        "mtp",
    )
    return ParamCounts(
        **{k: float(groups.get(k, 0.0)) for k in names}, experts_active=float(active.get("experts", 0.0))
    )


def megatron_params_eq2(*, n_layers: Num, d_model: Num, vocab_size: Num, seq_len: Num) -> Num:
    """Closed form N = 12·l·h²·(1 + 13/(12h) + (V+s)/(12·l·h)) (Narayanan et al. 2021, Eq. 2). Cross-check
    only."""
    h, n = d_model, n_layers
    return 12 * n * h**2 * (1 + 13 / (12 * h) + (vocab_size + seq_len) / (12 * n * h))
