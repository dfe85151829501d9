"""Serving one request shape: prefill (time to first token), decode (time per output token), memory,
the largest batch and context that fit. Same roofline, efficiencies and links as training.

Decode (Pope et al. 2022, "Efficiently Scaling Transformer Inference", Sec. 2): every step reads all
weights a token touches (÷ tp) and the batch's KV cache, and computes 2·N_active FLOPs per sequence;
at small batch it is bound by HBM bandwidth. Prefill is the forward pass of training's layer model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from estimator.comms import collective_time_s, intra_node
from estimator.flops import attention_matmul_flops, linear_flops
from estimator.kvcache import experts_touched, kv_cache_bytes
from estimator.layer_time import LayerJob, Layout, layer_time
from estimator.params import count_params, layer_params
from estimator.roofline import Efficiencies, efficiency_defaults, resolve_efficiencies
from estimator.specs.inference import InferenceScenario

Num = Any
KERNELS_PER_LAYER = 10  # norms, QKV, RoPE, attention, output, residuals, FFN: launches a decode step pays


def efficiencies(sc: InferenceScenario) -> Efficiencies:
    return resolve_efficiencies(sc.hardware, sc.precision)


def _layout(sc: InferenceScenario, batch: Num) -> Layout:
    return Layout(tp=sc.parallelism.tp, cp=1, ep=1, dp=1, micro_batch=batch, sp=0, gpus_per_node=sc.hardware.gpus_per_node)


def prefill_time_s(sc: InferenceScenario, *, prompt_tokens: float, batch: int, eff: Efficiencies | None = None) -> float:
    """Time to first token: one forward over the prompts (causal, FlashAttention skipping masked blocks when
    on), through the pp stages one after another, then the logits of the last position."""
    eff = eff or efficiencies(sc)
    m = sc.model
    frac = 0.5 if sc.flash_attention else 1.0
    lay = _layout(sc, batch)
    if m.architecture == "encoder-decoder":
        enc = layer_time(m, lay, eff, LayerJob(prompt_tokens, 1.0, sc.flash_attention, sc.act_bytes))
        dec = layer_time(m, lay, eff, LayerJob(1, frac, sc.flash_attention, sc.act_bytes, cross_kv_len=prompt_tokens))
        layers = m.n_layers * _forward(enc) + m.n_decoder_layers * _forward(dec)
    else:
        layer = layer_time(m, lay, eff, LayerJob(prompt_tokens, frac, sc.flash_attention, sc.act_bytes))
        layers = m.n_layers * _forward(layer)
    return float(layers + _logits_step_s(sc, eff, batch))


def _forward(lt: Any) -> Num:
    return lt.gemm_fwd + lt.attention_fwd + lt.elementwise_fwd + lt.tp_comm_fwd


def _logits_step_s(sc: InferenceScenario, eff: Efficiencies, sequences: Num) -> Num:
    """The LM head for one position per sequence: reads the V×h/tp weight, computes 2·h·V/tp per sequence."""
    m, t = sc.model, sc.parallelism.tp
    flops = linear_flops(tokens=sequences, d_in=m.d_model, d_out=m.vocab_size / t)
    return eff.gemm_time_s(flops, sc.weight_bytes * m.d_model * m.vocab_size / t + sc.act_bytes * sequences * m.vocab_size / t)


@dataclass(frozen=True)
class DecodeStep:
    """One decode step for `sequences` sequences at `context` tokens each, on one replica."""

    weights_s: Num
    kv_s: Num
    tp_comm_s: Num
    overhead_s: Num
    logits_s: Num

    @property
    def total(self) -> Num:
        return self.weights_s + self.kv_s + self.tp_comm_s + self.overhead_s + self.logits_s


def decode_step(sc: InferenceScenario, *, sequences: Num, context: Num, eff: Efficiencies | None = None) -> DecodeStep:
    """Roofline of one decode step: weight GEMMs (memory-bound at small batch), attention over the KV
    cache, two tensor-parallel all-reduces per layer, kernel launches, and the LM head."""
    eff = eff or efficiencies(sc)
    m, t = sc.model, sc.parallelism.tp
    layers = m.n_decoder_layers or m.n_layers
    lp = layer_params(m, cross_attention=m.architecture == "encoder-decoder")
    expert_one = lp.experts / m.n_experts if m.is_moe else 0.0
    touched = experts_touched(n_experts=m.n_experts, top_k=m.top_k, tokens=sequences) if m.is_moe else 0.0
    read = (lp.total - lp.experts + touched * expert_one) / t  # weights one step touches, per GPU
    flops = 2 * sequences * (lp.active) / t
    weights = eff.gemm_time_s(flops, sc.weight_bytes * read + 2 * sc.act_bytes * sequences * m.d_model)
    kv = kv_cache_bytes(n_layers=1, n_kv_heads=m.n_kv_heads / t, d_head=m.d_head, context_tokens=context,
                        batch_size=sequences, bytes_per_element=sc.kv_bytes)
    att_flops = 2 * attention_matmul_flops(q_tokens=sequences, kv_tokens=context, n_heads=m.n_heads / t, d_head=m.d_head,
                                           causal_fraction=1.0)
    attention = eff.attention_time_s(att_flops, kv)
    inside = intra_node(stride=1, size=t, gpus_per_node=sc.hardware.gpus_per_node)
    alpha, beta = eff.link(inside)
    comm = 2 * collective_time_s(collective="all_reduce", n=t, payload_bytes=sc.act_bytes * sequences * m.d_model,
                                 alpha_s=alpha, bandwidth_bytes_per_s=beta)
    tau = float(efficiency_defaults()["kernel_overhead_s"]["value"])
    return DecodeStep(weights_s=layers * weights, kv_s=layers * attention, tp_comm_s=layers * comm,
                      overhead_s=layers * KERNELS_PER_LAYER * tau, logits_s=_logits_step_s(sc, eff, sequences))


@dataclass(frozen=True)
class ServingMemory:
    """Bytes per GPU of one replica (pipeline stages share the layers evenly); `capacity` is the share of
    the GPU's memory the engine may use (`memory_utilisation`)."""

    weights: float
    kv_cache: float
    activations: float
    other: float
    capacity: float

    @property
    def total(self) -> float:
        return self.weights + self.kv_cache + self.activations + self.other

    @property
    def fits(self) -> bool:
        return self.total <= self.capacity


