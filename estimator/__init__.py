"""Training-cost estimator and capacity planner for Transformer models.

Public API (imported lazily, so that `estimator --help` loads neither numpy nor pydantic)::

    from estimator import load_scenario, scenario_from_dict, estimate_training, estimate_inference

Notation, one meaning per symbol across the package (after the JAX Scaling Book and Narayanan et al. 2021):

    symbol  code name                meaning
    L       n_layers                 transformer layers (encoder and decoder counted apart)
    h       d_model                  hidden size
    a, g    n_heads, n_kv_heads      query heads, key/value heads (g = a: MHA; g < a: GQA; g = 1: MQA)
    d       d_head                   head dimension
    f       d_ff, d_ff_expert        FFN inner width (dense, per expert)
    E, k    n_experts, top_k         routed experts, experts per token
    V       vocab_size               vocabulary
    s       seq_len, q_len, kv_len   sequence length; local query tokens (s/c); attended tokens
    b       micro_batch, batch       sequences per micro-batch
    B       global_batch             sequences per optimizer step
    m       micro_batches            micro-batches per step per pipeline: B / (b·DP)
    t p c e tp, pp, cp, ep           tensor, pipeline, context, expert parallel sizes
    DP      dp                       data-parallel size: GPUs / (t·p·c)
    v       virtual_stages           model chunks per GPU (interleaved schedule)
    N, D    params, tokens           parameters, training tokens

`model` always names a ModelSpec and `work` (a `ledger.Work`) what one GPU computes for one micro-batch.
Quantities are SI with their unit in the name: `_bytes`, `_s`, `_flops`, `_flops_per_s`, `_usd`.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "load_scenario": "estimator.scenario_io",
    "scenario_from_dict": "estimator.scenario_io",
    "load_inference_scenario": "estimator.scenario_io",
    "estimate_training": "estimator.training",
    "estimate_inference": "estimator.serving",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'estimator' has no attribute {name!r}")
