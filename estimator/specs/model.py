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
        return self

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 1

    @property
    def gated_ffn(self) -> bool:
        return self.ffn in GATED_FFNS

    @property
    def total_layers(self) -> int:
        """Encoder plus decoder layers (the layers a pipeline splits)."""
        return self.n_layers + self.n_decoder_layers
