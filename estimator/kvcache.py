"""KV cache and serving-memory formulas."""

from __future__ import annotations

from estimator.num import Num


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
