"""Decoding calibrated against Hugging Face `generate` on the CPU: FLOPs per generated token (greedy,
sampling, beam search) by FlopCounterMode, and the KV cache the generation leaves behind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from estimator.calibration.reference import ReferenceCase, hf_config, import_transformers
from estimator.flops import attention_matmul_flops, linear_flops, matmul_sum, self_layer_flops
from estimator.kvcache import kv_cache_bytes


@dataclass(frozen=True)
class GenerateRun:
    prompt_tokens: int
    new_tokens: int
    batch: int
    beams: int
    do_sample: bool


def generation_flops(case: ReferenceCase, run: GenerateRun) -> float:
    """Analytic matmul FLOPs of `generate` with a KV cache (decoder-only models).

    Prefill: the prompt of every hypothesis (generate copies the input k times for beam search), logits
    of its last position only. Then new_tokens − 1 decode steps, step j reading a context of p + j
    tokens. Beam bookkeeping (log-softmax, top-k, reordering the cache) has no matmuls.
    """
    m = case.model
    seqs = run.batch * run.beams
    prefill = m.n_layers * matmul_sum(self_layer_flops(m, run.prompt_tokens, 1.0))
    logits = linear_flops(tokens=1, d_in=m.d_model, d_out=m.vocab_size)
    linear_one = m.n_layers * (matmul_sum(self_layer_flops(m, 1, 1.0))
                               - 2 * attention_matmul_flops(q_tokens=1, kv_tokens=1, n_heads=m.n_heads, d_head=m.d_head,
                                                            causal_fraction=1.0))
    decode = 0.0
    for j in range(1, run.new_tokens):
        attention = 2 * attention_matmul_flops(q_tokens=1, kv_tokens=run.prompt_tokens + j, n_heads=m.n_heads,
                                               d_head=m.d_head, causal_fraction=1.0)
        decode += linear_one + m.n_layers * attention + logits
    return float(seqs * (prefill + logits + decode))


def generation_kv_bytes(case: ReferenceCase, run: GenerateRun, bytes_per_element: int = 4) -> float:
    """KV cache after generation: every layer, every hypothesis, p + n − 1 tokens (the last token is
    sampled but never fed back)."""
    m = case.model
    return float(kv_cache_bytes(n_layers=m.n_layers, n_kv_heads=m.n_kv_heads, d_head=m.d_head,
                                context_tokens=run.prompt_tokens + run.new_tokens - 1, batch_size=run.batch * run.beams,
                                bytes_per_element=bytes_per_element))


def measure_generate(case: ReferenceCase, run: GenerateRun) -> tuple[float, float]:
    """(FLOPs counted by FlopCounterMode, bytes of the returned KV cache) of one real `generate` call."""
    tf = import_transformers()
    cls = {"gpt2": tf.GPT2LMHeadModel, "llama": tf.LlamaForCausalLM, "mixtral": tf.MixtralForCausalLM}[case.family]
    torch.manual_seed(0)
    model = cls(hf_config(case, "eager")).eval()
    ids = torch.randint(0, case.model.vocab_size, (run.batch, run.prompt_tokens))
    counter = FlopCounterMode(display=False)
    kwargs: dict[str, Any] = dict(max_new_tokens=run.new_tokens, min_new_tokens=run.new_tokens, num_beams=run.beams,
                                  do_sample=run.do_sample, use_cache=True, return_dict_in_generate=True,
                                  pad_token_id=0, eos_token_id=None)
    if run.beams > 1:
        kwargs["early_stopping"] = False
    with torch.no_grad(), counter:
        out = model.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)
    cache = out.past_key_values
    kv = sum(layer.keys.numel() * layer.keys.element_size() + layer.values.numel() * layer.values.element_size()
             for layer in cache.layers)
    return float(counter.get_total_flops()), float(kv)
