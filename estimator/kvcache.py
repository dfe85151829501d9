"""KV cache and serving-memory formulas."""

from __future__ import annotations

from typing import TYPE_CHECKING

from estimator.num import Num

if TYPE_CHECKING:
    from estimator.specs.model import ModelSpec


def kv_cache_bytes(
    *,
    n_layers: Num,
    n_kv_heads: Num,
    d_head: Num,
    context_tokens: Num,
    batch_size: Num,
    bytes_per_element: Num,
) -> Num:
    """Bytes of K and V kept for `context_tokens` tokens of each of `batch_size` sequences.

    2 · L · K · H · T · B · bytes (the 2 is one K and one V per head).
    Ref: Scaling Book, "All the Transformer Math", KV caching; Pope et al. 2022, arXiv:2211.05102.
    """
    return 2 * n_layers * n_kv_heads * d_head * context_tokens * batch_size * bytes_per_element


def experts_touched(*, n_experts: Num, top_k: Num, tokens: Num) -> Num:
    """Expected distinct experts a layer reads for `tokens` tokens routed uniformly to top_k of n_experts:
    E·(1 − (1 − k/E)^tokens) (each expert missed by every token independently)."""
    return n_experts * (1 - (1 - top_k / n_experts) ** tokens)


def cache_elements_per_token(model: ModelSpec, *, tp: Num = 1) -> Num:
    """Cached elements per token per layer on one GPU: K and V of the local heads, 2·g·d/t (Pope et al. 2022),
    or multi-head latent attention's compressed latent and decoupled rope key, r_kv + d_rope, which every
    tensor-parallel rank keeps whole (DeepSeek-V2 Sec. 2.1.2: the absorbed form attends in the latent)."""
    if model.is_mla:
        return (model.kv_lora_rank or 0) + (model.qk_rope_head_dim or 0)
    return 2 * model.n_kv_heads * model.d_head / tp


def kv_bytes_per_token(model: ModelSpec, *, bytes_per_element: Num, tp: Num = 1) -> Num:
    """KV-cache bytes of one token over every decoder layer (self-attention; one GPU of tp)."""
    layers = model.n_decoder_layers or model.n_layers
    return layers * cache_elements_per_token(model, tp=tp) * bytes_per_element
