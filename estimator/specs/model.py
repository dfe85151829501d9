"""The model spec: the shape of a Transformer (decoder, encoder or encoder-decoder; dense or MoE)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from estimator.specs.base import Frozen

Architecture = Literal["decoder", "encoder", "encoder-decoder"]
FFNKind = Literal["gelu", "relu", "swiglu", "geglu"]
NormKind = Literal["layernorm", "rmsnorm"]
PositionKind = Literal["learned", "sinusoidal", "rope", "alibi", "relative", "none"]
HeadKind = Literal["lm", "mlm", "none"]

GATED_FFNS: frozenset[str] = frozenset({"swiglu", "geglu"})


class ModelSpec(Frozen):
    """A Transformer's architecture. Optional sizes default from the others, as in the papers.

    `n_layers` counts encoder layers for an encoder-decoder (decoder layers in `n_decoder_layers`).
    `d_head` defaults to d_model / n_heads, `n_kv_heads` to n_heads (multi-head attention), `d_ff` to
    4·d_model, and `output_head` to "lm" for decoders and encoder-decoders, "mlm" for encoders.

    Mixture of experts (Fedus et al. 2021; DeepSeek-V3 2024; Qwen3): `n_experts` routed experts of width
    `d_ff_expert`, `top_k` per token; shared experts together `d_ff_shared` wide (default
    n_shared_experts·d_ff_expert, one MLP as in DeepSeek's and Qwen's code); the first `first_k_dense`
    layers keep a dense FFN of width `d_ff` (DeepSeek's first_k_dense_replace) and after them every
    `moe_layer_freq`-th layer is MoE (DeepSeek's moe_layer_freq; 2 for Switch/GShard's every other layer).
    `capacity_factor`: experts pad their input to that multiple of the average share (token dropping beyond
    it; None: dropless). `routed_nodes_limit`: node-limited routing, each token to experts on at most that
    many nodes (DeepSeek-V3's M = 4).

    Multi-head latent attention (DeepSeek-V2, arXiv:2405.04434 Sec. 2.1) when `kv_lora_rank` is set: queries
    through a rank-`q_lora_rank` bottleneck (or a plain projection when it is None), keys and values
    through a shared rank-`kv_lora_rank` latent plus a decoupled RoPE key of `qk_rope_head_dim`; per head
    `qk_nope_head_dim` + `qk_rope_head_dim` for queries and keys, `v_head_dim` for values.
    `mtp_depth`: DeepSeek-V3's multi-token prediction modules (Sec. 2.2), each a projection and one more
    transformer block sharing the embedding and output head.
    """

    name: str = "custom"
    architecture: Architecture = "decoder"
    n_layers: int = Field(gt=0, le=100_000)
    n_decoder_layers: int = Field(default=0, ge=0, le=100_000)
    d_model: int = Field(gt=0, le=10_000_000)
    n_heads: int = Field(gt=0, le=1_000_000)
    n_kv_heads: int = Field(gt=0, le=1_000_000)
    d_head: int = Field(gt=0, le=1_000_000)
    d_ff: int = Field(gt=0, le=100_000_000)
    vocab_size: int = Field(gt=0, le=1_000_000_000)
    max_seq_len: int = Field(gt=0, le=1_000_000_000)
    ffn: FFNKind = "gelu"
    norm: NormKind = "layernorm"
    position: PositionKind = "learned"
    tie_embeddings: bool = True
    bias: bool = True
    n_experts: int = Field(default=1, gt=0, le=1_000_000)
    top_k: int = Field(default=1, gt=0, le=1_000_000)
    n_shared_experts: int = Field(default=0, ge=0, le=1_000_000)
    d_ff_expert: int = Field(gt=0, le=100_000_000)
    output_head: HeadKind
    type_vocab_size: int = Field(default=0, ge=0, le=1_000_000)
    embedding_norm: bool = False
    final_norm: bool = True
    pooler: bool = False
    nsp_head: bool = False
    relative_attention_buckets: int = Field(default=32, gt=0, le=1_000_000)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    ffn_dropout: bool = False  # dropout between the FFN activation and its output projection (T5)
    first_k_dense: int = Field(default=0, ge=0, le=100_000)
    moe_layer_freq: int = Field(default=1, gt=0, le=100_000)
    d_ff_shared: int | None = Field(default=None, gt=0, le=100_000_000)
    capacity_factor: float | None = Field(default=None, ge=1.0, le=64.0)
    routed_nodes_limit: int | None = Field(default=None, gt=0, le=100_000)
    q_lora_rank: int | None = Field(default=None, gt=0, le=10_000_000)
    kv_lora_rank: int | None = Field(default=None, gt=0, le=10_000_000)
    qk_nope_head_dim: int | None = Field(default=None, ge=0, le=1_000_000)
    qk_rope_head_dim: int | None = Field(default=None, ge=0, le=1_000_000)
    v_head_dim: int | None = Field(default=None, gt=0, le=1_000_000)
    mtp_depth: int = Field(default=0, ge=0, le=16)
    qk_norm: bool = False  # an RMSNorm over each head's query and key (Qwen3, OLMo 2): d_head weights each
    norm_bias: bool | None = (
        None  # LayerNorm biases (default: as `bias`; Falcon has them without linear biases)
    )
    position_offset: int = Field(default=0, ge=0, le=1024)  # extra learned position rows (OPT: 2)
    source: str = ""

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        d_model, n_heads = out.get("d_model"), out.get("n_heads")
        if (
            out.get("d_head") is None
            and isinstance(d_model, int)
            and isinstance(n_heads, int)
            and n_heads > 0
        ):
            if d_model % n_heads:
                raise ValueError(
                    f"d_model ({d_model}) is not divisible by n_heads ({n_heads}); give d_head explicitly"
                )
            out["d_head"] = d_model // n_heads
        if out.get("n_kv_heads") is None:
            out["n_kv_heads"] = n_heads
        if out.get("d_ff") is None and isinstance(d_model, int):
            out["d_ff"] = 4 * d_model
        if out.get("d_ff_expert") is None:
            out["d_ff_expert"] = out.get("d_ff")
        if out.get("output_head") is None:
            out["output_head"] = "mlm" if out.get("architecture") == "encoder" else "lm"
        return out

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})")
        if self.top_k > self.n_experts:
            raise ValueError(f"top_k ({self.top_k}) cannot exceed n_experts ({self.n_experts})")
        if self.architecture == "encoder-decoder" and self.n_decoder_layers < 1:
            raise ValueError("n_decoder_layers must be >= 1 for an encoder-decoder model")
        if self.architecture != "encoder-decoder" and self.n_decoder_layers:
            raise ValueError(
                f"n_decoder_layers ({self.n_decoder_layers}) is only for encoder-decoder models; "
                f"a {self.architecture} has n_layers only"
            )
        if self.nsp_head and self.architecture != "encoder":
            raise ValueError("nsp_head (next-sentence prediction) is only for encoder models")
        if self.kv_lora_rank is not None and (
            self.qk_rope_head_dim is None or self.qk_nope_head_dim is None or self.v_head_dim is None
        ):
            raise ValueError(
                "kv_lora_rank (multi-head latent attention) needs qk_nope_head_dim, qk_rope_head_dim "
                "and v_head_dim"
            )
        if self.first_k_dense > self.n_layers + self.n_decoder_layers:
            raise ValueError(f"first_k_dense ({self.first_k_dense}) exceeds the {self.total_layers} layers")
        if self.mtp_depth and self.architecture != "decoder":
            raise ValueError("mtp_depth (multi-token prediction) is only for decoder models")
        return self

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 1

    @property
    def gated_ffn(self) -> bool:
        return self.ffn in GATED_FFNS

    @property
    def is_mla(self) -> bool:
        """Multi-head latent attention (DeepSeek-V2/V3)."""
        return self.kv_lora_rank is not None

    @property
    def qk_head_dim(self) -> int:
        """Per-head width of queries and keys: d_head, or MLA's nope + rope parts."""
        if self.is_mla:
            return (self.qk_nope_head_dim or 0) + (self.qk_rope_head_dim or 0)
        return self.d_head

    @property
    def value_head_dim(self) -> int:
        return self.v_head_dim if (self.is_mla and self.v_head_dim) else self.d_head

    @property
    def shared_ffn_width(self) -> int:
        """Width of the shared experts, together (0 without shared experts)."""
        if not self.is_moe or not self.n_shared_experts:
            return 0
        return self.d_ff_shared or self.n_shared_experts * self.d_ff_expert

    def moe_layers_before(self, n: int) -> int:
        """MoE layers among the first n layers of a stack: indices i ≥ first_k_dense with i % moe_layer_freq
        == 0 (DeepSeek's rule; every layer after the dense ones when the frequency is 1)."""
        if not self.is_moe:
            return 0
        f, start = self.moe_layer_freq, self.first_k_dense
        multiples = (max(n, 0) + f - 1) // f - (start + f - 1) // f
        return max(multiples, 0) if n > start else 0

    @property
    def total_layers(self) -> int:
        """Encoder plus decoder layers (the layers a pipeline splits)."""
        return self.n_layers + self.n_decoder_layers
