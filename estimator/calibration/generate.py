"""Decoding calibrated against Hugging Face `generate` on the CPU: FLOPs per generated token (greedy,
sampling, beam search) by FlopCounterMode, and the KV cache the generation leaves behind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from estimator.calibration.reference import ReferenceCase, hf_config, import_transformers
from estimator.inference import decode_flops, prefill_flops
from estimator.kvcache import kv_cache_bytes
from estimator.specs.inference import InferenceScenario


@dataclass(frozen=True)
class GenerateRun:
    prompt_tokens: int
    new_tokens: int
    batch: int
    beams: int
    do_sample: bool


def generation_scenario(case: ReferenceCase) -> InferenceScenario:
    """The serving scenario of a reference case: one replica, fp32, eager attention (no fused kernel)."""
    return InferenceScenario.model_validate(
        {
            "name": case.config,
            "model": case.model.model_dump(mode="json"),
            "hardware": "a100-sxm-80gb",
            "precision": "fp32",
            "flash_attention": False,
        }
    )


def generation_flops(case: ReferenceCase, run: GenerateRun) -> float:
    """Matmul FLOPs of `generate` with a KV cache, by the serving estimator's own prefill and decode counts
    (estimator.inference): the prompt of every hypothesis (generate copies it k times for beam search) with
    the logits of its last position, then new_tokens − 1 decode steps, step j attending to p + j tokens.
    Beam bookkeeping (log-softmax, top-k, reordering the cache) has no matmuls."""
    sc = generation_scenario(case)
    seqs = run.batch * run.beams
    prefill = prefill_flops(sc, prompt_tokens=run.prompt_tokens, sequences=seqs)
    decode = sum(
        decode_flops(sc, sequences=seqs, context=run.prompt_tokens + j) for j in range(1, run.new_tokens)
    )
    return float(prefill + decode)


def generation_kv_bytes(case: ReferenceCase, run: GenerateRun, bytes_per_element: int = 4) -> float:
    """KV cache after generation: every layer, every hypothesis, p + n − 1 tokens (the last token is
    sampled but never fed back)."""
    model = case.model
    return float(
        kv_cache_bytes(
            n_layers=model.n_layers,
            n_kv_heads=model.n_kv_heads,
            d_head=model.d_head,
            context_tokens=run.prompt_tokens + run.new_tokens - 1,
            batch_size=run.batch * run.beams,
            bytes_per_element=bytes_per_element,
        )
    )


def measure_generate(case: ReferenceCase, run: GenerateRun) -> tuple[float, float]:
    """(FLOPs counted by FlopCounterMode, bytes of the returned KV cache) of one real `generate` call."""
    tf = import_transformers()
    cls = {"gpt2": tf.GPT2LMHeadModel, "llama": tf.LlamaForCausalLM, "mixtral": tf.MixtralForCausalLM}[
        case.family
    ]
    torch.manual_seed(0)
    model = cls(hf_config(case, "eager")).eval()
    ids = torch.randint(0, case.model.vocab_size, (run.batch, run.prompt_tokens))
    counter = FlopCounterMode(display=False)
    kwargs: dict[str, Any] = dict(
        max_new_tokens=run.new_tokens,
        min_new_tokens=run.new_tokens,
        num_beams=run.beams,
        do_sample=run.do_sample,
        use_cache=True,
        return_dict_in_generate=True,
        pad_token_id=0,
        eos_token_id=None,
    )
    if run.beams > 1:
        kwargs["early_stopping"] = False
    with torch.no_grad(), counter:
        out = model.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)
    cache = out.past_key_values
    kv = sum(
        layer.keys.numel() * layer.keys.element_size() + layer.values.numel() * layer.values.element_size()
        for layer in cache.layers
    )
    return float(counter.get_total_flops()), float(kv)