def kv_bytes_per_sequence(sc: InferenceScenario, context: float) -> float:
    """KV bytes of one sequence on one GPU: decoder self-attention over `context` tokens, plus an
    encoder-decoder's cross-attention K/V over the prompt."""
    m, p = sc.model, sc.parallelism
    layers = (m.n_decoder_layers or m.n_layers) / p.pp
    self_kv = kv_cache_bytes(n_layers=layers, n_kv_heads=m.n_kv_heads / p.tp, d_head=m.d_head, context_tokens=context,
                             batch_size=1, bytes_per_element=sc.kv_bytes)
    if m.architecture == "encoder-decoder":
        prompt = sc.inference.prompt_tokens.high
        self_kv += kv_cache_bytes(n_layers=layers, n_kv_heads=m.n_kv_heads / p.tp, d_head=m.d_head,
                                  context_tokens=prompt, batch_size=1, bytes_per_element=sc.kv_bytes)
    return float(self_kv)


def activation_bytes_per_sequence(sc: InferenceScenario, prompt: float) -> float:
    """Peak temporaries of a prefill, per sequence: one layer's hidden states, FFN inner and attention
    outputs in flight (no s×s matrix with FlashAttention), and the fp32 logits of the last position."""
    m, t = sc.model, sc.parallelism.tp
    per_token = 4 * m.d_model + 2 * (m.d_ff_expert if m.is_moe else m.d_ff) / t + 3 * m.n_heads * m.d_head / t
    scores = 0.0 if sc.flash_attention else m.n_heads / t * prompt
    return float(sc.act_bytes * prompt * (per_token + scores) + 4 * m.vocab_size / t)


def serving_memory(sc: InferenceScenario, *, batch: int, context: float, prompt: float) -> ServingMemory:
    """Weights (even split over tp·pp), the batch's KV cache at `context` tokens, and the temporaries of
    one request's prefill at a time (continuous batching admits requests one by one)."""
    p = sc.parallelism
    weights = count_params(sc.model).total * sc.weight_bytes / (p.tp * p.pp)
    sequences = batch * sc.inference.hypotheses
    return ServingMemory(weights=float(weights), kv_cache=sequences * kv_bytes_per_sequence(sc, context),
                         activations=sc.inference.hypotheses * activation_bytes_per_sequence(sc, prompt),
                         other=sc.framework_overhead_bytes, capacity=sc.hardware.memory_bytes * sc.memory_utilisation)


def max_batch(sc: InferenceScenario, *, context: float, prompt: float) -> int:
    """Largest batch (requests) whose KV cache fits beside the weights and one prefill; 0 if none does."""
    base = serving_memory(sc, batch=0, context=context, prompt=prompt)
    per_request = sc.inference.hypotheses * kv_bytes_per_sequence(sc, context)
    free = base.capacity - base.total
    return max(int(free // per_request), 0) if per_request > 0 else 0


def max_context(sc: InferenceScenario, *, batch: int, prompt: float) -> int:
    """Longest context (prompt + output tokens) that fits at `batch` requests."""
    mem = serving_memory(sc, batch=batch, context=0.0, prompt=prompt)
    per_token = batch * sc.inference.hypotheses * kv_bytes_per_sequence(sc, 1.0)
    return max(int((mem.capacity - mem.total) // per_token), 0) if per_token > 0 else 0
